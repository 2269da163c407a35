package ssh_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/harness"
	"github.com/faultline/faultline/harness/node"
	fssh "github.com/faultline/faultline/harness/ssh"
	"github.com/faultline/faultline/harness/ssh/sshtest"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/targets/catalog"
)

// etcdSpec is the short etcd run of harness's own end-to-end tests (same
// seed, lengths and faults), so verdicts compare with the Docker runtime's.
func etcdSpec(t *testing.T, name string) harness.Spec {
	s := harness.DefaultSpec()
	s.Test = name
	s.Store = t.TempDir()
	s.TimeLimit = harness.Duration(30 * time.Second)
	s.NemesisInterval = harness.Duration(5 * time.Second)
	s.RecoveryWait = harness.Duration(3 * time.Second)
	s.OpTimeout = harness.Duration(time.Second)
	s.Seed = 7
	return s
}

// TestEtcdOverSSH runs the etcd default test (partitions, kills, pauses;
// linearizable reads) and the stale-read test (read=serializable under
// partitions) on five SSH machines, as the Docker runtime's tests do: the
// first must come out valid, the second invalid. The second run must
// install nothing, and nothing of either run may be left on the machines.
func TestEtcdOverSSH(t *testing.T) {
	if testenv.Short() {
		t.Skip("long Docker run skipped with -short")
	}
	ms := sshtest.Start(t, 5)
	rt, err := fssh.NewRuntime(ms.Config("root"))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	var mu sync.Mutex
	var lines []string
	opt := harness.Options{Targets: catalog.Default(), Runtime: rt, Progress: func(f string, a ...any) {
		mu.Lock()
		lines = append(lines, f)
		mu.Unlock()
		t.Logf(f, a...)
	}}

	t.Run("default", func(t *testing.T) {
		out, err := harness.Run(context.Background(), etcdSpec(t, "etcd-ssh-valid"), opt)
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		res := out.Results
		t.Logf("verdict %s, %d ops, %s", res.Verdict, res.Stats.Ops, res.Run.Duration.D())
		if res.Verdict != models.Valid {
			t.Fatalf("verdict %s (%s), want valid; report %s", res.Verdict, res.Reason, out.Dir)
		}
		ops, err := history.ReadFile(filepath.Join(out.Dir, harness.HistoryFile))
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[string]bool{}
		for _, w := range history.FaultWindows(ops) {
			kinds[w.Kind] = true
			if w.Open {
				t.Errorf("fault %s starting at op %d was never healed", w.Kind, w.StartOp)
			}
		}
		t.Logf("fault kinds: %v", kinds)
		if len(kinds) < 2 {
			t.Errorf("fault kinds injected: %v; want at least two of partition, kill, pause in 30 s", kinds)
		}
		if res.Stats.Ops < 100 {
			t.Errorf("only %d client ops", res.Stats.Ops)
		}
		if _, err := os.Stat(filepath.Join(out.Dir, "nodes/n1/etcd.log")); err != nil {
			t.Errorf("node log not collected: %v", err)
		}
	})

	mu.Lock()
	lines = nil
	mu.Unlock()
	t.Run("serializable", func(t *testing.T) {
		spec := etcdSpec(t, "etcd-ssh-serializable")
		spec.TargetOpts = map[string]string{"read": "serializable"}
		spec.Nemesis = []string{"partition"}
		out, err := harness.Run(context.Background(), spec, opt)
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		res := out.Results
		t.Logf("verdict %s, %d ops, %s", res.Verdict, res.Stats.Ops, res.Run.Duration.D())
		if res.Verdict != models.Invalid {
			t.Fatalf("verdict %s (%s), want invalid as on Docker: serializable reads under partition are stale; report %s",
				res.Verdict, res.Reason, out.Dir)
		}
	})
	mu.Lock()
	for _, l := range lines {
		if strings.Contains(l, "installing") || strings.Contains(l, "installed %s") || strings.Contains(l, "downloading") {
			t.Errorf("the second run installed something: %q", l)
		}
	}
	mu.Unlock()

	// Nothing of the runs is left: no etcd, no data, no chain, no claim.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i, h := range ms.Hosts {
		c := ms.Config("root")
		c.Hosts = []string{h}
		probe, err := fssh.NewRuntime(c)
		if err != nil {
			t.Fatal(err)
		}
		cl, err := probe.StartCluster(ctx, "probe", node.Installation{}, 1)
		if err != nil {
			t.Fatalf("machine %d after the runs: %v", i+1, err)
		}
		res, err := cl.Nodes()[0].Exec(ctx, "sh", "-c", "pgrep -x etcd; ls -d /var/lib/etcd; iptables -w -n -L FAULTLINE; true")
		if err != nil {
			t.Fatal(err)
		}
		if s := strings.TrimSpace(string(res.Stdout)); s != "" {
			t.Errorf("machine %d after the runs: %q", i+1, s)
		}
		if err := cl.Remove(ctx); err != nil {
			t.Error(err)
		}
		probe.Close()
	}
}
