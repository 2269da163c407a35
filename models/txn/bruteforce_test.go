package txn

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// bop is a micro-op of the reference: append (or write) val to key, or
// read key (list for list-append, val/null for registers).
type bop struct {
	f    string // "append", "w" or "r"
	key  int
	val  int
	list []int
	null bool
}

// btxn is a transaction of the reference with its place in the history.
type btxn struct {
	typ       history.Type
	mops      []bop
	inv, done int // event positions; done -1: never completed
	proc      int
}

// refSerializable decides (strict) serializability by exhaustive search,
// from the definitions alone: failed transactions did not happen; ok ones
// did, and their reads must be what a serial replay gives; info ones did
// or did not, and their reads say nothing. With strict, an ok transaction
// that completed before another was invoked must come first.
func refSerializable(txns []btxn, lists, strict bool) bool {
	var must, may []int
	for i, t := range txns {
		switch t.typ {
		case history.OK:
			must = append(must, i)
		case history.Info:
			may = append(may, i)
		}
	}
	for mask := 0; mask < 1<<len(may); mask++ {
		set := slices.Clone(must)
		for j, i := range may {
			if mask&(1<<j) != 0 {
				set = append(set, i)
			}
		}
		if refOrder(txns, set, nil, map[int][]int{}, lists, strict) {
			return true
		}
	}
	return false
}

// refOrder extends a serial order of placed transactions with the rest,
// replaying into state (key -> list, or a one-element list for a
// register; absent is empty or nil).
func refOrder(txns []btxn, left, placed []int, state map[int][]int, lists, strict bool) bool {
	if len(left) == 0 {
		return true
	}
next:
	for i, t := range left {
		if strict {
			for _, u := range left {
				if u != t && txns[u].typ == history.OK && txns[u].done >= 0 && txns[u].done < txns[t].inv {
					continue next // u must come first
				}
			}
		}
		st := map[int][]int{}
		for k, v := range state {
			st[k] = v
		}
		ok := true
		for _, m := range txns[t].mops {
			switch m.f {
			case "append":
				st[m.key] = append(slices.Clone(st[m.key]), m.val)
			case "w":
				st[m.key] = []int{m.val}
			case "r":
				if txns[t].typ != history.OK {
					continue
				}
				cur := st[m.key]
				if lists && !slices.Equal(cur, m.list) ||
					!lists && (m.null != (len(cur) == 0) || len(cur) == 1 && cur[0] != m.val) {
					ok = false
				}
			}
		}
		if !ok {
			continue
		}
		rest := append(slices.Clone(left[:i]), left[i+1:]...)
		if refOrder(txns, rest, append(placed, t), st, lists, strict) {
			return true
		}
	}
	return false
}

// randomTxns makes 2-4 transactions of 1-3 micro-ops over 1-2 keys. Half the
// time they come from a real serial execution (reads filled in by replay,
// sometimes corrupted); otherwise reads are random garbage made of written
// values. Values are unique per key, as the checker requires.
func randomTxns(rng *rand.Rand, lists bool) []btxn {
	n := 2 + rng.IntN(3)
	nkeys := 1 + rng.IntN(2)
	next := map[int]int{}
	txns := make([]btxn, n)
	for i := range txns {
		t := &txns[i]
		switch r := rng.IntN(10); {
		case r < 7:
			t.typ = history.OK
		case r < 9:
			t.typ = history.Info
		default:
			t.typ = history.Fail
		}
		for range 1 + rng.IntN(3) {
			m := bop{f: "r", key: rng.IntN(nkeys)}
			if rng.IntN(2) == 0 {
				m.f = "w"
				if lists {
					m.f = "append"
				}
				next[m.key]++
				m.val = next[m.key]
			}
			t.mops = append(t.mops, m)
		}
	}
	written := func(k int) []int {
		var vs []int
		for v := 1; v <= next[k]; v++ {
			vs = append(vs, v)
		}
		return vs
	}
	order := rng.Perm(n)
	if rng.IntN(2) == 0 {
		// Garbage reads.
		for i := range txns {
			for j := range txns[i].mops {
				m := &txns[i].mops[j]
				if m.f != "r" {
					continue
				}
				vs := written(m.key)
				rng.Shuffle(len(vs), func(a, b int) { vs[a], vs[b] = vs[b], vs[a] })
				if lists {
					m.list = vs[:rng.IntN(len(vs)+1)]
				} else if len(vs) == 0 || rng.IntN(4) == 0 {
					m.null = true
				} else {
					m.val = vs[0]
				}
			}
		}
	} else {
		execute(rng, txns, order, lists)
	}
	// Timeline: half the time the execution order, one after another;
	// otherwise a random interleaving.
	if rng.IntN(2) == 0 {
		for p, i := range order {
			txns[i].inv, txns[i].done = 2*p, 2*p+1
		}
	} else {
		events := make([]int, 0, 2*n)
		for i := range n {
			events = append(events, i, i)
		}
		rng.Shuffle(len(events), func(a, b int) { events[a], events[b] = events[b], events[a] })
		seen := make([]bool, n)
		for pos, i := range events {
			if !seen[i] {
				txns[i].inv, seen[i] = pos, true
			} else {
				txns[i].done = pos
			}
		}
	}
	return txns
}

