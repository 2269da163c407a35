package docker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/harness/docker/dockerenv"
	"github.com/faultline/faultline/harness/node"
)

// procState returns the state letter of pid in /proc/<pid>/stat on n
// (R, S, T for stopped, Z, ...), or "" when the process is gone.
func procState(ctx context.Context, t *testing.T, n node.Node, d node.Daemon) string {
	t.Helper()
	res, err := n.Exec(ctx, "sh", "-c", fmt.Sprintf("awk '{print $3}' /proc/$(cat %s)/stat 2>/dev/null || true", d.PidFile()))
	if err != nil {
		t.Fatalf("read state: %v", err)
	}
	return strings.TrimSpace(string(res.Stdout))
}

// TestClusterNodesAndDaemons starts a 3-node cluster from the base image
// and shows each node primitive the nuker and targets rely on: fixed
// addresses and hostnames that reach each other, exec with exit codes,
// files in and out, and a daemon that is really killed, restarted,
// stopped and continued. Removal leaves nothing behind.
func TestClusterNodesAndDaemons(t *testing.T) {
	cli := dockerenv.NeedDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	img, err := BaseImage(ctx, cli, nil, func(f string, a ...any) { t.Logf(f, a...) })
	if err != nil {
		t.Fatal(err)
	}
	runID := fmt.Sprintf("test-cluster-%d", time.Now().UnixNano())
	c, err := StartCluster(ctx, cli, ClusterSpec{RunID: runID, Image: img, Nodes: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Remove(context.Background()); err != nil {
			t.Error(err)
		}
		left, err := List(context.Background(), cli, runID)
		if err != nil || len(left) > 0 {
			t.Errorf("left behind: %v %v", left, err)
		}
	})
	nodes := c.Nodes()
	if len(nodes) != 3 || nodes[0].Name() != "n1" || nodes[2].Name() != "n3" {
		t.Fatalf("nodes %v", nodes)
	}
	n1, n2 := nodes[0], nodes[1]

	// Hostname, address, and reachability by name.
	res, err := n2.Exec(ctx, "hostname")
	if err != nil || strings.TrimSpace(string(res.Stdout)) != "n2" {
		t.Errorf("hostname of n2: %q %v", res.Stdout, err)
	}
	if _, err := n1.Exec(ctx, "ping", "-c1", "-W2", n2.Addr().String()); err != nil {
		t.Errorf("n1 cannot reach n2 at %s: %v", n2.Addr(), err)
	}
	if _, err := n1.Exec(ctx, "ping", "-c1", "-W2", "n3"); err != nil {
		t.Errorf("n1 cannot reach n3 by name: %v", err)
	}

	// Exit codes become *node.ExitError.
	_, err = n1.Exec(ctx, "sh", "-c", "echo oops >&2; exit 3")
	var ee *node.ExitError
	if !errors.As(err, &ee) || ee.ExitCode != 3 || !strings.Contains(ee.Stderr, "oops") {
		t.Errorf("exit 3: got %v", err)
	}

	// Files in and out.
	if err := n1.WriteFile(ctx, "/etc/faultline/test.conf", []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if err := n1.CopyOut(ctx, "/etc/faultline/test.conf", dst); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "test.conf")); err != nil || string(b) != "hello\n" {
		t.Errorf("copied out %q, %v", b, err)
	}

	// A daemon: start, SIGSTOP (state T), SIGCONT, SIGKILL (gone), restart.
	d := node.Daemon{Name: "sleeper", Argv: []string{"sleep", "1000"}}
	if err := d.Start(ctx, n1); err != nil {
		t.Fatal(err)
	}
	if ok, err := d.Running(ctx, n1); err != nil || !ok {
		t.Fatalf("after start running=%v err=%v", ok, err)
	}
	if err := d.Start(ctx, n1); err == nil {
		t.Error("starting a running daemon twice succeeded")
	}
	if err := d.Signal(ctx, n1, "STOP"); err != nil {
		t.Fatal(err)
	}
	if st := procState(ctx, t, n1, d); st != "T" {
		t.Errorf("after SIGSTOP state %q, want T (stopped)", st)
	}
	if err := d.Signal(ctx, n1, "CONT"); err != nil {
		t.Fatal(err)
	}
	if st := procState(ctx, t, n1, d); st != "S" && st != "R" {
		t.Errorf("after SIGCONT state %q, want S or R", st)
	}
	if err := d.Kill(ctx, n1); err != nil {
		t.Fatal(err)
	}
	if ok, err := d.Running(ctx, n1); err != nil || ok {
		t.Errorf("after kill running=%v err=%v", ok, err)
	}
	if err := d.Start(ctx, n1); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if ok, _ := d.Running(ctx, n1); !ok {
		t.Error("not running after restart")
	}
	logs := t.TempDir()
	if err := n1.CopyOut(ctx, d.LogPath(), logs); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(logs, "sleeper.log"))
	if strings.Count(string(b), "=== faultline: starting sleeper") != 2 {
		t.Errorf("daemon log should show two starts:\n%s", b)
	}
}
