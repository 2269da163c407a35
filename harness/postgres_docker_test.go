package harness

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// pgSpec is a short PostgreSQL run: 3 nodes (a primary, two standbys) keep
// the 2-core machines these tests run on responsive.
func pgSpec(t *testing.T, name, workload string, opts map[string]string, faults ...string) Spec {
	t.Helper()
	s := targetSpec(t, "postgres", name, workload, opts, faults...)
	s.Nodes = 3
	s.OpTimeout = Duration(2 * time.Second)
	return s
}

// runPG runs spec and returns its outcome, failing on a harness error.
func runPG(t *testing.T, spec Spec) *Outcome {
	t.Helper()
	start := time.Now()
	out, err := Run(context.Background(), spec, testOptions(t))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	t.Logf("%s: %s in %s, %d ops", spec.Test, out.Results.Verdict, time.Since(start).Round(time.Second), out.Results.Stats.Ops)
	return out
}

// wantValid fails unless the run is valid and the faults all healed.
func wantValid(t *testing.T, out *Outcome) {
	t.Helper()
	res := out.Results
	if res.Verdict != models.Valid {
		t.Fatalf("verdict %s (%s), want valid; report %s", res.Verdict, res.Reason, out.Dir)
	}
	ops, err := history.ReadFile(filepath.Join(out.Dir, HistoryFile))
	if err != nil {
		t.Fatal(err)
	}
	windows := history.FaultWindows(ops)
	if len(windows) == 0 {
		t.Error("no fault was injected")
	}
	for _, w := range windows {
		if w.Open {
			t.Errorf("fault %s starting at op %d was never healed", w.Kind, w.StartOp)
		}
	}
	if res.Stats.Ops < 100 {
		t.Errorf("only %d client ops", res.Stats.Ops)
	}
	if _, err := os.Stat(filepath.Join(out.Dir, NodesDir, "n1", "postgres.log")); err != nil {
		t.Errorf("node log not kept: %v", err)
	}
}

// wantAnomaly fails unless the run is invalid with an anomaly whose kind
// contains one of kinds, and logs the anomalies and when the first was seen.
func wantAnomaly(t *testing.T, out *Outcome, kinds ...string) {
	t.Helper()
	res := out.Results
	if res.Verdict != models.Invalid {
		t.Fatalf("verdict %s (%s), want invalid with %v; report %s", res.Verdict, res.Reason, kinds, out.Dir)
	}
	var found bool
	for _, r := range res.Results {
		for _, a := range r.Anomalies {
			t.Logf("anomaly %s: %s", a.Kind, a.Explanation)
			for _, k := range kinds {
				if strings.Contains(a.Kind, k) {
					found = true
				}
			}
		}
	}
	if !found {
		t.Errorf("no anomaly of kind %v; report %s", kinds, out.Dir)
	}
}

// TestPostgresSerializableListAppendIsValid: SERIALIZABLE transactions on
// the primary under partitions and kills must show no Elle anomaly.
func TestPostgresSerializableListAppendIsValid(t *testing.T) {
	t.Parallel() // two target runs at once keep CI short; each has its own cluster
	spec := pgSpec(t, "pg-la-serializable", "list-append",
		map[string]string{"isolation": "serializable"}, "partition", "kill")
	wantValid(t, runPG(t, spec))
}

// TestPostgresSerializableBankIsValid: transfers at SERIALIZABLE keep the
// total under partitions and kills.
func TestPostgresSerializableBankIsValid(t *testing.T) {
	t.Parallel()    // two target runs at once keep CI short; each has its own cluster
	testenv.Soak(t) // the same safety as the list-append and failover tests, kept out of CI
	spec := pgSpec(t, "pg-bank-serializable", "bank",
		map[string]string{"isolation": "serializable"}, "partition", "kill")
	wantValid(t, runPG(t, spec))
}

// TestPostgresRegisterIsLinearizable: single-statement registers on the
// primary with synchronous replication, under partitions, kills and
// pauses.
func TestPostgresRegisterIsLinearizable(t *testing.T) {
	t.Parallel()    // two target runs at once keep CI short; each has its own cluster
	testenv.Soak(t) // the same safety as the list-append and failover tests, kept out of CI
	spec := pgSpec(t, "pg-register", "register", nil, "partition", "kill", "pause")
	wantValid(t, runPG(t, spec))
}

// TestPostgresRepeatableReadShowsWriteSkew: REPEATABLE READ is snapshot
// isolation, which allows G2-item (write skew).
func TestPostgresRepeatableReadShowsWriteSkew(t *testing.T) {
	t.Parallel() // two target runs at once keep CI short; each has its own cluster
	spec := pgSpec(t, "pg-la-repeatable-read", "list-append",
		map[string]string{"isolation": "repeatable-read"})
	spec.TimeLimit = Duration(20 * time.Second)
	wantAnomaly(t, runPG(t, spec), "G2")
}

// TestPostgresStandbyReadsAreStale: reads from a standby lag the primary,
// and a partitioned standby keeps serving its old state.
func TestPostgresStandbyReadsAreStale(t *testing.T) {
	t.Parallel() // two target runs at once keep CI short; each has its own cluster
	spec := pgSpec(t, "pg-register-standby", "register",
		map[string]string{"read-from": "standby", "replication": "async"}, "partition")
	wantAnomaly(t, runPG(t, spec), "stale-read", "nonlinearizable")
}

// TestPostgresAsyncFailoverLosesWrites: with asynchronous replication the
// primary keeps acknowledging commits while cut off from its standbys (the
// failover fault detaches them for a moment before it fences the primary
// and promotes a standby); those commits are lost.
func TestPostgresAsyncFailoverLosesWrites(t *testing.T) {
	t.Parallel() // two target runs at once keep CI short; each has its own cluster
	spec := pgSpec(t, "pg-async-failover", "set",
		map[string]string{"replication": "async"}, "failover")
	wantAnomaly(t, runPG(t, spec), "lost")
}

// TestPostgresSyncFailoverKeepsWrites: the same failovers with synchronous
// replication lose nothing acknowledged: while the standbys are detached
// commits wait (and time out as indeterminate).
func TestPostgresSyncFailoverKeepsWrites(t *testing.T) {
	t.Parallel() // two target runs at once keep CI short; each has its own cluster
	spec := pgSpec(t, "pg-sync-failover", "set",
		map[string]string{"replication": "sync"}, "failover")
	wantValid(t, runPG(t, spec))
}
