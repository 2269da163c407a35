package sequential

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/models/linear"
)

// refOp is one op as the reference sees it, from the definitions: fail
// ops are gone, ok ops must be placed, info and unfinished ops may be.
type refOp struct {
	op        history.Op // the invocation
	res       any        // the completion's value when known
	known     bool
	after     []int // known ops of the same process invoked earlier
	key       string
	call, ret int
}

func refOps(ops []history.Op) []refOp {
	pending := map[history.Process]int{}
	type pair struct{ inv, done int }
	var pairs []pair
	for i, op := range ops {
		if op.Type == history.Invoke {
			if prev, ok := pending[op.Process]; ok {
				pairs = append(pairs, pair{prev, -1})
			}
			pending[op.Process] = i
			continue
		}
		if inv, ok := pending[op.Process]; ok {
			delete(pending, op.Process)
			pairs = append(pairs, pair{inv, i})
		}
	}
	for _, inv := range pending {
		pairs = append(pairs, pair{inv, -1})
	}
	slices.SortFunc(pairs, func(a, b pair) int { return a.inv - b.inv })
	var rs []refOp
	for _, p := range pairs {
		r := refOp{op: ops[p.inv], key: ops[p.inv].Key, call: p.inv, ret: p.done}
		if p.done >= 0 {
			switch ops[p.done].Type {
			case history.Fail:
				continue
			case history.OK:
				r.known, r.res = true, ops[p.done].Value
			}
		}
		for j, q := range rs {
			if q.known && q.op.Process == r.op.Process {
				r.after = append(r.after, j)
			}
		}
		rs = append(rs, r)
	}
	return rs
}

// refRegister is the register written out plainly; states are maps from
// key to "nil" or a value.
func refRegister(st map[string]string, r refOp) (bool, map[string]string) {
	cur := st[r.key]
	if cur == "" {
		cur = "nil"
	}
	set := func(v any) map[string]string {
		next := map[string]string{}
		for k, x := range st {
			next[k] = x
		}
		next[r.key] = fmt.Sprint(v)
		return next
	}
	switch r.op.F {
	case "read":
		if !r.known {
			return true, st
		}
		want := "nil"
		if r.res != nil {
			want = fmt.Sprint(r.res)
		}
		return cur == want, st
	case "write":
		return true, set(r.op.Value)
	}
	a, b, _ := history.IntPair(r.op.Value)
	if cur == fmt.Sprint(a) {
		return true, set(b)
	}
	return !r.known, st
}

// enumerate tries every interleaving of rs that keeps each process's order
// (an op of unknown outcome placed after its process's earlier ops, or
// never) and reports whether one is a legal run of step.
func enumerate[S any](rs []refOp, init S, step func(S, refOp) (bool, S)) bool {
	placed := make([]bool, len(rs))
	var try func(st S, left int) bool
	try = func(st S, left int) bool {
		if left == 0 {
			return true
		}
		for i, r := range rs {
			if placed[i] || slices.ContainsFunc(r.after, func(j int) bool { return !placed[j] }) {
				continue
			}
			ok, next := step(st, r)
			if !ok {
				continue
			}
			placed[i] = true
			n := left
			if r.known {
				n--
			}
			found := try(next, n)
			placed[i] = false
			if found {
				return true
			}
		}
		return false
	}
	known := 0
	for _, r := range rs {
		if r.known {
			known++
		}
	}
	return try(init, known)
}

// referenceRegister decides sequential consistency of a register history,
// key by key or for the whole store.
func referenceRegister(ops []history.Op, whole bool) bool {
	rs := refOps(ops)
	if whole {
		return enumerate(rs, map[string]string{}, refRegister)
	}
	byKey := map[string][]refOp{}
	for _, r := range refOps(ops) {
		byKey[r.key] = append(byKey[r.key], r)
	}
	for _, part := range byKey {
		if !enumerate(refOps(keyOps(ops, part[0].key)), map[string]string{}, refRegister) {
			return false
		}
	}
	return true
}

// keyOps is the part of ops on key.
func keyOps(ops []history.Op, key string) []history.Op {
	var out []history.Op
	for _, o := range ops {
		if o.Key == key {
			out = append(out, o)
		}
	}
	return out
}

