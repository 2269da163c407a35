package docker

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/faultline/faultline/harness/docker/dockerenv"
)

// TestDiskHelper mounts the faultline filesystem over a node's directory
// from a helper: the node, without any capability, sees the mount; a power
// failure loses its unsynced file and keeps its synced one; an fsync fault
// fails its fsync until cleared; unmounting leaves the plain directory and
// no container behind.
func TestDiskHelper(t *testing.T) {
	cli := dockerenv.NeedDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := DiskServer(ctx, func(f string, a ...any) { t.Logf(f, a...) }); err != nil {
		t.Fatal(err)
	}
	n, _ := startBaseNode(ctx, t, cli, "disk")
	sh := func(script string) (string, error) {
		res, err := n.Exec(ctx, "sh", "-c", script)
		return strings.TrimSpace(string(res.Stdout)), err
	}
	start := time.Now()
	if err := n.MountDisk(ctx, "/data", false); err != nil {
		t.Fatal(err)
	}
	t.Logf("disk helper started and mounted in %v", time.Since(start).Round(time.Millisecond))
	if out, err := sh("grep -c ' /data fuse.faultline ' /proc/mounts"); err != nil || out != "1" {
		t.Fatalf("node's mounts show the filesystem %q times (%v)", out, err)
	}
	capEff, err := sh("awk '/^CapEff/ {print $2}' /proc/1/status")
	if err != nil {
		t.Fatal(err)
	}
	if caps, err := strconv.ParseUint(capEff, 16, 64); err != nil || caps&(1<<21) != 0 {
		t.Fatalf("node's CapEff %s (%v): it holds CAP_SYS_ADMIN", capEff, err)
	}
	if _, err := sh("printf kept > /data/a && sync /data/a && printf lost > /data/b"); err != nil {
		t.Fatal(err)
	}
	out, err := n.Disk(ctx, "power-fail")
	if err != nil || !strings.Contains(out, "files=1 ") {
		t.Fatalf("power-fail: %q, %v; want files=1", out, err)
	}
	if got, err := sh("cat /data/a; echo /; cat /data/b"); err != nil || got != "kept/" {
		t.Fatalf("after power failure a/b = %q (%v), want kept/ and empty", got, err)
	}
	if _, err := n.Disk(ctx, "eio-fsync on"); err != nil {
		t.Fatal(err)
	}
	if out, err := sh("sync /data/a 2>&1"); err == nil {
		t.Fatalf("fsync under eio-fsync succeeded: %q", out)
	} else if !strings.Contains(out, "Input/output error") {
		t.Errorf("fsync under eio-fsync: %q", out)
	}
	if _, err := n.Disk(ctx, "clear"); err != nil {
		t.Fatal(err)
	}
	if out, err := sh("sync /data/a 2>&1"); err != nil {
		t.Fatalf("fsync after clear: %q, %v", out, err)
	}
	if err := n.UnmountDisk(ctx); err != nil {
		t.Fatal(err)
	}
	if out, _ := sh("grep -c fuse.faultline /proc/mounts"); out != "0" {
		t.Errorf("after unmount the node still has %s faultline mounts", out)
	}
	if got, err := sh("ls -A /data; cat /data.faultline/a"); err != nil || got != "kept" {
		t.Errorf("after unmount: %q, %v; want an empty /data and a in the backing directory", got, err)
	}

	// A directory of the image's layer, which overlayfs will not rename
	// (EXDEV): its tree is copied aside and shows through the mount. A file
	// faultline writes there lands inside the mount, synced: a power
	// failure keeps it.
	const layer = "/var/lib/dpkg"
	if err := n.MountDisk(ctx, layer, false); err != nil {
		t.Fatal(err)
	}
	if err := n.WriteFile(ctx, layer+"/faultline.conf", []byte("conf"), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Disk(ctx, "power-fail"); err != nil {
		t.Fatal(err)
	}
	if got, err := sh("test -s " + layer + "/status && stat -c %a " + layer + "/faultline.conf && cat " + layer + "/faultline.conf"); err != nil || got != "640\nconf" {
		t.Errorf("through the mount over %s: %q, %v; want its status file and faultline.conf 640 \"conf\"", layer, got, err)
	}
	if err := n.UnmountDisk(ctx); err != nil {
		t.Fatal(err)
	}
}

// startBaseNode starts a one-node cluster of faultline's base image for a
// test, run id "test-PREFIX-N" (see startTestNode).
func startBaseNode(ctx context.Context, t *testing.T, cli *client.Client, prefix string) (*Node, string) {
	t.Helper()
	img, err := BaseImage(ctx, cli, nil, func(f string, a ...any) { t.Logf(f, a...) })
	if err != nil {
		t.Fatal(err)
	}
	runID := fmt.Sprintf("test-%s-%d", prefix, time.Now().UnixNano())
	return startTestNode(ctx, t, cli, img, runID), runID
}

// startTestNode starts a one-node cluster of img under runID; when the test
// ends it is removed and nothing of the run may be left.
func startTestNode(ctx context.Context, t *testing.T, cli *client.Client, img, runID string) *Node {
	t.Helper()
	c, err := StartCluster(ctx, cli, ClusterSpec{RunID: runID, Image: img, Nodes: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Remove(context.Background()); err != nil {
			t.Error(err)
		}
		if left, err := List(context.Background(), cli, runID); err != nil || len(left) > 0 {
			t.Errorf("left behind: %v %v", left, err)
		}
	})
	return c.Nodes()[0].(*Node)
}
