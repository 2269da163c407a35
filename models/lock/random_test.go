package lock

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// genConfig shapes a generated lock history.
type genConfig struct {
	ops    int     // approximate number of history entries
	procs  int     // concurrent workers
	keys   int     // locks (0: one lock without a key)
	info   float64 // chance that a completion is reported as info
	tokens bool    // grants carry fencing tokens
	unsafe float64 // chance that the service grants a held lock anyway (a bug)
}

// generate runs a try-lock service (each op takes effect atomically at one
// moment between its invocation and completion; an acquire of a held lock
// fails; a release by a non-holder fails) under concurrent workers that
// acquire, work and release. Locks held by abandoned processes (after an
// info) are freed a little later, as a session or lease would lapse. With
// unsafe > 0 the service sometimes grants a held lock: a bug to find.
func generate(rng *rand.Rand, g genConfig) []history.Op {
	type lock struct {
		holder history.Process
		held   bool
		token  int64
		expiry int // step at which an abandoned holder's grant lapses, or 0
	}
	nk := max(g.keys, 1)
	locks := make([]lock, nk)
	type worker struct {
		proc    history.Process
		busy    bool
		applied bool
		ok      bool
		f       string
		key     int
		token   int64
		holds   bool // this worker's process holds key
	}
	ws := make([]worker, g.procs)
	for i := range ws {
		ws[i].proc = history.Process(i)
	}
	next := history.Process(g.procs)
	ops := make([]history.Op, 0, g.ops+2)
	keyName := func(k int) string {
		if g.keys == 0 {
			return ""
		}
		return strconv.Itoa(k)
	}
	emit := func(w *worker, typ history.Type, v any) {
		ops = append(ops, history.Op{Index: int64(len(ops)), Time: int64(len(ops)) * 1000, Type: typ, Process: w.proc, F: w.f, Key: keyName(w.key), Value: v})
	}
	for step := 0; len(ops) < g.ops; step++ {
		for k := range locks {
			if l := &locks[k]; l.held && l.expiry > 0 && step >= l.expiry {
				l.held, l.expiry = false, 0
			}
		}
		w := &ws[rng.IntN(len(ws))]
		switch {
		case !w.busy:
			w.busy, w.applied, w.ok = true, false, false
			switch {
			case w.holds && rng.IntN(3) > 0:
				w.f = "release"
			case w.holds:
				w.f = "write"
			default:
				w.f, w.key = "acquire", rng.IntN(nk)
			}
			emit(w, history.Invoke, nil)
		case !w.applied && rng.IntN(2) == 0:
			w.applied = true
			l := &locks[w.key]
			switch w.f {
			case "acquire":
				if !l.held || rng.Float64() < g.unsafe {
					l.held, l.holder, l.expiry = true, w.proc, 0
					l.token++
					w.ok, w.token = true, l.token
				}
			case "release":
				if l.held && l.holder == w.proc {
					l.held, w.ok = false, true
				}
			case "write":
				w.ok = true
			}
		default:
			w.busy = false
			info := rng.Float64() < g.info
			var v any
			if w.f == "acquire" && w.ok && g.tokens {
				v = w.token
			}
			switch {
			case info:
				emit(w, history.Info, nil)
			case w.applied && w.ok:
				emit(w, history.OK, v)
			default:
				emit(w, history.Fail, nil)
			}
			switch {
			case info:
				// Abandoned: whatever it holds lapses soon.
				for k := range locks {
					if l := &locks[k]; l.held && l.holder == w.proc {
						l.expiry = step + 1 + rng.IntN(20)
					}
				}
				w.proc, w.holds = next, false
				next++
			case w.f == "acquire" && w.applied && w.ok:
				w.holds = true
			case w.f == "release" && w.applied:
				w.holds = false // released, or never held (fail)
			}
		}
	}
	return ops
}

