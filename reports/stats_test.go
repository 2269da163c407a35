package reports

import (
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/faultline/faultline/models/history"
)

const ms = int64(time.Millisecond)

// hist builds a history from ops, numbering them in order.
func hist(ops ...history.Op) []history.Op {
	for i := range ops {
		ops[i].Index = int64(i)
	}
	return ops
}

func cl(t int64, typ history.Type, p int, f string) history.Op {
	return history.Op{Time: t, Type: typ, Process: history.Process(p), F: f}
}

func nk(t int64, typ history.Type, f string, nodes ...string) history.Op {
	return history.Op{Time: t, Type: typ, Process: history.Nuker, F: f, Nodes: nodes}
}

func lat(n int, p50, p95, p99, mx int64) Latency {
	return Latency{N: n, P50: time.Duration(p50), P95: time.Duration(p95), P99: time.Duration(p99), Max: time.Duration(mx)}
}

func TestStats(t *testing.T) {
	// A partition from 15ms to 26ms; a 10ms read before it, a 20ms failed
	// write and a 30ms read overlapping it, a write that times out (info)
	// after it, and a cas still pending when the history ends.
	small := hist(
		cl(0, history.Invoke, 0, "read"),
		cl(0, history.Invoke, 1, "write"),
		cl(10*ms, history.OK, 0, "read"),
		nk(15*ms, history.Invoke, "start-partition"),
		nk(16*ms, history.Info, "start-partition", "n1", "n2", "n3"),
		cl(20*ms, history.Fail, 1, "write"),
		cl(20*ms, history.Invoke, 0, "read"),
		nk(25*ms, history.Invoke, "stop-partition"),
		nk(26*ms, history.Info, "stop-partition", "n1", "n2", "n3"),
		cl(30*ms, history.Invoke, 1, "write"),
		cl(40*ms, history.Invoke, 2, "cas"),
		cl(50*ms, history.OK, 0, "read"),
		cl(1030*ms, history.Info, 1, "write"),
	)
	span := 1030 * ms

	// Two overlapping kinds and a pause never healed: the pause runs to the
	// last op (100ms).
	overlapping := hist(
		nk(10*ms, history.Invoke, "start-kill"),
		nk(40*ms, history.Info, "stop-kill"),
		nk(30*ms, history.Invoke, "start-pause"),
		cl(0, history.Invoke, 0, "read"),
		cl(5*ms, history.OK, 0, "read"), // healthy, 5ms
		cl(20*ms, history.Invoke, 0, "read"),
		cl(35*ms, history.OK, 0, "read"), // kill and pause, 15ms
		cl(50*ms, history.Invoke, 0, "read"),
		cl(100*ms, history.OK, 0, "read"), // pause, 50ms
	)

	tests := []struct {
		name string
		ops  []history.Op
		want Summary
	}{
		{
			name: "empty",
			want: Summary{Overall: Phase{Name: "overall"}, Healthy: Phase{Name: "healthy"}},
		},
		{
			name: "partition",
			ops:  small,
			want: Summary{
				Ops:      5,
				Outcomes: Counts{OK: 2, Fail: 1, Info: 1, Pending: 1},
				ByF: []FCounts{
					{F: "cas", Counts: Counts{Pending: 1}},
					{F: "read", Counts: Counts{OK: 2}},
					{F: "write", Counts: Counts{Fail: 1, Info: 1}},
				},
				Start: 0, End: span,
				Overall: Phase{
					Name: "overall", Time: time.Duration(span),
					Completed:    Counts{OK: 2, Fail: 1, Info: 1},
					Throughput:   4 / 1.03,
					OKThroughput: 2 / 1.03,
					// 10, 20, 30ms: p50 is the 2nd, p95 and p99 the 3rd.
					Latency:     lat(3, 20*ms, 30*ms, 30*ms, 30*ms),
					InfoLatency: lat(1, 1000*ms, 1000*ms, 1000*ms, 1000*ms),
				},
				Healthy: Phase{
					Name: "healthy", Time: time.Duration(span - 11*ms),
					Completed:    Counts{OK: 2, Info: 1},
					Throughput:   3 / 1.019,
					OKThroughput: 2 / 1.019,
					Latency:      lat(1, 10*ms, 10*ms, 10*ms, 10*ms),
					InfoLatency:  lat(1, 1000*ms, 1000*ms, 1000*ms, 1000*ms),
				},
				Faults: []Phase{{
					Name: "partition", Windows: 1, Time: time.Duration(11 * ms),
					Completed:  Counts{Fail: 1},
					Throughput: 1 / 0.011,
					Latency:    lat(2, 20*ms, 30*ms, 30*ms, 30*ms),
				}},
			},
		},
		{
			name: "overlapping and open windows",
			ops:  overlapping,
			want: Summary{
				Ops: 3, Outcomes: Counts{OK: 3}, ByF: []FCounts{{F: "read", Counts: Counts{OK: 3}}},
				Start: 0, End: 100 * ms,
				Overall: Phase{
					Name: "overall", Time: time.Duration(100 * ms), Completed: Counts{OK: 3},
					Throughput: 30, OKThroughput: 30,
					Latency: lat(3, 15*ms, 50*ms, 50*ms, 50*ms),
				},
				// Faults cover 10ms..100ms.
				Healthy: Phase{
					Name: "healthy", Time: time.Duration(10 * ms), Completed: Counts{OK: 1},
					Throughput: 100, OKThroughput: 100,
					Latency: lat(1, 5*ms, 5*ms, 5*ms, 5*ms),
				},
				Faults: []Phase{
					{
						Name: "kill", Windows: 1, Time: time.Duration(30 * ms), Completed: Counts{OK: 1},
						Throughput: 1 / 0.03, OKThroughput: 1 / 0.03,
						Latency: lat(1, 15*ms, 15*ms, 15*ms, 15*ms),
					},
					{
						Name: "pause", Windows: 1, Time: time.Duration(70 * ms), Completed: Counts{OK: 2},
						Throughput: 2 / 0.07, OKThroughput: 2 / 0.07,
						Latency: lat(2, 15*ms, 50*ms, 50*ms, 50*ms),
					},
				},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Stats(tt.ops)
			// Compare rates with a tolerance, the rest exactly.
			phases := func(s *Summary) []*Phase {
				ps := []*Phase{&s.Overall, &s.Healthy}
				for i := range s.Faults {
					ps = append(ps, &s.Faults[i])
				}
				return ps
			}
			gp, wp := phases(&got), phases(&tt.want)
			if len(gp) == len(wp) {
				for i := range gp {
					for _, r := range [][2]*float64{{&gp[i].Throughput, &wp[i].Throughput}, {&gp[i].OKThroughput, &wp[i].OKThroughput}} {
						if math.Abs(*r[0]-*r[1]) > 1e-9 {
							t.Errorf("%s: rate %v, want %v", gp[i].Name, *r[0], *r[1])
						}
						*r[0] = *r[1]
					}
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Stats:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestPercentiles(t *testing.T) {
	seq := func(n int) []time.Duration {
		var ds []time.Duration
		for i := n; i >= 1; i-- { // unsorted on purpose
			ds = append(ds, time.Duration(i))
		}
		return ds
	}
	tests := []struct {
		name string
		in   []time.Duration
		want Latency
	}{
		{"none", nil, Latency{}},
		{"one", []time.Duration{7}, lat(1, 7, 7, 7, 7)},
		{"1..10", seq(10), lat(10, 5, 10, 10, 10)},
		{"1..100", seq(100), lat(100, 50, 95, 99, 100)},
		{"1..1000", seq(1000), lat(1000, 500, 950, 990, 1000)},
		{"1..20", seq(20), lat(20, 10, 19, 20, 20)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentiles(tt.in); got != tt.want {
				t.Errorf("percentiles = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestPairOps(t *testing.T) {
	ops := hist(
		cl(0, history.Invoke, 0, "read"),
		cl(1, history.Invoke, 0, "write"), // the read is left pending
		cl(2, history.OK, 0, "write"),
		cl(3, history.OK, 5, "read"), // completion without invocation
		nk(4, history.Invoke, "start-kill"),
	)
	opers, at := pairOps(ops)
	want := []operation{
		{inv: 0, comp: -1, f: "read", start: 0, end: 0},
		{inv: 1, comp: 2, f: "write", start: 1, end: 2, outcome: history.OK},
	}
	if !reflect.DeepEqual(opers, want) {
		t.Errorf("operations = %+v, want %+v", opers, want)
	}
	if wantAt := []int{0, 1, 1, -1, -1}; !reflect.DeepEqual(at, wantAt) {
		t.Errorf("at = %v, want %v", at, wantAt)
	}
}

// TestPercentilesAgreeWithSort compares the selection with the ranks of
// a sorted copy, on random lists with and without many equal values.
func TestPercentilesAgreeWithSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		n := 1 + rng.IntN(300)
		span := int64(1 + rng.IntN(1000))
		if rng.IntN(3) == 0 {
			span = 3 // mostly equal values
		}
		ds := make([]time.Duration, n)
		for i := range ds {
			ds[i] = time.Duration(rng.Int64N(span))
		}
		sorted := slices.Clone(ds)
		slices.Sort(sorted)
		rank := func(q int) time.Duration { return sorted[max((q*n+99)/100-1, 0)] }
		want := Latency{N: n, P50: rank(50), P95: rank(95), P99: rank(99), Max: sorted[n-1]}
		if got := percentiles(ds); got != want {
			t.Fatalf("%v: percentiles = %+v, want %+v", sorted, got, want)
		}
	}
}
