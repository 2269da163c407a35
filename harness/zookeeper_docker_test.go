package harness

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/nuker"
	"github.com/faultline/faultline/workloads"
)

// zkSpec is a short ZooKeeper run on 3 nodes (the 2-core machines these
// tests run on stay responsive).
func zkSpec(t *testing.T, name, workload string, opts map[string]string, faults ...string) Spec {
	t.Helper()
	s := targetSpec(t, "zookeeper", name, workload, opts, faults...)
	s.Nodes = 3
	s.Concurrency = 6
	s.OpTimeout = Duration(2 * time.Second)
	return s
}

// zkFollowerPartitions isolates one follower at a time first: a fresh
// ensemble usually elects the server with the highest id (n3; n2 was seen
// once), so n1 and n2 follow. An isolated follower keeps answering reads from its own state
// until it has not heard from the leader for syncLimit ticks (2.5 s),
// while the leader's side goes on writing: the window for stale reads.
// Once the schedule is used up the nuker draws further faults from the
// seed.
func zkFollowerPartitions() []nuker.Step {
	isolate := func(n string) nuker.Step {
		g := nuker.Grudge{}
		for _, m := range []string{"n1", "n2", "n3"} {
			if m != n {
				g[n] = append(g[n], m)
				g[m] = []string{n}
			}
		}
		return nuker.Step{Fault: nuker.FaultPartition, Partition: "one", Grudge: g, Nodes: g.Nodes()}
	}
	return []nuker.Step{isolate("n1"), isolate("n2"), isolate("n1")}
}

// runZK runs spec, fails on a harness error, and returns the outcome and
// its history.
func runZK(t *testing.T, spec Spec) (*Outcome, []history.Op) {
	t.Helper()
	out, ops := runTarget(t, spec, "zookeeper.log")
	var faults []string
	for _, w := range history.FaultWindows(ops) {
		faults = append(faults, fmt.Sprintf("%s %v", w.Kind, w.Nodes))
	}
	t.Logf("faults: %s", strings.Join(faults, "; "))
	if len(spec.Nemesis) > 0 && len(faults) < 2 {
		t.Errorf("only %d faults in the run", len(faults))
	}
	return out, ops
}

// zkRegisterVerdicts checks the register history for linearizability
// (cas-register) and sequential consistency (sequential), and logs the
// first anomalies with the time into the run they happened at.
func zkRegisterVerdicts(t *testing.T, ops []history.Op) (linear, sequential models.Result) {
	t.Helper()
	wl, err := workloads.Default().Lookup("register")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := runCheckers(context.Background(), []string{"cas-register", "sequential"}, wl, ops, nil, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		t.Logf("%s: %s (%s)", r.Checker, r.Verdict, r.Reason)
		for i, a := range r.Anomalies {
			if i == 3 {
				break
			}
			t.Logf("  %s anomaly: %s: %s", r.Checker, a.Kind, a.Explanation)
		}
	}
	return rs[0], rs[1]
}

// firstAnomalyAt says when the checker's earliest anomaly happened, in
// seconds after the first client op, and which faults were active then,
// for the record.
func firstAnomalyAt(r models.Result, ops []history.Op) string {
	if len(r.Anomalies) == 0 {
		return "?"
	}
	first := r.Anomalies[0].Time
	for _, a := range r.Anomalies {
		first = min(first, a.Time)
	}
	var t0 int64
	for _, op := range ops {
		if op.IsClient() {
			t0 = op.Time
			break
		}
	}
	var active []string
	for _, w := range history.FaultWindows(ops) {
		if w.Start <= first && (w.Open || first <= w.End) {
			active = append(active, fmt.Sprintf("%s %v", w.Kind, w.Nodes))
		}
	}
	if len(active) == 0 {
		active = []string{"no fault"}
	}
	return fmt.Sprintf("%.1fs into the run (%s)", time.Duration(first-t0).Seconds(), strings.Join(active, ", "))
}

// TestZookeeperPlainReadsNotLinearizable: with reads answered by each
// client's own server, an isolated follower serves stale values for up to
// syncLimit*tickTime after a partition starts: the history is not
// linearizable, yet every read is of a prefix of the one write order, so
// it is sequentially consistent (what ZooKeeper promises).
func TestZookeeperPlainReadsNotLinearizable(t *testing.T) {
	t.Parallel() // target runs of other systems may run beside it; each has its own cluster
	// A stale read is likely in one 30 s run, not certain (CI once saw
	// 12,915 ops without one): a second run with another seed is allowed.
	for attempt := range 2 {
		spec := zkSpec(t, "zookeeper-plain", "register", map[string]string{"reads": "plain"}, "partition", "kill", "pause")
		spec.Schedule = zkFollowerPartitions()
		spec.Seed += int64(attempt)
		_, ops := runZK(t, spec)
		lin, seq := zkRegisterVerdicts(t, ops)
		if seq.Verdict != models.Valid {
			t.Errorf("sequential: %s (%s), want valid: ZooKeeper promises sequential consistency", seq.Verdict, seq.Reason)
		}
		if lin.Verdict == models.Invalid {
			t.Logf("run %d: first stale read at %s", attempt+1, firstAnomalyAt(lin, ops))
			return
		}
		t.Logf("run %d: cas-register %s (%s), no stale read", attempt+1, lin.Verdict, lin.Reason)
	}
	t.Error("cas-register valid in 2 runs, want invalid: an isolated follower should have served a stale read")
}