// reference decides both properties pair by pair from the definitions in
// the package comment.
func reference(ops []history.Op, lease time.Duration) (doubleHold, fencing bool) {
	type h struct {
		p              history.Process
		key            string
		inv, done, end int
		token          int64
		hasToken       bool
	}
	var holds []h
	pending := map[history.Process]int{}
	for pos, op := range ops {
		if op.Type == history.Invoke {
			pending[op.Process] = pos
			continue
		}
		inv := pending[op.Process]
		delete(pending, op.Process)
		if ops[inv].F != "acquire" || op.Type != history.OK {
			continue
		}
		x := h{p: op.Process, key: op.Key, inv: inv, done: pos, end: len(ops) + 1}
		if op.Value != nil {
			x.token, x.hasToken = op.Value.(int64), true
		}
		for q := pos + 1; q < len(ops); q++ {
			o := ops[q]
			if o.Process != x.p {
				continue
			}
			if o.Type == history.Invoke && o.Key == x.key && (o.F == "release" || o.F == "acquire") || o.Type == history.Info {
				x.end = q
				break
			}
		}
		if lease > 0 {
			for q := inv; q < len(ops); q++ {
				if ops[q].Time >= ops[inv].Time+lease.Nanoseconds() {
					x.end = min(x.end, q)
					break
				}
			}
		}
		holds = append(holds, x)
	}
	for i, a := range holds {
		for j, b := range holds {
			if i == j || a.key != b.key {
				continue
			}
			if a.p != b.p && a.done < b.done && b.done < a.end {
				doubleHold = true
			}
			if a.hasToken && b.hasToken && (a.done < b.inv && b.token <= a.token || a.token == b.token) {
				fencing = true
			}
		}
	}
	return doubleHold, fencing
}

func TestRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(29, 31))
	found := [2]int{}
	for i := range 600 {
		g := genConfig{ops: 10 + rng.IntN(150), procs: 1 + rng.IntN(5), keys: rng.IntN(3), info: 0.15 * rng.Float64(), tokens: rng.IntN(4) > 0}
		buggy := i%2 == 1
		if buggy {
			g.unsafe = 0.5 * rng.Float64()
		}
		ops := generate(rng, g)
		if buggy && g.tokens && rng.IntN(2) == 0 {
			// Swap the tokens of two ok acquires.
			var oks []int
			for p, op := range ops {
				if op.F == "acquire" && op.Type == history.OK {
					oks = append(oks, p)
				}
			}
			if len(oks) > 1 {
				a, b := oks[rng.IntN(len(oks))], oks[rng.IntN(len(oks))]
				ops[a].Value, ops[b].Value = ops[b].Value, ops[a].Value
			}
		}
		var lease time.Duration
		if rng.IntN(3) == 0 {
			lease = time.Duration(1+rng.IntN(30)) * time.Microsecond // ops are 1µs apart
		}
		res := (&Checker{Lease: lease, MaxAnomalies: -1}).Check(context.Background(), ops, models.Options{})
		wantHold, wantFence := reference(ops, lease)
		if !buggy && (wantHold || wantFence) {
			t.Fatalf("history %d: the reference faults a correct lock service", i)
		}
		gotHold := res.Stats["double_holds"] > 0
		gotFence := res.Stats["fencing_backward"]+res.Stats["fencing_repeat"] > 0
		if gotHold != wantHold || gotFence != wantFence {
			t.Fatalf("history %d (%+v, lease %v): double hold %v (reference %v), fencing %v (reference %v): %v",
				i, g, lease, gotHold, wantHold, gotFence, wantFence, res.Anomalies)
		}
		if (res.Verdict == models.Invalid) != (wantHold || wantFence) {
			t.Fatalf("history %d: verdict %s: %s", i, res.Verdict, res.Reason)
		}
		if wantHold {
			found[0]++
		}
		if wantFence {
			found[1]++
		}
	}
	if found[0] < 30 || found[1] < 30 {
		t.Errorf("only %v double holds and fencing faults: the test does not exercise the checks", found)
	}
}

func BenchmarkCheck(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("ops=%d", n), func(b *testing.B) {
			ops := generate(rand.New(rand.NewPCG(1, 2)), genConfig{ops: n, procs: 10, keys: 8, info: 0.01, tokens: true})
			c := New()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if res := c.Check(context.Background(), ops, models.Options{}); res.Verdict != models.Valid {
					b.Fatalf("%s: %s", res.Verdict, res.Reason)
				}
			}
			b.ReportMetric(float64(len(ops))*float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}
