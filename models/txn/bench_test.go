package txn

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// appendHistory simulates n list-append transactions of 1-4 micro-ops from
// procs concurrent clients against a serializable store, in the shape of
// Elle's generator: a pool of 8 active keys, each retired after 32 appends.
// A transaction takes effect when it completes; 1% fail (no effect) and 1%
// are info (effect or not), after which the client takes a new process id.
func appendHistory(n, procs int, seed uint64) []history.Op {
	rng := rand.New(rand.NewPCG(seed, seed))
	const poolSize, perKey = 8, 32
	pool := make([]int64, poolSize)
	for i := range pool {
		pool[i] = int64(i)
	}
	nextKey := int64(poolSize)
	store := map[int64][]int64{}
	count := map[int64]int64{} // appends handed out per key
	type client struct {
		proc    history.Process
		pending []any
	}
	clients := make([]client, procs)
	for i := range clients {
		clients[i].proc = history.Process(i)
	}
	nextProc := history.Process(procs)
	ops := make([]history.Op, 0, 2*n)
	emit := func(typ history.Type, p history.Process, v any) {
		ops = append(ops, history.Op{Index: int64(len(ops)), Time: int64(len(ops)) * 1000, Type: typ, Process: p, F: F, Value: v})
	}
	started, open := 0, 0
	for started < n || open > 0 {
		c := &clients[rng.IntN(procs)]
		if c.pending == nil {
			if started == n {
				continue
			}
			started++
			var mops []any
			for range 1 + rng.IntN(4) {
				slot := rng.IntN(poolSize)
				k := pool[slot]
				if rng.IntN(2) == 0 {
					mops = append(mops, []any{"r", k, nil})
					continue
				}
				count[k]++
				mops = append(mops, []any{"append", k, count[k]})
				if count[k] >= perKey {
					pool[slot] = nextKey
					nextKey++
				}
			}
			c.pending = mops
			open++
			emit(history.Invoke, c.proc, mops)
			continue
		}
		typ := history.OK
		switch r := rng.IntN(100); {
		case r == 0:
			typ = history.Fail
		case r == 1:
			typ = history.Info
		}
		apply := typ == history.OK || typ == history.Info && rng.IntN(2) == 0
		done := make([]any, len(c.pending))
		for i, m := range c.pending {
			m := m.([]any)
			k := m[1].(int64)
			switch m[0] {
			case "append":
				if apply {
					store[k] = append(store[k], m[2].(int64))
				}
				done[i] = m
			default:
				if typ != history.OK {
					done[i] = m
					continue
				}
				read := make([]any, len(store[k]))
				for j, v := range store[k] {
					read[j] = v
				}
				done[i] = []any{"r", k, read}
			}
		}
		emit(typ, c.proc, done)
		c.pending = nil
		open--
		if typ == history.Info {
			c.proc = nextProc
			nextProc++
		}
	}
	return ops
}

func TestGeneratedHistoryValid(t *testing.T) {
	ops := appendHistory(5000, 10, 1)
	res := (&Checker{}).Check(context.Background(), ops, models.Options{})
	if res.Verdict != models.Valid {
		t.Fatalf("verdict %s: %s", res.Verdict, res.Reason)
	}
	t.Logf("stats %v in %.1f ms", res.Stats, float64(res.DurationNS)/1e6)
}

// BenchmarkListAppend checks generated strict-serializable list-append
// histories of 10k and 100k transactions from 10 clients.
func BenchmarkListAppend(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		ops := appendHistory(n, 10, 1)
		b.Run(fmt.Sprintf("txns=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				res := (&Checker{}).Check(context.Background(), ops, models.Options{})
				if res.Verdict != models.Valid {
					b.Fatalf("verdict %s: %s", res.Verdict, res.Reason)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "txns/s")
		})
	}
}
