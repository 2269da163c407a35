package harness

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/faultline/faultline/harness/docker/dockerenv"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/models/history"
)

// targetSpec is a short end-to-end run of target for the test suite (see
// e2eSpec). It needs a Docker engine and is skipped with -short.
func targetSpec(t *testing.T, target, name, workload string, opts map[string]string, faults ...string) Spec {
	t.Helper()
	dockerenv.NeedDocker(t)
	if testenv.Short() {
		t.Skip("long Docker run skipped with -short")
	}
	s := e2eSpec(t, name)
	s.Target = target
	s.Workload = workload
	s.TargetOpts = opts
	s.Nemesis = faults
	return s
}

// runTarget runs spec, fails on a harness error, and returns the outcome
// and its history. Every fault must have healed, and n1's logFile must
// have been kept with the run.
func runTarget(t *testing.T, spec Spec, logFile string) (*Outcome, []history.Op) {
	t.Helper()
	start := time.Now()
	out, err := Run(context.Background(), spec, testOptions(t))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	res := out.Results
	t.Logf("%s (seed %d): %s in %s, %d ops; %s; report %s", spec.Test, spec.Seed, res.Verdict,
		time.Since(start).Round(time.Second), res.Stats.Ops, res.Reason, out.Dir)
	ops, err := history.ReadFile(filepath.Join(out.Dir, HistoryFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range history.FaultWindows(ops) {
		if w.Open {
			t.Errorf("fault %s starting at op %d was never healed", w.Kind, w.StartOp)
		}
	}
	if _, err := os.Stat(filepath.Join(out.Dir, NodesDir, "n1", logFile)); err != nil {
		t.Errorf("node log not kept: %v", err)
	}
	return out, ops
}
