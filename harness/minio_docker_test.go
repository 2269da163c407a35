package harness

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/nuker"
)

// minioSpec is a short MinIO run on 4 nodes (one erasure set, EC:2: read
// quorum 2, write quorum 3). MinIO names no primaries, so the default
// partitions leave the primaries partition out.
func minioSpec(t *testing.T, name, workload string, faults ...string) Spec {
	t.Helper()
	s := targetSpec(t, "minio", name, workload, nil, faults...)
	s.Nodes = 4
	s.Concurrency = 8
	s.OpTimeout = Duration(3 * time.Second) // contended overwrites of one object take up to ~2 s even healthy
	return s
}

// runMinio runs spec, fails on a harness error, logs what the checkers
// found and returns the outcome, its history and its findings.
func runMinio(t *testing.T, spec Spec) (*Outcome, []history.Op, []minioFinding) {
	t.Helper()
	out, ops := runTarget(t, spec, "minio.log")
	run0 := runStart(ops)
	counts := map[history.Type]int{}
	for _, op := range ops {
		if op.IsClient() && op.Type != history.Invoke {
			counts[op.Type]++
		}
	}
	t.Logf("%s: ok %d, fail %d, info %d, %.0f ops/s", spec.Test, counts[history.OK], counts[history.Fail], counts[history.Info],
		float64(counts[history.OK]+counts[history.Fail]+counts[history.Info])/spec.TimeLimit.D().Seconds())
	logErrors(t, ops)
	for _, w := range history.FaultWindows(ops) {
		t.Logf("fault %s on %v: %.1f s to %.1f s into the run", w.Kind, w.Nodes, seconds(w.Start-run0), seconds(w.End-run0))
	}
	found := minioFindings(out, ops)
	for i, f := range found {
		if i == 5 {
			t.Logf("%d more anomalies", len(found)-5)
			break
		}
		t.Logf("%s/%s seen at %.1f s into the run (key %s): %s", f.checker, f.kind, f.seen, f.key, f.explanation)
		for _, op := range f.ops {
			t.Logf("    %s", describeOp(op, run0))
		}
	}
	return out, ops, found
}

// logErrors logs the commonest errors of client ops, by type and node,
// with addresses cut out so that alike errors count together.
func logErrors(t *testing.T, ops []history.Op) {
	t.Helper()
	addr := regexp.MustCompile(`"http://[^"]*"`)
	counts := map[string]int{}
	for _, op := range ops {
		if op.IsClient() && op.Error != "" && op.Type != history.Invoke {
			counts[fmt.Sprintf("%s %s on %s: %s", op.Type, op.F, op.Node, addr.ReplaceAllString(op.Error, "URL"))]++
		}
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return counts[keys[i]] > counts[keys[j]] })
	for i, k := range keys {
		if i == 8 {
			break
		}
		t.Logf("%6d x %s", counts[k], k)
	}
}

// minioFinding is one anomaly with the time it showed: the completion of
// the last op involved (the read that saw it), in seconds into the run.
type minioFinding struct {
	checker, kind, key, explanation string
	seen                            float64
	ops                             []history.Op
}

func minioFindings(out *Outcome, ops []history.Op) []minioFinding {
	run0 := runStart(ops)
	byIndex := map[int64]history.Op{}
	for _, op := range ops {
		byIndex[op.Index] = op
	}
	var found []minioFinding
	for _, r := range out.Results.Results {
		for _, a := range r.Anomalies {
			f := minioFinding{checker: r.Checker, kind: a.Kind, key: a.Key, explanation: a.Explanation}
			last := a.Time
			for _, ix := range a.Ops {
				if op, ok := byIndex[ix]; ok {
					f.ops = append(f.ops, op)
					last = max(last, op.Time)
				}
			}
			f.seen = seconds(last - run0)
			found = append(found, f)
		}
	}
	return found
}

