package ssh_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/harness/node"
	fssh "github.com/faultline/faultline/harness/ssh"
	"github.com/faultline/faultline/harness/ssh/sshtest"
	"github.com/faultline/faultline/nuker"
)

func logf(t *testing.T) node.Progress { return func(f string, a ...any) { t.Logf(f, a...) } }

// TestRuntimeLifecycle drives two machines as the sudo user through what a
// run does: install (twice: the second installs nothing), claim, files,
// a daemon, a partition chain, then teardown, which must leave nothing of
// the run behind.
func TestRuntimeLifecycle(t *testing.T) {
	ms := sshtest.Start(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	rt, err := fssh.NewRuntime(ms.Config(sshtest.SudoUser))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	if err := rt.CheckHost(ctx, node.Needs{}, logf(t)); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "hello.conf")
	if err := os.WriteFile(file, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sw := node.Software{Name: "sshtest", Packages: []string{"netcat-openbsd"}, Files: []node.File{{Src: file, Dst: "/etc/sshtest/hello.conf"}},
		Local: []node.LocalGo{{Name: "hello", Dir: "../docker/testdata/localgo"}}}
	var lines []string
	record := func(f string, a ...any) { lines = append(lines, f); t.Logf(f, a...) }
	inst, err := rt.Install(ctx, sw, record)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(inst.Ref, "ssh:sshtest:") {
		t.Errorf("installation ref %q", inst.Ref)
	}
	lines = nil
	if _, err := rt.Install(ctx, sw, record); err != nil {
		t.Fatal(err)
	}
	var other []string
	for _, l := range lines {
		if !strings.Contains(l, "local Go package") { // rebuilt every time, from go's cache
			other = append(other, l)
		}
	}
	if len(other) != 1 || !strings.Contains(other[0], "already installed") {
		t.Errorf("second install printed %q, want only 'already installed'", lines)
	}
	if err := rt.Preflight(ctx, "x", inst, node.Needs{Iptables: true}, logf(t)); err != nil {
		t.Fatalf("preflight: %v", err)
	}

	cl, err := rt.StartCluster(ctx, "run1", inst, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.StartCluster(ctx, "run2", inst, 2); err == nil || !strings.Contains(err.Error(), "in use by run run1") {
		t.Errorf("a second run on claimed machines: %v, want 'in use by run run1'", err)
	}
	nodes := cl.Nodes()
	n1 := nodes[0]
	for _, tool := range []string{"iptables", "ip", "pgrep", "nc", "ping"} {
		if _, err := n1.Exec(ctx, "sh", "-c", "command -v "+tool); err != nil {
			t.Errorf("%s not installed: %v", tool, err)
		}
	}
	res, err := n1.Exec(ctx, "cat", "/etc/sshtest/hello.conf")
	if err != nil || string(res.Stdout) != "hello\n" {
		t.Errorf("installed file: %q %v", res.Stdout, err)
	}
	if res, err := n1.Exec(ctx, "hello"); err != nil || !strings.Contains(string(res.Stdout), "hello from a local package") {
		t.Errorf("local Go package: %q %v", res.Stdout, err)
	}
	var ee *node.ExitError
	if _, err := n1.Exec(ctx, "sh", "-c", "echo oops >&2; exit 7"); !errors.As(err, &ee) || ee.ExitCode != 7 || !strings.Contains(ee.Stderr, "oops") {
		t.Errorf("exit 7: %v", err)
	}
	if err := n1.WriteFile(ctx, "/var/lib/sshtest-data/a/b.txt", []byte("it's data\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if err := n1.CopyOut(ctx, "/var/lib/sshtest-data", dst); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "sshtest-data", "a", "b.txt")); err != nil || string(b) != "it's data\n" {
		t.Errorf("copied out %q %v", b, err)
	}
	d := node.Daemon{Name: "sleeper", Argv: []string{"sh", "-c", "sleep 1000 & sleep 1001"}, Dir: "/srv/sleeper"}
	ds := node.Daemons{System: "sleeper", ByNode: map[string]node.Daemon{"n1": d, "n2": d}}
	for _, n := range nodes {
		if err := ds.Start(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if err := ds.Pause(ctx, n1); err != nil {
		t.Fatal(err)
	}
	if err := ds.Kill(ctx, n1); err != nil {
		t.Fatal(err)
	}
	if err := ds.Start(ctx, n1); err != nil {
		t.Fatal(err)
	}
	if _, err := nuker.ApplyGrudge(ctx, nodes, nuker.Grudge{"n1": {"n2"}}); err != nil {
		t.Fatal(err)
	}

	if err := cl.Remove(ctx); err != nil {
		t.Fatalf("teardown: %v", err)
	}
	for _, n := range nodes {
		res, err := n.Exec(ctx, "sh", "-c", `ps -eo args | grep -c '[s]leep 10' || true
ls -d /var/lib/sshtest-data /srv/sleeper /run/faultline /var/log/faultline /var/lib/faultline/run 2>/dev/null || true
iptables -w -n -L FAULTLINE 2>/dev/null | head -1 || true
test -e /etc/sshtest/hello.conf && echo installed-file-kept`)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(res.Stdout)); got != "0\ninstalled-file-kept" {
			t.Errorf("%s after teardown: %q, want no sleepers, no run dirs, no chain, the installation kept", n.Name(), got)
		}
	}
	// The machines are free again.
	cl2, err := rt.StartCluster(ctx, "run3", inst, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl2.Remove(ctx); err != nil {
		t.Fatal(err)
	}
}