// execute fills in reads from a serial execution in order: ok transactions
// apply, info ones maybe, failed ones not. A third of the time one read is
// then corrupted a little.
func execute(rng *rand.Rand, txns []btxn, order []int, lists bool) {
	n := len(txns)
	written := func(k int) []int {
		var vs []int
		for _, t := range txns {
			for _, m := range t.mops {
				if m.f != "r" && m.key == k {
					vs = append(vs, m.val)
				}
			}
		}
		return vs
	}
	state := map[int][]int{}
	for _, i := range order {
		t := &txns[i]
		apply := t.typ == history.OK || t.typ == history.Info && rng.IntN(2) == 0
		if !apply {
			continue
		}
		for j := range t.mops {
			m := &t.mops[j]
			switch m.f {
			case "append":
				state[m.key] = append(slices.Clone(state[m.key]), m.val)
			case "w":
				state[m.key] = []int{m.val}
			case "r":
				cur := state[m.key]
				if lists {
					m.list = slices.Clone(cur)
				} else if len(cur) == 0 {
					m.null = true
				} else {
					m.val = cur[0]
				}
			}
		}
	}
	if rng.IntN(3) == 0 {
		// Corrupt one read a little.
		i, j := rng.IntN(n), 0
		for j = range txns[i].mops {
			if txns[i].mops[j].f == "r" {
				break
			}
		}
		m := &txns[i].mops[j]
		if m.f == "r" {
			vs := written(m.key)
			switch {
			case lists && len(m.list) > 0 && rng.IntN(2) == 0:
				m.list = m.list[:len(m.list)-1]
			case lists && len(m.list) > 1:
				m.list[0], m.list[1] = m.list[1], m.list[0]
			case lists && len(vs) > 0:
				m.list = append(m.list, vs[rng.IntN(len(vs))])
			case !lists && len(vs) > 0:
				m.null, m.val = false, vs[rng.IntN(len(vs))]
			}
		}
	}
}

// assignProcesses gives each transaction a process, reusing one whose last
// transaction completed before (and was not info) half the time, and
// drops some info completions.
func assignProcesses(rng *rand.Rand, txns []btxn) {
	type proc struct{ free int } // position its last transaction completed; -1 retired
	var procs []proc
	byInv := make([]int, len(txns))
	for i := range byInv {
		byInv[i] = i
	}
	slices.SortFunc(byInv, func(a, b int) int { return txns[a].inv - txns[b].inv })
	for _, i := range byInv {
		t := &txns[i]
		if t.typ == history.Info && rng.IntN(4) == 0 {
			t.done = -1
		}
		t.proc = -1
		if rng.IntN(2) == 0 {
			for p := range procs {
				if procs[p].free >= 0 && procs[p].free < t.inv {
					t.proc = p
					break
				}
			}
		}
		if t.proc < 0 {
			t.proc = len(procs)
			procs = append(procs, proc{})
		}
		procs[t.proc].free = t.done
		if t.typ == history.Info || t.done < 0 {
			procs[t.proc].free = -1
		}
	}
}

