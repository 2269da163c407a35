package ssh_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/faultline/faultline/harness"
	fssh "github.com/faultline/faultline/harness/ssh"
	"github.com/faultline/faultline/harness/ssh/sshtest"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/targets/catalog"
)

// TestRedisOverSSH runs the leader-follower target Redis (Debian's
// package, installed on the machines with dpkg) with a fixed primary under
// partitions, kills, pauses and clock skew on three SSH machines: as on
// Docker (harness's TestRedis fixed-primary-valid) it must come out valid,
// at least two fault kinds must have happened (with seed 7: clock and
// pause; partition and kill have tests of their own here) and healed.
func TestRedisOverSSH(t *testing.T) {
	if testenv.Short() {
		t.Skip("long Docker run skipped with -short")
	}
	ms := sshtest.Start(t, 3)
	rt, err := fssh.NewRuntime(ms.Config(sshtest.SudoUser))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	spec := etcdSpec(t, "redis-ssh-fixed-primary")
	spec.Target = "redis"
	spec.Workload = "register"
	spec.TargetOpts = map[string]string{"failover": "none"}
	spec.Nemesis = []string{"partition", "kill", "pause", "clock"}
	spec.NemesisInterval = harness.Duration(4 * time.Second)
	spec.Nodes = 3
	opt := harness.Options{Targets: catalog.Default(), Runtime: rt, Progress: func(f string, a ...any) { t.Logf(f, a...) }}
	out, err := harness.Run(context.Background(), spec, opt)
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
		t.Errorf("fault kinds injected: %v; want at least two of four in 30 s", kinds)
	}
	if res.Stats.Ops < 100 {
		t.Errorf("only %d client ops", res.Stats.Ops)
	}
}
