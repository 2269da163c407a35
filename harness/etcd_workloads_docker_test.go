package harness

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/faultline/faultline/harness/docker/dockerenv"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// TestEtcdWorkloadsUnderFaults: etcd's set and lock, with linearizable
// reads, under partitions, kills and pauses, come out valid with every
// checker the workload names, and the faults really happened.
func TestEtcdWorkloadsUnderFaults(t *testing.T) {
	t.Parallel() // two target runs at once keep CI short; each has its own cluster
	dockerenv.NeedDocker(t)
	if testenv.Short() {
		t.Skip("long Docker run skipped with -short")
	}
	tests := []struct {
		workload string
		checkers []string // must each have judged the history valid
		// minOK is the fewest ok ops worth judging: most lock ops are
		// acquires answered "held", and a loaded machine runs slowly.
		minOK int
	}{
		{"set", []string{"set", "session", "convergence"}, 100},
		{"lock", []string{"lock"}, 40},
	}
	for _, tt := range tests {
		t.Run(tt.workload, func(t *testing.T) {
			spec := e2eSpec(t, "etcd-"+tt.workload)
			spec.Workload = tt.workload
			spec.TimeLimit = Duration(30 * time.Second)
			out, err := Run(context.Background(), spec, testOptions(t))
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			res := out.Results
			for _, r := range res.Results {
				t.Logf("%s (%s): %s %s; stats %v", r.Checker, r.Model, r.Verdict, r.Reason, r.Stats)
				for i, a := range r.Anomalies {
					if i < 5 {
						t.Logf("  %s: %s", a.Kind, a.Explanation)
					}
				}
			}
			if res.Verdict != models.Valid {
				t.Fatalf("verdict %s (%s), want valid; report %s", res.Verdict, res.Reason, out.Dir)
			}
			judged := map[string]bool{}
			for _, r := range res.Results {
				judged[r.Model] = true
				judged[r.Checker] = true
			}
			for _, c := range tt.checkers {
				if !judged[c] {
					t.Errorf("checker %s did not run", c)
				}
			}
			ops, err := history.ReadFile(filepath.Join(out.Dir, HistoryFile))
			if err != nil {
				t.Fatal(err)
			}
			ws := history.FaultWindows(ops)
			kinds := map[string]bool{}
			for _, w := range ws {
				kinds[w.Kind] = true
				if w.Open {
					t.Errorf("fault %s starting at op %d was never healed", w.Kind, w.StartOp)
				}
			}
			// How many faults fit in the run, and of which kinds, varies with
			// the machine's load (each one is a few docker execs).
			t.Logf("%d faults of kinds %v", len(ws), kinds)
			if len(ws) == 0 {
				t.Error("no fault injected")
			}
			ok := 0
			for _, op := range ops {
				if op.IsClient() && op.Type == history.OK {
					ok++
				}
			}
			if ok < tt.minOK {
				t.Errorf("only %d ok client ops, want %d", ok, tt.minOK)
			}
		})
	}
}