// replicas simulates clients of a replicated register: writes go to a log
// in one global order; each client reads at its own position in the log,
// which only moves forward and jumps to the end when it writes, so the
// history is sequentially consistent but often stale. Occasionally a
// client's position goes backwards or a read is corrupted, info ops take
// effect now, later or never, fail ops rarely lie, and the run may be cut
// short. After info a client continues as a new process.
func replicas(rng *rand.Rand, keys []string, maxOps int) []history.Op {
	type entry struct {
		key string
		val int64
	}
	var log []entry
	value := func(pos int, key string) any {
		for i := pos - 1; i >= 0; i-- {
			if log[i].key == key {
				return log[i].val
			}
		}
		return nil
	}
	nproc := 2 + rng.IntN(2)
	budget := 1 + rng.IntN(maxOps)
	type client struct {
		proc   history.Process
		pos    int
		busy   bool
		done   bool
		op     history.Op
		result history.Op
	}
	clients := make([]*client, nproc)
	for i := range clients {
		clients[i] = &client{proc: history.Process(i)}
	}
	var out []history.Op
	emit := func(o history.Op) {
		o.Index = int64(len(out))
		o.Time = o.Index * 10
		out = append(out, o)
	}
	var ghosts []entry
	cut := rng.IntN(6) == 0
	for steps := 0; steps < 200; steps++ {
		if cut && budget == 0 && rng.IntN(3) == 0 {
			break
		}
		if len(ghosts) > 0 && rng.IntN(5) == 0 {
			log = append(log, ghosts[0])
			ghosts = ghosts[1:]
			continue
		}
		c := clients[rng.IntN(nproc)]
		switch {
		case !c.busy:
			if budget == 0 {
				continue
			}
			budget--
			o := history.Op{Process: c.proc, Type: history.Invoke, Key: keys[rng.IntN(len(keys))]}
			switch r := rng.IntN(10); {
			case r < 5:
				o.F = "read"
			case r < 8:
				o.F, o.Value = "write", int64(rng.IntN(3))
			default:
				o.F, o.Value = "cas", []any{int64(rng.IntN(3)), int64(rng.IntN(3))}
			}
			c.busy, c.done, c.op = true, false, o
			emit(o)
		case !c.done:
			c.done = true
			if rng.IntN(3) == 0 {
				c.pos = min(len(log), c.pos+1+rng.IntN(3))
			}
			if rng.IntN(12) == 0 {
				c.pos = rng.IntN(len(log) + 1) // a replica that goes back
			}
			res := c.op
			res.Type = history.OK
			switch c.op.F {
			case "read":
				res.Value = value(c.pos, c.op.Key)
				if rng.IntN(10) == 0 {
					res.Value = []any{nil, int64(0), int64(1), int64(2)}[rng.IntN(4)]
				}
			case "write":
				v, _ := history.Int(c.op.Value)
				switch r := rng.IntN(12); {
				case r == 0:
					res.Type = history.Fail
				case r < 3:
					res.Type = history.Info
					switch rng.IntN(3) {
					case 0:
						log = append(log, entry{c.op.Key, v})
					case 1:
						ghosts = append(ghosts, entry{c.op.Key, v})
					}
				default:
					log = append(log, entry{c.op.Key, v})
					c.pos = len(log)
				}
			case "cas":
				a, b, _ := history.IntPair(c.op.Value)
				matches := value(len(log), c.op.Key) == any(a)
				switch {
				case rng.IntN(6) == 0:
					res.Type = history.Info
					if matches && rng.IntN(2) == 0 {
						log = append(log, entry{c.op.Key, b})
					}
				case matches:
					log = append(log, entry{c.op.Key, b})
					c.pos = len(log)
				default:
					res.Type = history.Fail
				}
			}
			c.result = res
		default:
			emit(c.result)
			c.busy = false
			if c.result.Type == history.Info {
				c.proc += history.Process(nproc)
			}
		}
		if budget == 0 && !cut {
			idle := true
			for _, c := range clients {
				idle = idle && !c.busy
			}
			if idle {
				break
			}
		}
	}
	return out
}

func dump(ops []history.Op) string {
	var sb strings.Builder
	for _, o := range ops {
		fmt.Fprintf(&sb, "  %d p%v %s %s %s %v\n", o.Index, o.Process, o.Type, o.F, o.Key, o.Value)
	}
	return sb.String()
}

