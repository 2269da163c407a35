package workloads

import (
	"math/rand/v2"
	"testing"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// TestEventualCounterHistoriesAgainstCheckers: a correct counter is valid,
// also with timeouts and refusals; one that acknowledges adds it drops
// ends with wrong final reads.
func TestEventualCounterHistoriesAgainstCheckers(t *testing.T) {
	runCases(t, []workloadCase{
		{name: "g-counter", wl: EventualCounter{}, workers: 6, ops: 200, want: models.Valid},
		{name: "pn-counter, flaky", wl: EventualCounter{Decrements: true}, flaky: true, workers: 6, ops: 200, want: models.Valid},
		{name: "pn-counter, lost adds", wl: EventualCounter{Decrements: true}, bug: "lose-increment", workers: 6, ops: 200,
			want: models.Invalid, caught: "eventual-counter", kind: "wrong-final-read"},
	})
}

// TestEventualCounterGenerator: one key; g-counter only adds, pn-counter
// also subtracts; deltas small and never 0; one final read.
func TestEventualCounterGenerator(t *testing.T) {
	for _, pn := range []bool{false, true} {
		g := EventualCounter{Decrements: pn}.NewGenerator(Config{Concurrency: 3})
		rng := rand.New(rand.NewPCG(1, 2))
		neg := 0
		for i := range 400 {
			op := g.Next(i%3, rng)
			if op.Key != "0" {
				t.Fatalf("key %q", op.Key)
			}
			if op.F != "add" {
				continue
			}
			d, _ := history.Int(op.Value)
			if d == 0 || d > maxDelta || d < -maxDelta {
				t.Fatalf("delta %d", d)
			}
			if d < 0 {
				neg++
			}
		}
		if (neg > 0) != pn {
			t.Errorf("pn=%v: %d negative deltas", pn, neg)
		}
		if f := g.Final(); len(f) != 1 || f[0].F != "read" {
			t.Errorf("final %v", f)
		}
	}
}
