package linear

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// kvHistory simulates workers against a linearizable key-value store: n
// ops (invocations and completions) over keys, each op taking effect
// atomically when it completes. Reads are half the ops, writes of unique
// values a third, the rest cas; 1% of writes end info (taking effect or
// not) and the worker continues as a new process, as in Jepsen.
func kvHistory(n, workers, keys int, seed uint64) []history.Op {
	rng := rand.New(rand.NewPCG(seed, 1))
	type worker struct {
		proc history.Process
		busy bool
		op   history.Op
	}
	ws := make([]*worker, workers)
	for i := range ws {
		ws[i] = &worker{proc: history.Process(i)}
	}
	vals := make([]int64, keys)
	set := make([]bool, keys)
	next := int64(1)
	ops := make([]history.Op, 0, n)
	emit := func(o history.Op) {
		o.Index = int64(len(ops))
		o.Time = o.Index * 1000
		ops = append(ops, o)
	}
	for len(ops) < n {
		w := ws[rng.IntN(workers)]
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
				old := vals[k]
				if rng.IntN(2) == 0 {
					old = next // bound to fail
				}
				o.F, o.Value = "cas", []any{old, next}
				next++
			}
			w.busy, w.op = true, o
			emit(o)
			continue
		}
		o, k := w.op, 0
		fmt.Sscan(o.Key, &k)
		done := o
		done.Type = history.OK
		switch o.F {
		case "read":
			done.Value = nil
			if set[k] {
				done.Value = vals[k]
			}
		case "write":
			v, _ := history.Int(o.Value)
			if rng.IntN(100) == 0 {
				done.Type = history.Info
				if rng.IntN(2) == 0 {
					break
				}
			}
			vals[k], set[k] = v, true
		case "cas":
			a, b, _ := history.IntPair(o.Value)
			if set[k] && vals[k] == a {
				vals[k] = b
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

// BenchmarkKV checks linearizable kv histories of 10k, 100k and 1M ops,
// with 1000 ops per key and on a single key, with the own search and with
// porcupine (skipped on 1M ops on one key: porcupine's cache keeps a
// bitset over all of a key's ops per entry, and would take hours).
func BenchmarkKV(b *testing.B) {
	for _, bc := range []struct {
		n, keys int
	}{
		{10_000, 10}, {100_000, 100}, {1_000_000, 1000},
		{10_000, 1}, {100_000, 1}, {1_000_000, 1},
	} {
		for _, search := range []string{"own", "porcupine"} {
			b.Run(fmt.Sprintf("ops=%d/keys=%d/search=%s", bc.n, bc.keys, search), func(b *testing.B) {
				if search == "porcupine" && bc.keys == 1 && bc.n > 100_000 {
					b.Skip("porcupine on 1M ops on one key: hours")
				}
				ops := kvHistory(bc.n, 10, bc.keys, 1)
				c := &Checker{Model: KV, Timeout: -1, Porcupine: search == "porcupine"}
				b.ReportAllocs()
				for b.Loop() {
					if res := c.Check(context.Background(), ops, models.Options{}); res.Verdict != models.Valid {
						b.Fatalf("%s: %s", res.Verdict, res.Reason)
					}
				}
				b.ReportMetric(float64(bc.n)*float64(b.N)/b.Elapsed().Seconds(), "ops/s")
			})
		}
	}
}

// BenchmarkInvalid is the time to the first witness: a kv history on one
// key with one stale read two thirds of the way in, checked until the
// verdict and its explanation.
func BenchmarkInvalid(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		for _, search := range []string{"own", "porcupine"} {
			b.Run(fmt.Sprintf("ops=%d/keys=1/search=%s", n, search), func(b *testing.B) {
				if search == "porcupine" && n > 10_000 {
					b.Skip("porcupine on an invalid key of 100k ops: more than minutes")
				}
				ops := staleAt(kvHistory(n, 10, 1, 1), n*2/3)
				c := &Checker{Model: KV, Timeout: -1, Porcupine: search == "porcupine"}
				b.ReportAllocs()
				for b.Loop() {
					if res := c.Check(context.Background(), ops, models.Options{}); res.Verdict != models.Invalid {
						b.Fatalf("%s: %s", res.Verdict, res.Reason)
					}
				}
			})
		}
	}
}

// BenchmarkObjects checks linearizable histories of the object models
// (mutex, queue, set, counter) from the simulator, 2-4 clients with ops of
// unknown outcome, with the checker (which races the own search and
// porcupine on these models) and with porcupine alone, one after the other.
func BenchmarkObjects(b *testing.B) {
	newObj := simObjects()
	for i, model := range []string{Mutex, FIFOQueue, Set, Counter} {
		for _, n := range []int{1_000, 10_000} {
			rng := rand.New(rand.NewPCG(uint64(i), uint64(n)))
			ops := simulateWith(rng, newObj[model](), simParams{ops: n})
			for _, search := range []string{"race", "porcupine"} {
				b.Run(fmt.Sprintf("model=%s/ops=%d/search=%s", model, n, search), func(b *testing.B) {
					c := &Checker{Model: model, Timeout: time.Minute, Porcupine: search == "porcupine"}
					b.ReportAllocs()
					for b.Loop() {
						if res := c.Check(context.Background(), ops, models.Options{}); res.Verdict == models.Invalid {
							b.Fatalf("%s: %s", res.Verdict, res.Reason)
						} else if res.Verdict == models.Unknown {
							b.Skipf("unknown: %s", res.Reason)
						}
					}
				})
			}
		}
	}
}
