package counter

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/faultline/faultline/models"
)

func TestEventualHandWritten(t *testing.T) {
	tests := []struct {
		name    string
		ops     []string
		verdict models.Verdict
		stale   int64  // reads during the run outside their real-time bounds
		explain string // part of the reason
	}{
		{name: "converged after a partition", verdict: models.Valid, stale: 1, ops: []string{
			"0 invoke add 3 node=n1", "0 ok add 3 node=n1",
			"nuker invoke start-partition", "nuker info start-partition",
			"0 invoke add -1 node=n1", "0 ok add -1 node=n1",
			"1 invoke read nil node=n2", "1 ok read 3 node=n2", // stale: allowed
			"nuker invoke stop-partition", "nuker info stop-partition",
			"5 invoke read nil node=n1", "5 ok read 2 node=n1",
			"6 invoke read nil node=n2", "6 ok read 2 node=n2",
		}, explain: "1 reads during the run lay outside their real-time bounds"},
		{name: "indeterminate adds in any subset", verdict: models.Valid, ops: []string{
			"0 invoke add 1 node=n1", "0 ok add 1 node=n1",
			"1 invoke add 4 node=n2", "1 info add 4 node=n2",
			"2 invoke add -2 node=n3", "2 info add -2 node=n3",
			"3 invoke add 5 node=n1",                           // never completed
			"5 invoke read nil node=n1", "5 ok read 8 node=n1", // 1+4-2+5
			"6 invoke read nil node=n2", "6 ok read -1 node=n2", // 1-2
			"7 invoke read nil node=n3", "7 ok read 3 node=n3", // 1+4-2
		}},
		{name: "failed add ignored", verdict: models.Valid, ops: []string{
			"0 invoke add 1 node=n1", "0 fail add 1 node=n1",
			"5 invoke read nil node=n1", "5 ok read nil node=n1",
		}},
		{name: "a node never converged", verdict: models.Invalid, ops: []string{
			"0 invoke add 3 node=n1", "0 ok add 3 node=n1",
			"nuker invoke stop-partition", "nuker info stop-partition",
			"5 invoke read nil node=n1", "5 ok read 3 node=n1",
			"6 invoke read nil node=n2", "6 ok read 0 node=n2",
		}, explain: "Node n2's final read → 0 (process 6, ops 6–7) is outside [3, 3]: the ok adds sum to 3 and 0 indeterminate adds may add 0 to +0 (1 values possible)"},
		{name: "inside the interval, no subset", verdict: models.Invalid, ops: []string{
			"0 invoke add 4 node=n1", "0 info add 4 node=n1",
			"1 invoke add 4 node=n2", "1 info add 4 node=n2",
			"5 invoke read nil node=n1", "5 ok read 5 node=n1",
		}, explain: "inside [0, 8] but no subset of the indeterminate adds sums to 5"},
		{name: "only the last read after the heal counts", verdict: models.Valid, stale: 1, ops: []string{
			"0 invoke add 2 node=n1", "0 ok add 2 node=n1",
			"nuker invoke stop-partition", "nuker info stop-partition",
			"5 invoke read nil node=n2", "5 ok read 0 node=n2", // still catching up
			"5 invoke read nil node=n2", "5 ok read 2 node=n2",
		}},
		{name: "an add after the heal moves the quiescent point", verdict: models.Invalid, ops: []string{
			"nuker invoke stop-partition", "nuker info stop-partition",
			"5 invoke read nil node=n2", "5 ok read 0 node=n2",
			"0 invoke add 2 node=n1", "0 ok add 2 node=n1",
			"5 invoke read nil node=n2", "5 ok read 0 node=n2",
		}, explain: "Node n2's final read → 0"},
		{name: "no final read", verdict: models.Unknown, ops: []string{
			"0 invoke add 2 node=n1", "0 ok add 2 node=n1",
		}, explain: "no final read"},
		{name: "malformed add", verdict: models.Unknown, ops: []string{
			"0 invoke add x node=n1", "0 ok add x node=n1",
			"5 invoke read nil node=n1", "5 ok read 0 node=n1",
		}, explain: "1 malformed ops skipped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := (&Eventual{}).Check(context.Background(), hist(t, tt.ops...), models.Options{})
			if res.Verdict != tt.verdict {
				t.Errorf("verdict %s, want %s: %s", res.Verdict, tt.verdict, res.Reason)
			}
			if res.Stats["stale_reads"] != tt.stale {
				t.Errorf("stale_reads %d, want %d", res.Stats["stale_reads"], tt.stale)
			}
			if !strings.Contains(res.Reason, tt.explain) {
				t.Errorf("reason %q, want it to contain %q", res.Reason, tt.explain)
			}
			if (res.Verdict == models.Invalid) != (len(res.Anomalies) > 0) {
				t.Errorf("verdict %s with anomalies %v", res.Verdict, res.Anomalies)
			}
		})
	}
}

// TestAcceptableExact compares the bitset of subset sums with a
// brute-force enumeration.
func TestAcceptableExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 300 {
		n := rng.IntN(10)
		var ds []int64
		for range n {
			d := rng.Int64N(200) - 100
			if rng.IntN(3) == 0 {
				d = rng.Int64N(11) - 5
			}
			ds = append(ds, d)
		}
		base := rng.Int64N(50)
		s := acceptable(base, ds)
		want := map[int64]bool{}
		for mask := range 1 << n {
			sum := base
			for i, d := range ds {
				if mask&(1<<i) != 0 {
					sum += d
				}
			}
			want[sum] = true
		}
		for v := base + s.lo - 70; v <= base+s.hi+70; v++ {
			if s.contains(v) != want[v] {
				t.Fatalf("deltas %v base %d: contains(%d) = %v, want %v", ds, base, v, s.contains(v), want[v])
			}
		}
		if s.size() != int64(len(want)) {
			t.Fatalf("deltas %v: size %d, want %d", ds, s.size(), len(want))
		}
	}
}
