package ssh_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/harness"
	"github.com/faultline/faultline/harness/node"
	fssh "github.com/faultline/faultline/harness/ssh"
	"github.com/faultline/faultline/harness/ssh/sshtest"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/targets/catalog"
)

// TestInterruptLeavesNothing: cancelling a run over SSH (Ctrl-C) inside a
// partition heals it and tears the machines down: no etcd process, no
// data directory, no chain, no claim is left, and the history is kept.
func TestInterruptLeavesNothing(t *testing.T) {
	if testenv.Short() {
		t.Skip("long Docker run skipped with -short")
	}
	ms := sshtest.Start(t, 3)
	rt, err := fssh.NewRuntime(ms.Config("root"))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	spec := etcdSpec(t, "etcd-ssh-interrupt")
	spec.Nodes = 3
	spec.Nemesis = []string{"partition"}
	spec.NemesisInterval = harness.Duration(2 * time.Second)
	spec.TimeLimit = harness.Duration(5 * time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		deadline := time.Now().Add(8 * time.Minute)
		for time.Now().Before(deadline) {
			time.Sleep(300 * time.Millisecond)
			ops, err := history.ReadFile(filepath.Join(spec.Store, "latest", harness.HistoryFile))
			if err != nil {
				continue
			}
			if w := history.FaultWindows(ops); len(w) >= 1 && w[len(w)-1].Open {
				cancel()
				return
			}
		}
		cancel()
	}()
	opt := harness.Options{Targets: catalog.Default(), Runtime: rt, Progress: func(f string, a ...any) { t.Logf(f, a...) }}
	out, err := harness.Run(ctx, spec, opt)
	if err == nil || !errors.Is(err, harness.ErrHarness) {
		t.Fatalf("interrupted run returned %v, want ErrHarness", err)
	}
	if !out.Results.Run.Interrupted {
		t.Error("results do not say interrupted")
	}
	ops, err := history.ReadFile(filepath.Join(out.Dir, harness.HistoryFile))
	if err != nil {
		t.Fatal(err)
	}
	ws := history.FaultWindows(ops)
	if len(ws) == 0 {
		t.Fatal("no fault recorded before the interrupt")
	}
	for _, w := range ws {
		if w.Open {
			t.Errorf("fault %s (op %d) not healed in the history", w.Kind, w.StartOp)
		}
	}
	// A fresh connection per machine: what is left there?
	lctx, lcancel := context.WithTimeout(context.Background(), time.Minute)
	defer lcancel()
	probe, err := fssh.NewRuntime(ms.Config("root"))
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	res, err := probe.Clean(lctx, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Record.RunID != "" {
			t.Errorf("%s still claimed by %s", r.Host, r.Record.RunID)
		}
	}
	cl, err := probe.StartCluster(lctx, "probe", node.Installation{}, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range cl.Nodes() {
		r, err := n.Exec(lctx, "sh", "-c", "pgrep -x etcd; ls -d /var/lib/etcd /run/faultline; iptables -w -S | grep FAULTLINE; true")
		if err != nil {
			t.Fatal(err)
		}
		if s := strings.TrimSpace(string(r.Stdout)); s != "" {
			t.Errorf("%s after the interrupted run: %q", n.Name(), s)
		}
	}
	if err := cl.Remove(lctx); err != nil {
		t.Error(err)
	}
}