// toOps writes the transactions as a history.
func toOps(rng *rand.Rand, txns []btxn, lists bool) []history.Op {
	value := func(t btxn, withReads bool) []any {
		var out []any
		for _, m := range t.mops {
			var v any = int64(m.val)
			if m.f == "r" {
				v = nil
				if withReads && lists {
					l := make([]any, len(m.list))
					for i, x := range m.list {
						l[i] = int64(x)
					}
					if len(l) > 0 || rng.IntN(2) == 0 {
						v = l
					}
				} else if withReads && !m.null {
					v = int64(m.val)
				}
			}
			out = append(out, []any{m.f, "k" + fmt.Sprint(m.key), v})
		}
		return out
	}
	max := 0
	for _, t := range txns {
		max = maxInt(max, t.inv, t.done)
	}
	slots := make([]*history.Op, max+1)
	for _, t := range txns {
		slots[t.inv] = &history.Op{Type: history.Invoke, Process: history.Process(t.proc), F: F, Value: value(t, false)}
		if t.done >= 0 {
			slots[t.done] = &history.Op{Type: t.typ, Process: history.Process(t.proc), F: F, Value: value(t, t.typ == history.OK)}
		}
	}
	var ops []history.Op
	for _, o := range slots {
		if o != nil {
			o.Index, o.Time = int64(len(ops)), int64(len(ops))
			ops = append(ops, *o)
		}
	}
	return ops
}

func maxInt(xs ...int) int { return slices.Max(xs) }

func dumpOps(ops []history.Op) string {
	var sb strings.Builder
	for _, o := range ops {
		fmt.Fprintf(&sb, "  %d p%d %s %v\n", o.Index, o.Process, o.Type, o.Value)
	}
	return sb.String()
}

// TestBruteForceListAppend requires the list-append checker to agree with
// the exhaustive reference on serializability and strict serializability:
// for list-append the version order is fully observable, so no history may
// be missed.
func TestBruteForceListAppend(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 2000
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var invalid, strictOnly int
	for i := range n {
		txns := randomTxns(rng, true)
		assignProcesses(rng, txns)
		ops := toOps(rng, txns, true)
		res := (&Checker{Model: ListAppend}).Check(context.Background(), ops, models.Options{})
		if res.Verdict == models.Unknown {
			t.Fatalf("history %d: unknown: %s\n%s", i, res.Reason, dumpOps(ops))
		}
		violates := strings.Split(res.Properties["violates"], ",")
		gotSer := !slices.Contains(violates, Serializable)
		gotStrict := res.Properties["violates"] == ""
		wantSer := refSerializable(txns, true, false)
		wantStrict := refSerializable(txns, true, true)
		if gotSer != wantSer || gotStrict != wantStrict {
			t.Fatalf("history %d: checker serializable=%v strict=%v, reference %v %v; anomalies %q: %s\n%s",
				i, gotSer, gotStrict, wantSer, wantStrict, res.Properties["anomalies"], res.Reason, dumpOps(ops))
		}
		if !wantSer {
			invalid++
		} else if !wantStrict {
			strictOnly++
		}
	}
	t.Logf("%d histories: %d not serializable, %d serializable but not strictly", n, invalid, strictOnly)
	if invalid < n/10 || strictOnly < n/100 {
		t.Errorf("too few bad histories to mean much: %d, %d", invalid, strictOnly)
	}
}

// TestBruteForceRWRegister checks the rw-register checker for soundness
// against the reference: whatever it rules out, the reference rules out
// too. Blind writes leave version orders unknown, so it may miss some
// (counted, not failed).
func TestBruteForceRWRegister(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 2000
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var invalid, missed, strictMissed int
	for i := range n {
		txns := randomTxns(rng, false)
		assignProcesses(rng, txns)
		ops := toOps(rng, txns, false)
		res := (&Checker{Model: RWRegister}).Check(context.Background(), ops, models.Options{})
		if res.Verdict == models.Unknown {
			t.Fatalf("history %d: unknown: %s\n%s", i, res.Reason, dumpOps(ops))
		}
		violates := strings.Split(res.Properties["violates"], ",")
		gotSer := !slices.Contains(violates, Serializable)
		gotStrict := res.Properties["violates"] == ""
		wantSer := refSerializable(txns, false, false)
		wantStrict := refSerializable(txns, false, true)
		if !gotSer && wantSer || !gotStrict && wantStrict {
			t.Fatalf("history %d: checker serializable=%v strict=%v, reference %v %v; anomalies %q: %s\n%s",
				i, gotSer, gotStrict, wantSer, wantStrict, res.Properties["anomalies"], res.Reason, dumpOps(ops))
		}
		if !wantSer {
			invalid++
			if gotSer {
				missed++
			}
		}
		if !wantStrict && gotStrict {
			strictMissed++
		}
	}
	t.Logf("%d histories: %d not serializable, of which the checker found %d; %d strict violations missed", n, invalid, invalid-missed, strictMissed)
}