// TestBruteForceRegister: on thousands of small random register histories,
// on one key, on two keys key by key, and on two keys as a whole store,
// the search agrees with the enumeration of every interleaving; and a
// program-order witness never appears in a consistent history.
func TestBruteForceRegister(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 400
	}
	modes := []struct {
		name  string
		keys  []string
		whole bool
	}{
		{"one key", []string{""}, false},
		{"two keys", []string{"a", "b"}, false},
		{"whole store", []string{"a", "b"}, true},
	}
	for m, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(m), 11))
			// A window of 2 positions makes the first phase of the search
			// give up often, so both phases are tested.
			c := &Checker{Whole: mode.whole, Parallelism: 1, window: 2}
			spec, _ := linear.SpecFor(linear.KV)
			var valid, invalid, empty, witnessed, notLinear int
			for i := range n {
				ops := replicas(rng, mode.keys, 7)
				want := referenceRegister(ops, mode.whole)
				res := c.Check(context.Background(), ops, models.Options{})
				if res.Stats["keys"] == 0 {
					if res.Verdict != models.Unknown || !want {
						t.Fatalf("history %d: %s with nothing to check, reference %v:\n%s", i, res.Verdict, want, dump(ops))
					}
					empty++
					continue
				}
				if res.Verdict == models.Unknown || (res.Verdict == models.Valid) != want {
					t.Fatalf("history %d: checker says %s (%s), reference says sequential=%v:\n%s", i, res.Verdict, res.Reason, want, dump(ops))
				}
				if want {
					valid++
					if lin := linear.NewKV().Check(context.Background(), ops, models.Options{}); lin.Verdict == models.Invalid {
						notLinear++
					}
				} else {
					invalid++
				}
				for _, obj := range linear.Prepare(ops, spec).Objects {
					if _, ok := programWitness(spec.(linear.ValueOps), obj, func(int) string { return "" }); ok {
						if want && !mode.whole {
							t.Fatalf("history %d is sequentially consistent but has a program-order witness:\n%s", i, dump(ops))
						}
						witnessed++
					}
				}
			}
			t.Logf("%d histories: %d sequentially consistent (%d of them not linearizable), %d not (%d witnessed), %d with nothing to check", n, valid, notLinear, invalid, witnessed, empty)
			if valid < n/10 || invalid < n/20 || notLinear == 0 {
				t.Errorf("generator is lopsided: %d valid (%d not linearizable), %d invalid", valid, notLinear, invalid)
			}
		})
	}
}

// TestPruningAgrees: on medium register histories, beyond the reach of
// the enumeration, the search with the register's pruning (key by key)
// agrees with the search without it (the whole store, here of one key).
func TestPruningAgrees(t *testing.T) {
	n := 500
	if testing.Short() {
		n = 100
	}
	rng := rand.New(rand.NewPCG(5, 5))
	pruned, plain := &Checker{Parallelism: 1, window: 3}, &Checker{Whole: true, Parallelism: 1}
	var valid, invalid int
	for i := range n {
		ops := replicas(rng, []string{"k"}, 40)
		a := pruned.Check(context.Background(), ops, models.Options{})
		b := plain.Check(context.Background(), ops, models.Options{})
		if a.Verdict != b.Verdict {
			t.Fatalf("history %d: pruned search says %s (%s), plain search %s (%s):\n%s", i, a.Verdict, a.Reason, b.Verdict, b.Reason, dump(ops))
		}
		switch a.Verdict {
		case models.Valid:
			valid++
		case models.Invalid:
			invalid++
		}
	}
	t.Logf("%d histories: %d sequentially consistent, %d not", n, valid, invalid)
	if valid < n/10 || invalid < n/10 {
		t.Errorf("generator is lopsided: %d valid, %d invalid", valid, invalid)
	}
}

