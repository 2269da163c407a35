package workloads

import (
	"math/rand/v2"
	"testing"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// TestListAppendHistoriesAgainstCheckers: a serializable store is valid,
// also with timeouts and refusals; one that acknowledges appends it drops
// is caught.
func TestListAppendHistoriesAgainstCheckers(t *testing.T) {
	runCases(t, []workloadCase{
		{name: "correct", wl: ListAppend{}, workers: 6, ops: 200, want: models.Valid},
		{name: "correct, flaky", wl: ListAppend{}, flaky: true, workers: 6, ops: 200, want: models.Valid},
		{name: "lost appends", wl: ListAppend{}, bug: "lose-append", workers: 6, ops: 200, want: models.Invalid, caught: "list-append"},
	})
}

// TestListAppendGenerator: 1 to 4 micro-ops per transaction, values unique
// per key, keys retired after their share of appends, few keys at once.
func TestListAppendGenerator(t *testing.T) {
	g := ListAppend{Keys: 3}.NewGenerator(Config{Concurrency: 2, OpsPerKey: 20})
	rng := rand.New(rand.NewPCG(7, 8))
	seen := map[int64]map[int64]bool{}
	for i := range 500 {
		op := g.Next(i%2, rng)
		mops, _, err := microOps(op.Value)
		if err != nil {
			t.Fatal(err)
		}
		if op.F != TxnF || len(mops) < 1 || len(mops) > DefaultMaxTxnLen {
			t.Fatalf("txn %v", op.Value)
		}
		for _, m := range op.Value.([]any) {
			m := m.([]any)
			k, _ := history.Int(m[1])
			if seen[k] == nil {
				seen[k] = map[int64]bool{}
			}
			if m[0] != MicroAppend {
				continue
			}
			v, _ := history.Int(m[2])
			if seen[k][v] || v > 20 {
				t.Fatalf("append %d to %d: repeated or past the key's share", v, k)
			}
			seen[k][v] = true
		}
	}
	if len(seen) < 10 {
		t.Errorf("only %d keys used: keys are not retired", len(seen))
	}
	reads := 0
	for _, op := range g.Final() {
		mops, readOnly, err := microOps(op.Value)
		if err != nil || !readOnly {
			t.Fatalf("final %v: %v", op.Value, err)
		}
		reads += len(mops)
	}
	if reads != len(seen) {
		t.Errorf("final reads cover %d keys, want %d", reads, len(seen))
	}
}
