package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/faultline/faultline/harness/docker/dockerenv"
	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/nuker"
)

// removeImageAtEnd removes image ref when the test ends.
func removeImageAtEnd(t *testing.T, cli *client.Client, ref string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := cli.ImageRemove(ctx, ref, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil {
			t.Errorf("remove image %s: %v", ref, err)
		}
	})
}

// TestEnsureLocalSoftware builds an image with a local Go main package from
// a module of its own (example.com/...) and two files, runs them in a
// container, and shows the recipe hash at work: a second Ensure with no
// change reuses the image, a one-byte change to the source makes another.
func TestEnsureLocalSoftware(t *testing.T) {
	cli := dockerenv.NeedDocker(t)
	isolateLocalCache(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	progress := func(format string, args ...any) { t.Logf(format, args...) }

	src := copyLocalModule(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "hello.conf")
	if err := os.WriteFile(conf, []byte("greeting = yes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "greet")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho greetings from a file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sw := node.Software{
		Name:  fmt.Sprintf("test-local-%d", os.Getpid()),
		Local: []node.LocalGo{{Name: "hello", Dir: src}},
		Files: []node.File{
			{Src: conf, Dst: "/etc/hello/hello.conf", Mode: 0o600},
			{Src: script, Dst: "/usr/local/bin/greet"}, // 0755 by default under bin
		},
	}
	im := NewImages(cli)
	ref, err := im.Ensure(ctx, sw, progress)
	if err != nil {
		t.Fatal(err)
	}
	removeImageAtEnd(t, cli, ref)

	t0 := time.Now()
	again, err := im.Ensure(ctx, sw, progress)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("second Ensure with no change: %s in %s", again, time.Since(t0).Round(time.Millisecond))
	if again != ref {
		t.Errorf("second Ensure with no change = %s, want %s", again, ref)
	}

	id := startImageTestContainer(t, ctx, cli, ref)
	if out := imageTestExec(t, ctx, cli, id, "hello"); !strings.Contains(out, "hello from a local package") {
		t.Errorf("hello printed %q", out)
	}
	for _, tt := range []struct{ argv, want string }{
		{"stat -c '%a %U' /etc/hello/hello.conf", "600 root"},
		{"cat /etc/hello/hello.conf", "greeting = yes"},
		{"stat -c '%a %U' /usr/local/bin/greet", "755 root"},
		{"greet", "greetings from a file"},
		{"stat -c %a /usr/local/bin/hello", "755"},
	} {
		out := strings.TrimSpace(imageTestExec(t, ctx, cli, id, "sh", "-c", tt.argv))
		t.Logf("%s: %s", tt.argv, out)
		if out != tt.want {
			t.Errorf("%s = %q, want %q", tt.argv, out, tt.want)
		}
	}

	editFile(t, filepath.Join(src, "main.go"), `"hello from`, `"Hello from`)
	changed, err := im.Ensure(ctx, sw, progress)
	if err != nil {
		t.Fatal(err)
	}
	if changed != ref {
		removeImageAtEnd(t, cli, changed)
	}
	t.Logf("after a one-byte change: %s (was %s)", changed, ref)
	if changed == ref {
		t.Fatal("a one-byte change to the source reused the image")
	}
	id = startImageTestContainer(t, ctx, cli, changed)
	if out := imageTestExec(t, ctx, cli, id, "hello"); !strings.Contains(out, "Hello from a local package") {
		t.Errorf("the changed hello printed %q", out)
	}
}

// buildTestImage builds a local image tagged ref from a Dockerfile, as a
// user would with docker build; it is removed when the test ends.
func buildTestImage(t *testing.T, ctx context.Context, cli *client.Client, ref, dockerfile string) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(dockerfile))}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte(dockerfile))
	tw.Close()
	resp, err := cli.ImageBuild(ctx, &buf, build.ImageBuildOptions{Tags: []string{ref}, Remove: true, ForceRemove: true, Version: build.BuilderV1})
	if err != nil {
		t.Fatalf("build %s: %v", ref, err)
	}
	defer resp.Body.Close()
	if err := readEngineStream(resp.Body, nil); err != nil {
		t.Fatalf("build %s: %v", ref, err)
	}
	removeImageAtEnd(t, cli, ref)
}

