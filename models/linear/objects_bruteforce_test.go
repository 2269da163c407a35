package linear

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// refCall is one op as the reference search sees it: raw history values.
type refCall struct {
	f         string
	proc      history.Process
	arg, res  any
	known     bool // completed ok: placed within [call, ret]
	call, ret int
}

// refSem is a model's sequential semantics written out plainly, apart from
// the Spec under test. States are strings. An op of unknown outcome
// (known false) that is placed happened, with whatever result: it must be
// legal where it is placed.
type refSem func(st string, c refCall) (bool, string)

func ints(s string) []int64 {
	if s == "" {
		return nil
	}
	var out []int64
	for _, f := range strings.Split(s, ",") {
		n, _ := strconv.ParseInt(f, 10, 64)
		out = append(out, n)
	}
	return out
}

func joinInts(vs []int64) string {
	var parts []string
	for _, v := range vs {
		parts = append(parts, strconv.FormatInt(v, 10))
	}
	return strings.Join(parts, ",")
}

func refOwner(c refCall) string {
	if c.arg == nil {
		return "p" + c.proc.String()
	}
	return fmt.Sprint("v", c.arg)
}

// refModel is a model's reference semantics and initial state.
type refModel struct {
	init string
	sem  refSem
}

func refModels() map[string]refModel {
	return map[string]refModel{
		Mutex:     {"", refMutex},
		FIFOQueue: {"", refQueue},
		Set:       {"", refSet},
		Counter:   {"0", refCounter},
	}
}

func refMutex(st string, c refCall) (bool, string) {
	if c.f == "acquire" {
		return st == "", refOwner(c)
	}
	return st != "" && st == refOwner(c), ""
}

func refQueue(st string, c refCall) (bool, string) {
	q := ints(st)
	if c.f == "enqueue" {
		v, _ := history.Int(c.arg)
		return true, joinInts(append(q, v))
	}
	if len(q) == 0 {
		return !c.known || c.res == nil, st
	}
	v, isInt := history.Int(c.res)
	if c.known && (!isInt || v != q[0]) {
		return false, st
	}
	return true, joinInts(q[1:])
}

func refSet(st string, c refCall) (bool, string) {
	s := ints(st)
	if c.f == "add" {
		v, _ := history.Int(c.arg)
		if !slices.Contains(s, v) {
			s = append(s, v)
			slices.Sort(s)
		}
		return true, joinInts(s)
	}
	if !c.known {
		return true, st
	}
	var got []int64
	for _, e := range c.res.([]any) {
		n, _ := history.Int(e)
		if !slices.Contains(got, n) {
			got = append(got, n)
		}
	}
	slices.Sort(got)
	return slices.Equal(got, s), st
}

func refCounter(st string, c refCall) (bool, string) {
	n, _ := strconv.ParseInt(st, 10, 64)
	if c.f == "add" {
		d, _ := history.Int(c.arg)
		return true, strconv.FormatInt(n+d, 10)
	}
	v, _ := history.Int(c.res)
	return !c.known || v == n, st
}

// refCalls pairs a history's ops from the definitions: fail ops are gone,
// ok ops are known, info and unfinished ops are not.
func refCalls(ops []history.Op) []refCall {
	pending := map[history.Process]int{}
	var rs []refCall
	mk := func(inv, done int) {
		c := refCall{f: ops[inv].F, proc: ops[inv].Process, arg: ops[inv].Value, call: inv, ret: len(ops) + 1}
		switch {
		case done < 0 || ops[done].Type == history.Info:
		case ops[done].Type == history.Fail:
			return
		default:
			c.known, c.ret, c.res = true, done, ops[done].Value
		}
		rs = append(rs, c)
	}
	for i, op := range ops {
		if op.Type == history.Invoke {
			pending[op.Process] = i
			continue
		}
		inv := pending[op.Process]
		delete(pending, op.Process)
		mk(inv, i)
	}
	for _, inv := range pending {
		mk(inv, -1)
	}
	return rs
}