// runStart is the time of the first client op: the run phase's start.
func runStart(ops []history.Op) int64 {
	for _, op := range ops {
		if op.IsClient() {
			return op.Time
		}
	}
	return 0
}

func seconds(ns int64) float64 { return float64(ns) / 1e9 }

func describeOp(op history.Op, run0 int64) string {
	s := fmt.Sprintf("#%d %.3fs p%v %s %s key=%s value=%v node=%s", op.Index, seconds(op.Time-run0), op.Process, op.Type, op.F, op.Key, op.Value, op.Node)
	if op.Error != "" {
		s += " err=" + op.Error
	}
	return s
}

// anomalyKinds counts the anomalies of every checker by kind.
func anomalyKinds(found []minioFinding) map[string]int {
	out := map[string]int{}
	for _, f := range found {
		out[f.checker+"/"+f.kind]++
	}
	return out
}

// nilReads are the findings that are reads of nil (the key's object
// "not found") after an acknowledged write of it; others are the rest.
func nilReads(found []minioFinding) (nils, others []minioFinding) {
	for _, f := range found {
		if f.checker == "linearizable" && f.kind == "stale-read" && strings.Contains(f.explanation, "read → nil") {
			nils = append(nils, f)
		} else {
			others = append(others, f)
		}
	}
	return nils, others
}

// checkOnlyLostObjects fails t on any anomaly but a read of a missing
// object, and logs those.
func checkOnlyLostObjects(t *testing.T, out *Outcome, found []minioFinding) (nils []minioFinding) {
	t.Helper()
	if out.Results.Verdict == models.Unknown {
		t.Fatalf("verdict unknown (%s): the check should decide; report %s", out.Results.Reason, out.Dir)
	}
	nils, others := nilReads(found)
	for _, f := range others {
		t.Errorf("unexpected %s/%s at %.1f s: %s", f.checker, f.kind, f.seen, f.explanation)
	}
	for _, f := range nils {
		t.Logf("lost object (known MinIO weakness): key %s read as missing at %.1f s into the run", f.key, f.seen)
	}
	return nils
}

// TestMinioRegisterUnderFaults: the register (one object per key, cas by
// If-Match on the ETag) under partitions, kills and pauses of 4 nodes.
// MinIO sometimes loses acknowledged objects (in 9 of 19 runs with faults when
// this was written, see the soak tests): every node then answers
// NoSuchKey for a key whose last write was acknowledged, after overwrites
// that failed quorum while a majority was killed or paused or the
// network split. That read of nil is accepted and logged; any other
// anomaly (a cas that swapped when it should not have, a read of a value
// never written) fails the test, as does an undecided check. The checker
// stops at a key's first anomaly, so keys that lost their object say
// nothing more.
func TestMinioRegisterUnderFaults(t *testing.T) {
	t.Parallel() // each run has its own cluster
	spec := minioSpec(t, "minio-register", "register", "partition", "kill", "pause")
	out, ops, found := runMinio(t, spec)
	checkOnlyLostObjects(t, out, found)
	if len(history.FaultWindows(ops)) < 2 || out.Results.Stats.Ops < 200 {
		t.Errorf("%d faults, %d ops: too little happened to judge", len(history.FaultWindows(ops)), out.Results.Stats.Ops)
	}
}

// TestMinioRegisterMajorityKills kills 3 of 4 nodes twice while writes
// are in flight: the schedule that lost acknowledged objects most often
// (1 of 3 runs of this test when it was written). Overwrites that miss
// write quorum at the rename are undone on the drives they reached by
// deleting the object's xl.meta there (renameData's undo in
// cmd/erasure-object.go; small objects are inline, with no old data dir
// to restore), which would take the previous, acknowledged version with
// it: our reading of the source, not shown on the drives.
func TestMinioRegisterMajorityKills(t *testing.T) {
	testenv.Soak(t)
	spec := minioSpec(t, "minio-register-kill", "register", "kill")
	spec.Schedule = []nuker.Step{
		{Fault: nuker.FaultKill, Targets: "majority", Nodes: []string{"n1", "n2", "n4"}},
		{Fault: nuker.FaultKill, Targets: "majority", Nodes: []string{"n2", "n3", "n4"}},
	}
	out, _, found := runMinio(t, spec)
	nils := checkOnlyLostObjects(t, out, found)
	t.Logf("verdict %s, %d reads of lost objects", out.Results.Verdict, len(nils))
}

