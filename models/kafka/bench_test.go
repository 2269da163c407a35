package kafka

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/faultline/faultline/models"
)

// BenchmarkCheck judges a random correct history of 140,409 ops (6
// clients, overlapping ops, failures and timeouts): about 0.5 s here.
func BenchmarkCheck(b *testing.B) {
	l := &simLog{logs: map[string][]int64{}, acked: map[string]map[int64]bool{}, committed: map[string]int64{}}
	ops := simulate(rand.New(rand.NewPCG(1, 2)), l, 6, 200_000)
	for b.Loop() {
		if r := New().Check(context.Background(), ops, models.Options{}); r.Verdict != models.Valid {
			b.Fatalf("%s: %s", r.Verdict, r.Reason)
		}
	}
}