// referenceLinear decides linearizability by exhaustive search over every
// order that respects real time, ops of unknown outcome placed after their
// invocation or not at all.
func referenceLinear(ops []history.Op, init string, sem refSem) bool {
	rs := refCalls(ops)
	type key struct {
		placed uint32
		st     string
	}
	seen := map[key]bool{}
	var search func(placed uint32, st string) bool
	search = func(placed uint32, st string) bool {
		done := true
		for i, c := range rs {
			if c.known && placed&(1<<i) == 0 {
				done = false
			}
		}
		if done {
			return true
		}
		if seen[key{placed, st}] {
			return false
		}
		seen[key{placed, st}] = true
		for i, c := range rs {
			if placed&(1<<i) != 0 {
				continue
			}
			ready := true
			for j, p := range rs {
				if placed&(1<<j) == 0 && p.known && p.ret < c.call {
					ready = false
				}
			}
			if !ready {
				continue
			}
			if ok, next := sem(st, c); ok && search(placed|1<<i, next) {
				return true
			}
		}
		return false
	}
	return search(0, init)
}

// object simulates a real object for the generator: apply performs an op
// atomically and returns whether it succeeded and its result.
type object interface {
	invoke(rng *rand.Rand, c *simClient) history.Op
	apply(op history.Op) (bool, any)
	corrupt(rng *rand.Rand, op history.Op, res any) any
}

type simClient struct {
	proc  history.Process
	id    int
	busy  bool
	done  bool
	op    history.Op
	reply history.Op
}

// simObjects makes a fresh simulated object of each object model.
func simObjects() map[string]func() object {
	return map[string]func() object{
		Mutex:     func() object { return &simMutex{} },
		FIFOQueue: func() object { return &simQueue{} },
		Set:       func() object { return &simSet{} },
		Counter:   func() object { return &simCounter{} },
	}
}

// simulate runs 2-4 clients against obj for at most 8 ops: outcomes ok,
// fail (rarely a lie: it took effect), info (effect now, later or never),
// occasionally a corrupted result or a success that was not, and
// sometimes the run is cut short. A client continues as a new process
// after info, as in Jepsen.
func simulate(rng *rand.Rand, obj object) []history.Op {
	return simulateWith(rng, obj, simParams{ops: 1 + rng.IntN(8), corrupt: 7, lie: 8})
}

// simParams shapes a simulated history: how many ops, and how rarely (one
// in corrupt completed ops, one in lie failures; 0 never) a result is
// corrupted or a failure is a lie.
type simParams struct {
	ops, corrupt, lie int
}

