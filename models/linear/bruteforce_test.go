package linear

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// refOp is one operation as the reference checker sees it.
type refOp struct {
	f          string
	arg, arg2  int64 // write value; cas old and new
	readSet    bool  // read result: set and value
	readVal    int64
	call, ret  int  // positions in the history
	definite   bool // completed ok: must be placed within [call, ret]
	indefinite bool // info or never completed: may be placed after call, or never
}

// referenceLinearizable decides linearizability by exhaustive search, from
// the definitions alone: fail ops did not happen; ok ops happened between
// invocation and completion; info and unfinished ops happened after their
// invocation or not at all. It tries every order that respects real time.
func referenceLinearizable(ops []history.Op) bool {
	pending := map[history.Process]int{}
	var rs []refOp
	mk := func(inv int, done int) {
		o := refOp{f: ops[inv].F, call: inv, ret: len(ops) + 1}
		switch o.f {
		case "write":
			o.arg, _ = history.Int(ops[inv].Value)
		case "cas":
			o.arg, o.arg2, _ = history.IntPair(ops[inv].Value)
		}
		switch {
		case done < 0 || ops[done].Type == history.Info:
			o.indefinite = true
		case ops[done].Type == history.Fail:
			return
		default:
			o.definite, o.ret = true, done
			if o.f == "read" && ops[done].Value != nil {
				o.readSet = true
				o.readVal, _ = history.Int(ops[done].Value)
			}
		}
		rs = append(rs, o)
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
	type key struct {
		placed uint32
		set    bool
		val    int64
	}
	seen := map[key]bool{}
	var search func(placed uint32, set bool, val int64) bool
	search = func(placed uint32, set bool, val int64) bool {
		done := true
		for i, o := range rs {
			if o.definite && placed&(1<<i) == 0 {
				done = false
			}
		}
		if done {
			return true
		}
		k := key{placed, set, val}
		if seen[k] {
			return false
		}
		seen[k] = true
		for i, o := range rs {
			if placed&(1<<i) != 0 {
				continue
			}
			// Real time: every op that completed before o began must be
			// placed already.
			ready := true
			for j, p := range rs {
				if placed&(1<<j) == 0 && p.definite && p.ret < o.call {
					ready = false
				}
			}
			if !ready {
				continue
			}
			nset, nval := set, val
			switch o.f {
			case "read":
				if o.definite && (o.readSet != set || set && o.readVal != val) {
					continue
				}
			case "write":
				nset, nval = true, o.arg
			case "cas":
				matches := set && val == o.arg
				if matches {
					nset, nval = true, o.arg2
				} else if o.definite {
					continue
				}
			}
			if search(placed|1<<i, nset, nval) {
				return true
			}
		}
		return false
	}
	return search(0, false, 0)
}

// randomHistory simulates 2-4 clients of a register, at most 8 ops, some
// info (applied early, late or never) and fail, sometimes cut short, with
// occasional corrupted results so that many histories are not linearizable.
func randomHistory(rng *rand.Rand) []history.Op {
	nproc := 2 + rng.IntN(3)
	budget := 1 + rng.IntN(8)
	type client struct {
		proc    history.Process
		busy    bool
		applied bool
		op      history.Op // the invocation
		result  history.Op // the completion to report
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
	var s state
	var ghosts []history.Op // info ops that may still take effect
	apply := func(o history.Op) (ok bool, read any) {
		switch o.F {
		case "read":
			if s.set {
				return true, s.val
			}
			return true, nil
		case "write":
			v, _ := history.Int(o.Value)
			s = state{true, v}
			return true, nil
		default:
			a, b, _ := history.IntPair(o.Value)
			if s.set && s.val == a {
				s = state{true, b}
				return true, nil
			}
			return false, nil
		}
	}
	val := func() int64 { return int64(rng.IntN(3)) }
	cut := rng.IntN(5) == 0
	for steps := 0; steps < 200; steps++ {
		if cut && budget == 0 && rng.IntN(3) == 0 {
			break
		}
		if len(ghosts) > 0 && rng.IntN(6) == 0 {
			apply(ghosts[0])
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
			o := history.Op{Process: c.proc, Type: history.Invoke}
			switch r := rng.IntN(10); {
			case r < 4:
				o.F = "read"
			case r < 7:
				o.F, o.Value = "write", val()
			default:
				o.F, o.Value = "cas", []any{val(), val()}
			}
			c.busy, c.applied, c.op = true, false, o
			emit(o)
		case !c.applied:
			c.applied = true
			res := c.op
			switch r := rng.IntN(20); {
			case r < 2: // fail: no effect (occasionally a lie)
				if r == 0 && rng.IntN(4) == 0 {
					apply(c.op)
				}
				res.Type = history.Fail
			case r < 5: // info: effect now, later, or never
				res.Type = history.Info
				switch rng.IntN(3) {
				case 0:
					apply(c.op)
				case 1:
					ghosts = append(ghosts, c.op)
				}
			default:
				ok, read := apply(c.op)
				res.Type = history.OK
				if !ok {
					res.Type = history.Fail
				}
				if c.op.F == "read" {
					res.Value = read
					if rng.IntN(8) == 0 { // a corrupted read
						if v := rng.IntN(4); v == 3 {
							res.Value = nil
						} else {
							res.Value = int64(v)
						}
					}
				}
				if c.op.F == "cas" && rng.IntN(10) == 0 { // a lying cas
					res.Type = history.OK
				}
			}
			c.result = res
		default:
			emit(c.result)
			c.busy = false
			if c.result.Type == history.Info {
				// As in Jepsen, a client continues as a new process.
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

func TestBruteForceReference(t *testing.T) {
	n := 4000
	if testing.Short() {
		n = 500
	}
	rng := rand.New(rand.NewPCG(1, 2))
	c := &Checker{Parallelism: 1}
	var valid, invalid, witnessed int
	for i := range n {
		ops := randomHistory(rng)
		want := referenceLinearizable(ops)
		res := c.Check(context.Background(), ops, models.Options{})
		got := res.Verdict == models.Valid
		if len(res.Stats) > 0 && res.Stats["keys"] == 0 {
			// Nothing to check (every op failed): the reference trivially
			// agrees with "no violation".
			if res.Verdict != models.Unknown || !want {
				t.Fatalf("history %d: %s with no ops, reference %v", i, res.Verdict, want)
			}
			valid++
			continue
		}
		if res.Verdict == models.Unknown || got != want {
			t.Fatalf("history %d: checker says %s (%s), reference says linearizable=%v:\n%s", i, res.Verdict, res.Reason, want, dump(ops))
		}
		if want {
			valid++
		} else {
			invalid++
		}
		// A stale-read witness proves a violation, so it must never be
		// found in a linearizable history.
		for _, kh := range prepare(ops, registerSpec{name: CASRegister, cas: true}).keys {
			r, src, over, ok := staleRead(kh)
			if ok && want {
				t.Fatalf("history %d is linearizable but staleRead claims read %d (source %d, overwritten by %d):\n%s", i, r, src, over, dump(ops))
			}
			if ok {
				witnessed++
			}
		}
	}
	t.Logf("%d histories: %d linearizable, %d not (%d of them with a stale-read witness)", n, valid, invalid, witnessed)
	if witnessed == 0 {
		t.Error("no stale-read witness in any history: the soundness check above tests nothing")
	}
	if valid < n/10 || invalid < n/10 {
		t.Errorf("generator is lopsided: %d valid, %d invalid", valid, invalid)
	}
}

func dump(ops []history.Op) string {
	var sb strings.Builder
	for _, o := range ops {
		fmt.Fprintf(&sb, "  %d p%v %s %s %v\n", o.Index, o.Process, o.Type, o.F, o.Value)
	}
	return sb.String()
}
