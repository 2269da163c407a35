package uniqueids

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// BenchmarkCheck checks histories of n entries (n/2 generates by 10
// processes, string ids as a Maelstrom node returns them, read back from
// JSON as numbers would be); ops/s counts history entries.
func BenchmarkCheck(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("ops=%d", n), func(b *testing.B) {
			ops := make([]history.Op, 0, n)
			for i := range n / 2 {
				p := history.Process(i % 10)
				var id any = fmt.Sprintf("n%d-1-%d", i%3+1, i)
				if i%2 == 1 {
					id = json.Number(fmt.Sprint(i))
				}
				ops = append(ops,
					history.Op{Index: int64(2 * i), Time: int64(2 * i), Type: history.Invoke, Process: p, F: "generate"},
					history.Op{Index: int64(2*i + 1), Time: int64(2*i + 1), Type: history.OK, Process: p, F: "generate", Value: id})
			}
			c := New()
			b.ReportAllocs()
			for b.Loop() {
				if res := c.Check(context.Background(), ops, models.Options{}); res.Verdict != models.Valid {
					b.Fatalf("%s: %s", res.Verdict, res.Reason)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}