// TestZookeeperSyncReadsLinearizable: with sync(path) before every read,
// the same faults give a linearizable history. ZooKeeper does not promise
// it strictly (ZOOKEEPER-1675: a deposed leader may answer a sync), but no
// run has shown that yet (docs/targets.md), so any anomaly fails the test
// and names it.
func TestZookeeperSyncReadsLinearizable(t *testing.T) {
	t.Parallel() // target runs of other systems may run beside it; each has its own cluster
	spec := zkSpec(t, "zookeeper-sync", "register", map[string]string{"reads": "sync"}, "partition", "kill", "pause")
	spec.Schedule = zkFollowerPartitions()
	out, ops := runZK(t, spec)
	lin, seq := zkRegisterVerdicts(t, ops)
	if seq.Verdict != models.Valid {
		t.Errorf("sequential: %s (%s), want valid", seq.Verdict, seq.Reason)
	}
	if lin.Verdict != models.Valid {
		t.Errorf("cas-register: %s (%s) at %s, want valid (a stale read after sync may be ZOOKEEPER-1675); report %s",
			lin.Verdict, lin.Reason, firstAnomalyAt(lin, ops), out.Dir)
	}
	if out.Results.Stats.Ops < 200 {
		t.Errorf("only %d ops", out.Results.Stats.Ops)
	}
}

// TestZookeeperLockUnderPartitionAndKill: the ephemeral-sequential lock
// recipe under partitions and kills: at most one holder at a time and
// fencing tokens (sequence numbers) that only grow.
func TestZookeeperLockUnderPartitionAndKill(t *testing.T) {
	t.Parallel() // target runs of other systems may run beside it; each has its own cluster
	spec := zkSpec(t, "zookeeper-lock", "lock", nil, "partition", "kill")
	// The leader (n3 on a fresh ensemble) killed, a follower cut off, then
	// a majority killed: sessions, and the locks they hold, must survive
	// or lapse with them.
	spec.Schedule = []nuker.Step{
		{Fault: nuker.FaultKill, Targets: "one", Nodes: []string{"n3"}},
		zkFollowerPartitions()[0],
		{Fault: nuker.FaultKill, Targets: "majority", Nodes: []string{"n1", "n2"}},
	}
	out, ops := runZK(t, spec)
	grants := 0
	for _, op := range ops {
		if op.IsClient() && op.F == "acquire" && op.Type == history.OK {
			grants++
		}
	}
	for _, r := range out.Results.Results {
		t.Logf("%s: %s (%s), stats %v", r.Checker, r.Verdict, r.Reason, r.Stats)
		for i, a := range r.Anomalies {
			if i == 3 {
				break
			}
			t.Logf("  anomaly: %s: %s", a.Kind, a.Explanation)
		}
	}
	if out.Results.Verdict != models.Valid {
		t.Fatalf("verdict %s (%s), want valid; report %s", out.Results.Verdict, out.Results.Reason, out.Dir)
	}
	for _, r := range out.Results.Results {
		if r.Checker == "lock" && r.Stats["tokens"] != r.Stats["acquired"] {
			t.Errorf("%v of %v grants carried a fencing token, want all", r.Stats["tokens"], r.Stats["acquired"])
		}
	}
	if grants < 20 {
		t.Errorf("only %d grants", grants)
	}
}

// TestZookeeperSetUnderFaults: the set workload (elements as children)
// under partitions, kills and pauses, with plain reads: no acknowledged
// element lost, and every node converges after the heal.
func TestZookeeperSetUnderFaults(t *testing.T) {
	t.Parallel()
	testenv.Soak(t)
	spec := zkSpec(t, "zookeeper-set", "set", nil, "partition", "kill", "pause")
	out, _ := runZK(t, spec)
	for _, r := range out.Results.Results {
		t.Logf("%s: %s (%s)", r.Checker, r.Verdict, r.Reason)
		for i, a := range r.Anomalies {
			if i == 3 {
				break
			}
			t.Logf("  anomaly: %s: %s", a.Kind, a.Explanation)
		}
	}
	for _, r := range out.Results.Results {
		if r.Checker != "session" && r.Verdict != models.Valid {
			t.Errorf("%s: %s (%s), want valid", r.Checker, r.Verdict, r.Reason)
		}
	}
}

// TestZookeeperReadsRepeated runs the register with plain and with sync
// reads several times under random partitions, kills and pauses (no
// schedule) and counts the runs that find a stale read, and when: the
// figures docs/targets.md quotes. Sequential consistency must hold in
// every run, and with sync reads linearizability too.
func TestZookeeperReadsRepeated(t *testing.T) {
	testenv.Soak(t)
	const runs = 3
	for _, reads := range []string{"plain", "sync"} {
		found := 0
		for i := range runs {
			spec := zkSpec(t, fmt.Sprintf("zookeeper-%s-random-%d", reads, i), "register", map[string]string{"reads": reads}, "partition", "kill", "pause")
			spec.Seed = int64(100 + i)
			_, ops := runZK(t, spec)
			lin, seq := zkRegisterVerdicts(t, ops)
			if seq.Verdict != models.Valid {
				t.Errorf("%s run %d: sequential %s (%s)", reads, i, seq.Verdict, seq.Reason)
			}
			if lin.Verdict == models.Invalid {
				if reads == "sync" {
					t.Errorf("sync run %d: %s (%s)", i, lin.Verdict, lin.Reason)
				}
				found++
				t.Logf("%s run %d (seed %d): first stale read at %s", reads, i, spec.Seed, firstAnomalyAt(lin, ops))
			}
		}
		t.Logf("reads=%s, random faults: not linearizable in %d of %d runs", reads, found, runs)
	}
}