// TestUserImagePartition runs a cluster of a user's image that lacks
// iptables (and has an entrypoint and a user of its own): partitions still
// work, through each node's tools helper, traffic between the nodes is
// really dropped and restored on heal, the preflight checks iptables and
// the clock where they will run, and teardown removes the helpers.
func TestUserImagePartition(t *testing.T) {
	cli := dockerenv.NeedDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	progress := func(format string, args ...any) { t.Logf(format, args...) }
	base, err := BaseImage(ctx, cli, nil, progress)
	if err != nil {
		t.Fatal(err)
	}
	im := NewImages(cli)

	missing := "faultline-test/missing:none"
	_, err = im.Ensure(ctx, node.Software{Name: "test-missing", Image: missing}, nil)
	want := `image "faultline-test/missing:none" is not on this machine and there is no registry: build it first (docker build -t faultline-test/missing:none …)`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Ensure of a missing image: %v, want %q", err, want)
	}

	user := fmt.Sprintf("faultline-test/noiptables:%d-%d", os.Getpid(), time.Now().UnixNano())
	buildTestImage(t, ctx, cli, user, "FROM "+base+"\n"+
		"RUN rm -f /usr/sbin/*tables* && ! command -v iptables\n"+
		"ENTRYPOINT [\"/bin/false\"]\n"+
		"USER nobody\n")
	_, err = im.Ensure(ctx, node.Software{Name: "test-userimg", Image: user, Packages: []string{"redis-server"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "cannot be added to the user image") {
		t.Errorf("Ensure of a user image with Packages: %v", err)
	}
	ref, err := im.Ensure(ctx, node.Software{Name: fmt.Sprintf("test-userimg-%d", os.Getpid()), Image: user}, progress)
	if err != nil {
		t.Fatal(err)
	}
	removeImageAtEnd(t, cli, ref)
	info, err := cli.ImageInspect(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Config.Labels[LabelToolsImage]; got != base {
		t.Errorf("%s has tools image %q, want %s", ref, got, base)
	}

	runID := fmt.Sprintf("test-userimg-%d", time.Now().UnixNano())
	defer func() {
		if left, err := List(context.Background(), cli, runID); err != nil || len(left) > 0 {
			t.Errorf("left behind: %v %v", left, err)
			_ = Clean(context.Background(), cli, runID)
		}
	}()

	// The preflight checks the mechanisms where they will run.
	p, err := StartPreflight(ctx, cli, runID, ref, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.node().Exec(ctx, "sh", "-c", "command -v iptables"); err == nil {
		t.Error("the preflight container of the user image has iptables")
	}
	if err := p.CheckIptables(ctx); err != nil {
		t.Errorf("preflight iptables through the helper: %v", err)
	}
	if err := p.CheckClock(ctx); err != nil {
		t.Errorf("preflight clock on the user image: %v", err)
	}
	p.Close()

	c, err := StartCluster(ctx, cli, ClusterSpec{RunID: runID, Image: ref, Nodes: 2})
	if err != nil {
		t.Fatal(err)
	}
	removed := false
	defer func() {
		if !removed {
			_ = c.Remove(context.Background())
		}
	}()
	nodes := c.Nodes()
	for _, n := range nodes {
		if _, err := n.Exec(ctx, "sh", "-c", "command -v iptables"); err == nil {
			t.Fatalf("%s has iptables: the test image is wrong", n.Name())
		}
		if out, err := n.Exec(ctx, "id", "-u"); err != nil || strings.TrimSpace(string(out.Stdout)) != "0" {
			t.Errorf("%s: commands run as uid %q (%v), want root", n.Name(), out.Stdout, err)
		}
		if node.ToolsOf(n) == n {
			t.Fatalf("%s has no tools helper", n.Name())
		}
		insp, err := cli.ContainerInspect(ctx, n.(*Node).ContainerID())
		if err != nil {
			t.Fatal(err)
		}
		if len(insp.HostConfig.CapAdd) > 0 {
			t.Errorf("%s has capabilities %v: the helper holds them", n.Name(), insp.HostConfig.CapAdd)
		}
		if err := n.ExecDetached(ctx, "nc", "-lk", "7000"); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range nodes {
		if _, err := n.Exec(ctx, "sh", "-c", "for i in $(seq 50); do ss -ltn | grep -q ':7000 ' && exit 0; sleep 0.1; done; exit 1"); err != nil {
			t.Fatalf("%s: listener did not come up: %v", n.Name(), err)
		}
	}
	left, err := List(ctx, cli, runID)
	if err != nil {
		t.Fatal(err)
	}
	helpers := 0
	for _, l := range left {
		if strings.HasSuffix(l.Name, toolsHelperSuffix) {
			helpers++
		}
	}
	if helpers != 2 {
		t.Errorf("%d tools helpers among %v, want 2", helpers, left)
	}

	reach := func(phase string, want bool) {
		t.Helper()
		for _, pair := range [][2]node.Node{{nodes[0], nodes[1]}, {nodes[1], nodes[0]}} {
			a, b := pair[0], pair[1]
			_, err := a.Exec(ctx, "nc", "-z", "-w", "2", b.Addr().String(), "7000")
			var exit *node.ExitError
			if err != nil && !errors.As(err, &exit) {
				t.Fatal(err)
			}
			t.Logf("%s: %s -> %s connects=%v", phase, a.Name(), b.Name(), err == nil)
			if (err == nil) != want {
				t.Errorf("%s: %s -> %s connects=%v, want %v", phase, a.Name(), b.Name(), err == nil, want)
			}
		}
	}
	reach("before", true)
	if applied, err := nuker.ApplyGrudge(ctx, nodes, nuker.Complete([]string{"n1"}, []string{"n2"})); err != nil || len(applied) != 2 {
		t.Fatalf("ApplyGrudge: %v (applied on %v)", err, applied)
	}
	res, err := node.ToolsOf(nodes[0]).Exec(ctx, "iptables", "-w", "-S", nuker.Chain)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("n1 rules through its helper: %s", strings.Join(strings.Fields(string(res.Stdout)), " "))
	reach("partitioned", false)
	if healed, err := nuker.HealPartition(ctx, nodes); err != nil || len(healed) != 2 {
		t.Fatalf("HealPartition: %v (healed %v)", err, healed)
	}
	reach("healed", true)
	if err := nuker.RemovePartitions(ctx, nodes); err != nil {
		t.Fatal(err)
	}

	removed = true
	if err := c.Remove(ctx); err != nil {
		t.Fatalf("teardown: %v", err)
	}
	left, err = List(ctx, cli, runID)
	if err != nil || len(left) > 0 {
		t.Errorf("after teardown: %v %v", left, err)
	}
}
