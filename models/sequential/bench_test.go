package sequential

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/models/linear"
)

// replicaHistory simulates workers against a replicated key-value store
// with n history entries: writes and cas ops go to each key's log in one
// global order; a worker reads a key at its own position in that log,
// which never moves back, jumps to the end when the worker writes the
// key, and otherwise trails the end by up to lag writes. With lag 0 the
// history is linearizable, with more it is sequentially consistent but
// has stale reads. Values are unique; 1% of writes end info (taking
// effect or not) and the worker continues as a new process.
func replicaHistory(n, workers, keys, lag int, seed uint64) []history.Op {
	rng := rand.New(rand.NewPCG(seed, 2))
	logs := make([][]int64, keys)
	pos := make([][]int, workers) // worker -> key -> position in the log
	for w := range pos {
		pos[w] = make([]int, keys)
	}
	type worker struct {
		proc history.Process
		busy bool
		op   history.Op
		key  int
	}
	ws := make([]*worker, workers)
	for i := range ws {
		ws[i] = &worker{proc: history.Process(i)}
	}
	next := int64(1)
	ops := make([]history.Op, 0, n)
	emit := func(o history.Op) {
		o.Index = int64(len(ops))
		o.Time = o.Index * 1000
		ops = append(ops, o)
	}
	for len(ops) < n {
		i := rng.IntN(workers)
		w := ws[i]
		if !w.busy {
			k := rng.IntN(keys)
			o := history.Op{Process: w.proc, Type: history.Invoke, Key: fmt.Sprint(k)}
			switch r := rng.IntN(6); {
			case r < 3:
				o.F = "read"
			case r < 5:
				o.F, o.Value = "write", next
				next++
			default:
				old := next // bound to fail
				if l := logs[k]; len(l) > 0 && rng.IntN(2) == 0 {
					old = l[len(l)-1]
				}
				o.F, o.Value = "cas", []any{old, next}
				next++
			}
			w.busy, w.op, w.key = true, o, k
			emit(o)
			continue
		}
		o, k := w.op, w.key
		done := o
		done.Type = history.OK
		switch o.F {
		case "read":
			p := max(pos[i][k], len(logs[k])-rng.IntN(lag+1))
			pos[i][k] = p
			done.Value = nil
			if p > 0 {
				done.Value = logs[k][p-1]
			}
		case "write":
			v, _ := history.Int(o.Value)
			if rng.IntN(100) == 0 {
				done.Type = history.Info
				if rng.IntN(2) == 0 {
					break
				}
			}
			logs[k] = append(logs[k], v)
			pos[i][k] = len(logs[k])
		case "cas":
			a, b, _ := history.IntPair(o.Value)
			if l := logs[k]; len(l) > 0 && l[len(l)-1] == a {
				logs[k] = append(logs[k], b)
				pos[i][k] = len(logs[k])
			} else {
				done.Type = history.Fail
			}
		}
		emit(done)
		w.busy = false
		if done.Type == history.Info {
			w.proc += history.Process(workers)
		}
	}
	return ops
}

// TestReplicaHistory: the benchmark's generator makes what it says.
func TestReplicaHistory(t *testing.T) {
	for _, lag := range []int{0, 3} {
		ops := replicaHistory(4000, 10, 4, lag, 3)
		if res := (&Checker{}).Check(context.Background(), ops, models.Options{}); res.Verdict != models.Valid {
			t.Errorf("lag %d: sequential %s (%s)", lag, res.Verdict, res.Reason)
		}
		want := models.Valid
		if lag > 0 {
			want = models.Invalid
		}
		if res := linear.NewKV().Check(context.Background(), ops, models.Options{}); res.Verdict != want {
			t.Errorf("lag %d: linearizable %s (%s), want %s", lag, res.Verdict, res.Reason, want)
		}
	}
}

// BenchmarkSequential checks generated kv histories of 10k, 100k and 1M
// entries for sequential consistency, 1000 entries per key and on a single
// key, linearizable (lag 0) and with stale reads (lag 3).
func BenchmarkSequential(b *testing.B) {
	for _, bc := range []struct {
		n, keys, lag int
	}{
		{10_000, 10, 0}, {100_000, 100, 0}, {1_000_000, 1000, 0},
		{10_000, 10, 3}, {100_000, 100, 3}, {1_000_000, 1000, 3},
		{10_000, 1, 0}, {100_000, 1, 0}, {1_000_000, 1, 0},
		{10_000, 1, 3}, {100_000, 1, 3}, {1_000_000, 1, 3},
	} {
		b.Run(fmt.Sprintf("lag=%d/ops=%d/keys=%d", bc.lag, bc.n, bc.keys), func(b *testing.B) {
			ops := replicaHistory(bc.n, 10, bc.keys, bc.lag, 1)
			c := &Checker{Timeout: -1}
			b.ReportAllocs()
			var nodes int64
			for b.Loop() {
				res := c.Check(context.Background(), ops, models.Options{})
				if res.Verdict != models.Valid {
					b.Fatalf("%s: %s", res.Verdict, res.Reason)
				}
				nodes = res.Stats["nodes"]
			}
			b.ReportMetric(float64(bc.n)*float64(b.N)/b.Elapsed().Seconds(), "ops/s")
			b.ReportMetric(float64(nodes), "nodes")
		})
	}
}
