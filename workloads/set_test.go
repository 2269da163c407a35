package workloads

import (
	"math/rand/v2"
	"testing"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/models/sets"
)

// TestSetHistoriesAgainstCheckers: a correct set store is valid for every
// checker the workload names, also when some ops time out or are refused;
// a store that acknowledges adds it drops is caught losing them.
func TestSetHistoriesAgainstCheckers(t *testing.T) {
	runCases(t, []workloadCase{
		{name: "correct", wl: Set{}, workers: 6, ops: 150, want: models.Valid},
		{name: "correct, flaky", wl: Set{}, flaky: true, workers: 6, ops: 150, want: models.Valid},
		{name: "lost adds", wl: Set{}, bug: "lose-add", workers: 6, ops: 150, want: models.Invalid, caught: sets.Name, kind: sets.LostKind},
		{name: "lost adds, convergence", wl: Set{}, bug: "lose-add", workers: 6, ops: 150, want: models.Invalid, caught: "convergence", kind: ""},
	})
}

// TestSetGenerator: adds are unique per key, keys rotate per group of
// workers, and the final reads cover every key.
func TestSetGenerator(t *testing.T) {
	g := Set{}.NewGenerator(Config{Concurrency: 4, ThreadsPerKey: 2, OpsPerKey: 50})
	rng := rand.New(rand.NewPCG(3, 4))
	added := map[string]map[int64]bool{}
	reads := 0
	for i := range 1000 {
		op := g.Next(i%4, rng)
		if added[op.Key] == nil {
			added[op.Key] = map[int64]bool{}
		}
		switch op.F {
		case "add":
			v, ok := history.Int(op.Value)
			if !ok || added[op.Key][v] {
				t.Fatalf("add %v to %s: not a fresh integer", op.Value, op.Key)
			}
			added[op.Key][v] = true
		case "read":
			reads++
		default:
			t.Fatalf("unexpected f %q", op.F)
		}
	}
	if len(added) != 20 {
		t.Errorf("%d keys, want 20 (1000 ops / 50 per key)", len(added))
	}
	if reads < 150 || reads > 350 {
		t.Errorf("%d reads in 1000 ops, want about a quarter", reads)
	}
	if f := g.Final(); len(f) != len(added) || f[0].F != "read" {
		t.Errorf("final reads %v, want one read per key", f)
	}
}