// randomOps is a small history of random ops of model with random
// results, some info, fail or never completed, for the search over the
// other objects.
func randomOps(rng *rand.Rand, model string) []history.Op {
	nproc := 2 + rng.IntN(2)
	nops := 1 + rng.IntN(6)
	val := func() any { return int64(rng.IntN(3)) }
	mk := func() (history.Op, any) {
		switch model {
		case linear.Mutex:
			f := []string{"acquire", "release"}[rng.IntN(2)]
			var owner any
			if rng.IntN(3) == 0 {
				owner = "w"
			}
			return history.Op{F: f, Value: owner}, owner
		case linear.FIFOQueue:
			if rng.IntN(2) == 0 {
				v := val()
				return history.Op{F: "enqueue", Value: v}, v
			}
			r := val()
			if rng.IntN(4) == 0 {
				r = nil
			}
			return history.Op{F: "dequeue"}, r
		case linear.Set:
			if rng.IntN(2) == 0 {
				v := val()
				return history.Op{F: "add", Value: v}, v
			}
			var l []any
			for v := range int64(3) {
				if rng.IntN(2) == 0 {
					l = append(l, v)
				}
			}
			return history.Op{F: "read"}, l
		}
		if rng.IntN(2) == 0 {
			v := val()
			return history.Op{F: "add", Value: v}, v
		}
		return history.Op{F: "read"}, val()
	}
	type pending struct {
		inv history.Op
		res any
	}
	procs := make([]history.Process, nproc)
	for i := range procs {
		procs[i] = history.Process(i)
	}
	open := map[int]pending{}
	var out []history.Op
	emit := func(o history.Op) {
		o.Index, o.Time = int64(len(out)), int64(len(out))*10
		out = append(out, o)
	}
	for len(out) < 40 && (nops > 0 || len(open) > 0) {
		i := rng.IntN(nproc)
		if p, busy := open[i]; busy {
			if rng.IntN(12) == 0 && nops == 0 {
				delete(open, i) // never completes
				continue
			}
			done := p.inv
			done.Value = p.res
			switch r := rng.IntN(10); {
			case r == 0:
				done.Type = history.Fail
			case r < 3:
				done.Type = history.Info
			default:
				done.Type = history.OK
			}
			emit(done)
			delete(open, i)
			if done.Type == history.Info {
				procs[i] += history.Process(nproc)
			}
			continue
		}
		if nops == 0 {
			continue
		}
		nops--
		o, res := mk()
		o.Process, o.Type = procs[i], history.Invoke
		emit(o)
		open[i] = pending{o, res}
	}
	return out
}

// TestBruteForceObjects: the search agrees with the enumeration of every
// interleaving for the other objects, stepping with their specs (whose
// semantics package linear tests against its own reference).
func TestBruteForceObjects(t *testing.T) {
	n := 1500
	if testing.Short() {
		n = 200
	}
	for m, model := range []string{linear.Mutex, linear.FIFOQueue, linear.Set, linear.Counter} {
		t.Run(model, func(t *testing.T) {
			spec, _ := linear.SpecFor(model)
			rng := rand.New(rand.NewPCG(uint64(m), 13))
			c := &Checker{Model: model, Parallelism: 1, window: 2}
			var valid, invalid int
			for i := range n {
				ops := randomOps(rng, model)
				res := c.Check(context.Background(), ops, models.Options{})
				if res.Stats["keys"] == 0 {
					continue
				}
				p := linear.Prepare(ops, spec)
				obj := p.Objects[0]
				if obj.Err != nil {
					t.Fatalf("history %d: %v", i, obj.Err)
				}
				// The reference steps with the parsed ops, found by their
				// invocation positions.
				parsed := map[int]linear.Operation{}
				for _, o := range obj.Ops {
					parsed[o.Call] = o
				}
				want := enumerate(refOps(ops), spec.Init(), func(st any, r refOp) (bool, any) {
					o, ok := parsed[r.call]
					if !ok {
						return true, st // a read of unknown outcome: nothing
					}
					return spec.Step(st, o.In, o.Out)
				})
				if res.Verdict == models.Unknown || (res.Verdict == models.Valid) != want {
					t.Fatalf("history %d: checker says %s (%s), reference says sequential=%v:\n%s", i, res.Verdict, res.Reason, want, dump(ops))
				}
				if want {
					valid++
				} else {
					invalid++
				}
			}
			t.Logf("%d histories: %d sequentially consistent, %d not", n, valid, invalid)
			if valid < n/20 || invalid < n/20 {
				t.Errorf("generator is lopsided: %d valid, %d invalid", valid, invalid)
			}
		})
	}
}