// TestMinioSetKeepsAcknowledgedAdds: one object per element (created
// with If-None-Match: *), a set read by listing its prefix, under
// partitions, kills and pauses. What held in every run: no add that MinIO
// acknowledged is missing from the reads after it. What varies and is only
// logged: listings that are not monotonic (an element a read returned is
// missing from a later read, monotonic-reads and writes-follow-reads),
// elements of indeterminate adds seen and then gone (a create that failed
// quorum, listed before it was undone), and final listings that differ
// between nodes after the heal (convergence).
func TestMinioSetKeepsAcknowledgedAdds(t *testing.T) {
	t.Parallel() // each run has its own cluster
	spec := minioSpec(t, "minio-set", "set", "partition", "kill", "pause")
	out, _, found := runMinio(t, spec)
	if out.Results.Verdict == models.Unknown {
		t.Fatalf("verdict unknown (%s): the check should decide; report %s", out.Results.Reason, out.Dir)
	}
	for _, f := range found {
		if f.checker == "set" && !strings.Contains(f.explanation, "indeterminate add") {
			t.Errorf("acknowledged add lost at %.1f s: %s", f.seen, f.explanation)
		}
	}
	t.Logf("anomalies by kind: %v", anomalyKinds(found))
	if out.Results.Stats.Ops < 200 {
		t.Errorf("only %d ops", out.Results.Stats.Ops)
	}
}

// TestMinioRegisterSoak repeats the register under partitions, kills and
// pauses with fresh seeds and reports how many runs found what, and when.
func TestMinioRegisterSoak(t *testing.T) {
	testenv.Soak(t)
	for i, seed := range []int64{11, 12, 13, 14} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			spec := minioSpec(t, fmt.Sprintf("minio-register-soak-%d", i), "register", "partition", "kill", "pause")
			spec.Seed = seed
			out, _, found := runMinio(t, spec)
			nils := checkOnlyLostObjects(t, out, found)
			t.Logf("seed %d: %s, %d reads of lost objects", seed, out.Results.Verdict, len(nils))
		})
	}
}

// TestMinioClockSkew bumps one node's clock 20 minutes ahead, past the 15
// minutes by which MinIO accepts a request's signed time: requests to that
// node are refused (RequestTimeTooSkewed, a definite 403), so the history
// stays valid, and the other nodes keep serving.
func TestMinioClockSkew(t *testing.T) {
	testenv.Soak(t)
	spec := minioSpec(t, "minio-clock", "register", "clock")
	spec.Schedule = []nuker.Step{{Fault: nuker.FaultClock, Targets: "one", Nodes: []string{"n1"},
		Clock: &nuker.ClockPlan{Kind: "bump", OffsetsMS: map[string]int64{"n1": (20 * time.Minute).Milliseconds()}}}}
	out, ops, found := runMinio(t, spec)
	skewed := map[string]int{}
	for _, op := range ops {
		if op.IsClient() && op.Type != history.Invoke && strings.Contains(op.Error, "request time and the server's time") {
			skewed[op.Node+" "+string(op.Type)]++
		}
	}
	t.Logf("ops refused for clock skew, by node and type: %v; anomalies %v", skewed, anomalyKinds(found))
	if out.Results.Verdict != models.Valid {
		t.Fatalf("verdict %s (%s); want valid; report %s", out.Results.Verdict, out.Results.Reason, out.Dir)
	}
	if skewed["n1 fail"] == 0 || len(skewed) != 1 {
		t.Errorf("refusals for clock skew %v: want them on n1 only, as definite failures", skewed)
	}
}