func simulateWith(rng *rand.Rand, obj object, p simParams) []history.Op {
	nproc := 2 + rng.IntN(3)
	budget := p.ops
	clients := make([]*simClient, nproc)
	for i := range clients {
		clients[i] = &simClient{proc: history.Process(i), id: i}
	}
	var out []history.Op
	emit := func(o history.Op) {
		o.Index = int64(len(out))
		o.Time = o.Index * 10
		out = append(out, o)
	}
	var ghosts []history.Op
	cut := rng.IntN(5) == 0
	for steps := 0; steps < 200+30*p.ops; steps++ {
		if cut && budget == 0 && rng.IntN(3) == 0 {
			break
		}
		if len(ghosts) > 0 && rng.IntN(6) == 0 {
			obj.apply(ghosts[0])
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
			o := obj.invoke(rng, c)
			o.Process, o.Type = c.proc, history.Invoke
			c.busy, c.done, c.op = true, false, o
			emit(o)
		case !c.done:
			c.done = true
			res := c.op
			switch r := rng.IntN(20); {
			case r < 2:
				if r == 0 && p.lie > 0 && rng.IntN(4) == 0 { // a failure that took effect
					obj.apply(c.op)
				}
				res.Type = history.Fail
			case r < 5:
				res.Type = history.Info
				switch rng.IntN(3) {
				case 0:
					obj.apply(c.op)
				case 1:
					ghosts = append(ghosts, c.op)
				}
			default:
				good, v := obj.apply(c.op)
				res.Type = history.OK
				if !good {
					res.Type = history.Fail
					if p.lie > 0 && rng.IntN(p.lie) == 0 { // a lie
						res.Type = history.OK
					}
				}
				if v != nil || res.Value == nil {
					res.Value = v
				}
				if p.corrupt > 0 && rng.IntN(p.corrupt) == 0 {
					res.Value = obj.corrupt(rng, c.op, res.Value)
				}
			}
			c.reply = res
		default:
			emit(c.reply)
			c.busy = false
			if c.reply.Type == history.Info {
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

type simMutex struct{ holder string }

func (m *simMutex) owner(op history.Op) string {
	if op.Value == nil {
		return "p" + op.Process.String()
	}
	return fmt.Sprint("v", op.Value)
}

func (m *simMutex) invoke(rng *rand.Rand, c *simClient) history.Op {
	o := history.Op{F: "acquire"}
	if rng.IntN(2) == 0 {
		o.F = "release"
	}
	if rng.IntN(3) == 0 { // an owner that survives the process change
		o.Value = "w" + strconv.Itoa(c.id)
	}
	return o
}

func (m *simMutex) apply(op history.Op) (bool, any) {
	if op.F == "acquire" {
		if m.holder != "" {
			return false, nil
		}
		m.holder = m.owner(op)
		return true, nil
	}
	if m.holder != m.owner(op) {
		return false, nil
	}
	m.holder = ""
	return true, nil
}

func (m *simMutex) corrupt(_ *rand.Rand, _ history.Op, res any) any { return res }

type simQueue struct{ q []int64 }

func (s *simQueue) invoke(rng *rand.Rand, _ *simClient) history.Op {
	if rng.IntN(2) == 0 {
		return history.Op{F: "enqueue", Value: int64(rng.IntN(4))}
	}
	return history.Op{F: "dequeue"}
}

func (s *simQueue) apply(op history.Op) (bool, any) {
	if op.F == "enqueue" {
		v, _ := history.Int(op.Value)
		s.q = append(s.q, v)
		return true, nil
	}
	if len(s.q) == 0 {
		return true, nil
	}
	v := s.q[0]
	s.q = s.q[1:]
	return true, v
}

func (s *simQueue) corrupt(rng *rand.Rand, op history.Op, res any) any {
	if op.F != "dequeue" {
		return res
	}
	if v := rng.IntN(5); v < 4 {
		return int64(v)
	}
	return nil
}

type simSet struct{ s []int64 }

func (s *simSet) invoke(rng *rand.Rand, _ *simClient) history.Op {
	if rng.IntN(2) == 0 {
		return history.Op{F: "add", Value: int64(rng.IntN(4))}
	}
	return history.Op{F: "read"}
}

func (s *simSet) apply(op history.Op) (bool, any) {
	if op.F == "add" {
		v, _ := history.Int(op.Value)
		if !slices.Contains(s.s, v) {
			s.s = append(s.s, v)
		}
		return true, nil
	}
	out := []any{}
	for _, v := range s.s {
		out = append(out, v)
	}
	return true, out
}

func (s *simSet) corrupt(rng *rand.Rand, op history.Op, res any) any {
	if op.F != "read" {
		return res
	}
	l := slices.Clone(res.([]any))
	if len(l) > 0 && rng.IntN(2) == 0 {
		i := rng.IntN(len(l))
		return append(l[:i], l[i+1:]...)
	}
	return append(l, int64(rng.IntN(5)))
}

type simCounter struct{ n int64 }

func (s *simCounter) invoke(rng *rand.Rand, _ *simClient) history.Op {
	if rng.IntN(2) == 0 {
		return history.Op{F: "add", Value: []int64{-1, 1, 2}[rng.IntN(3)]}
	}
	return history.Op{F: "read"}
}

func (s *simCounter) apply(op history.Op) (bool, any) {
	if op.F == "add" {
		d, _ := history.Int(op.Value)
		s.n += d
		return true, nil
	}
	return true, s.n
}

func (s *simCounter) corrupt(rng *rand.Rand, op history.Op, res any) any {
	if op.F != "read" {
		return res
	}
	return res.(int64) + int64(rng.IntN(3)) - 1
}

// TestObjectsBruteForce: on thousands of small random histories per model,
// the checker agrees with the reference search, and no witness of a
// textbook anomaly is ever found in a linearizable history.
func TestObjectsBruteForce(t *testing.T) {
	n := 2000
	if testing.Short() {
		n = 300
	}
	newObj := simObjects()
	for i, model := range []string{Mutex, FIFOQueue, Set, Counter} {
		t.Run(model, func(t *testing.T) {
			spec, err := SpecFor(model)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			c := &Checker{Model: model, Parallelism: 1}
			var valid, invalid, empty, witnessed int
			kinds := map[string]int{}
			for h := range n {
				ops := simulate(rng, newObj[model]())
				ref := refModels()[model]
				want := referenceLinear(ops, ref.init, ref.sem)
				res := c.Check(context.Background(), ops, models.Options{})
				if res.Stats["keys"] == 0 {
					if res.Verdict != models.Unknown || !want {
						t.Fatalf("history %d: %s with nothing to check, reference %v:\n%s", h, res.Verdict, want, dump(ops))
					}
					empty++
					continue
				}
				if res.Verdict == models.Unknown || (res.Verdict == models.Valid) != want {
					t.Fatalf("history %d: checker says %s (%s), reference says linearizable=%v:\n%s", h, res.Verdict, res.Reason, want, dump(ops))
				}
				if want {
					valid++
				} else {
					invalid++
					kinds[res.Anomalies[0].Kind]++
				}
				for _, kh := range prepare(ops, spec).keys {
					if _, ok := witness(spec, kh, func(int) string { return "" }); ok {
						if want {
							t.Fatalf("history %d is linearizable but has a witness:\n%s", h, dump(ops))
						}
						witnessed++
					}
				}
			}
			t.Logf("%d histories: %d linearizable, %d not (%d with a witness; kinds %v), %d with nothing to check", n, valid, invalid, witnessed, kinds, empty)
			if valid < n/10 || invalid < n/10 {
				t.Errorf("generator is lopsided: %d valid, %d invalid", valid, invalid)
			}
			if witnessed == 0 {
				t.Error("no witness in any history: the soundness check tests nothing")
			}
		})
	}
}

// TestObjectsSearchAgreesWithPorcupine: on histories of tens to hundreds of
// ops, too long for the brute-force reference, the own search alone and
// porcupine alone give the same verdict wherever both finish, for every
// object model; and the checker, which races the two on these models,
// decides every history porcupine decides, the same way.
func TestObjectsSearchAgreesWithPorcupine(t *testing.T) {
	n := 100
	if testing.Short() {
		n = 30
	}
	newObj := simObjects()
	const budget = 2 * time.Second
	for i, model := range []string{Mutex, FIFOQueue, Set, Counter} {
		t.Run(model, func(t *testing.T) {
			spec, err := SpecFor(model)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(uint64(i), 23))
			// The race shares the machine between two searches: give it
			// room, so that a loaded machine does not make this a timing test.
			checker := &Checker{Model: model, Parallelism: 1, Timeout: 5 * budget}
			por := &Checker{Model: model, Parallelism: 1, Porcupine: true, Timeout: budget}
			var valid, invalid, ownGaveUp, porGaveUp int
			for h := range n {
				size := 20 + rng.IntN(100)
				ops := simulateWith(rng, newObj[model](), simParams{ops: size, corrupt: 2 * size, lie: size})
				b := por.Check(context.Background(), ops, models.Options{})
				own, decided := ownVerdict(spec, ops, budget)
				c := checker.Check(context.Background(), ops, models.Options{})
				if !decided {
					ownGaveUp++
				}
				if b.Verdict == models.Unknown {
					porGaveUp++
					continue
				}
				if decided && own != b.Verdict {
					t.Fatalf("history %d: own search says %s, porcupine %s (%s):\n%s", h, own, b.Verdict, b.Reason, dump(ops))
				}
				if c.Verdict != b.Verdict {
					t.Fatalf("history %d: checker says %s (%s), porcupine %s (%s):\n%s", h, c.Verdict, c.Reason, b.Verdict, b.Reason, dump(ops))
				}
				switch b.Verdict {
				case models.Valid:
					valid++
				case models.Invalid:
					invalid++
				}
			}
			t.Logf("%d histories: %d valid, %d invalid; out of time: own search %d, porcupine %d", n, valid, invalid, ownGaveUp, porGaveUp)
			if valid < n/10 || invalid < n/10 {
				t.Errorf("generator is lopsided: %d valid, %d invalid", valid, invalid)
			}
			if ownGaveUp > n/4 {
				t.Errorf("the own search ran out of time on %d of %d histories: it tests little", ownGaveUp, n)
			}
		})
	}
}

// ownVerdict runs the own search alone on every key of ops, each for at
// most budget; decided is false when one ran out of time.
func ownVerdict(spec Spec, ops []history.Op, budget time.Duration) (v models.Verdict, decided bool) {
	v = models.Valid
	for _, kh := range prepare(ops, spec).keys {
		if kh.reject != nil {
			return models.Unknown, false
		}
		ctx, cancel := context.WithTimeout(context.Background(), budget)
		r := searchKey(ctx, spec, kh)
		cancel()
		if r.stopped {
			return models.Unknown, false
		}
		if !r.ok {
			v = models.Invalid
		}
	}
	return v, true
}
