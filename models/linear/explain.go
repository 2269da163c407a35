package linear

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/anishathalye/porcupine"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// Kinds of the anomalies this checker reports: StaleReadKind when a read is
// stale by real time alone (a witness a person can verify from three ops),
// AnomalyKind otherwise.
const (
	AnomalyKind   = "nonlinearizable"
	StaleReadKind = "stale-read"
)

// explain turns porcupine's partial linearizations of a key found illegal
// into an anomaly naming the op that could not be placed.
//
// The longest partial linearization porcupine records cannot be extended by
// any op (otherwise the search would have recorded a longer one). Of the ops
// outside it, the one that returns first is not held back by real time, since
// every op that returned before it was invoked returned earlier still, so the
// register's semantics are what rule it out: that op, and the state the
// prefix leaves, are the explanation.
func explain(kh *keyHistory, ops []history.Op, info porcupine.LinearizationInfo) models.Anomaly {
	var prefix []int
	if parts := info.PartialLinearizations(); len(parts) > 0 {
		cands := parts[0]
		// porcupine returns them in map order; choose deterministically.
		slices.SortFunc(cands, func(a, b []int) int {
			if len(a) != len(b) {
				return len(b) - len(a)
			}
			return slices.Compare(a, b)
		})
		if len(cands) > 0 {
			prefix = cands[0]
		}
	}
	in := make([]bool, len(kh.ops))
	s := state{}
	setter := -1 // the prefix op that gave the register its value
	for _, id := range prefix {
		if id < 0 || id >= len(kh.ops) {
			continue
		}
		in[id] = true
		o := kh.ops[id]
		oin := o.Input.(input)
		if oin.kind == opWrite || oin.kind == opCAS && s.set && s.val == oin.arg {
			setter = id
		}
		_, s = step(s, oin, o.Output.(output))
	}
	next := -1
	for id, o := range kh.ops {
		if in[id] {
			continue
		}
		if next < 0 || o.Return < kh.ops[next].Return || o.Return == kh.ops[next].Return && o.Call < kh.ops[next].Call {
			next = id
		}
	}
	a := models.Anomaly{Kind: AnomalyKind, Key: kh.name}
	timed := false
	addOp := func(id int) {
		ref := kh.ops[id].Metadata.(opRef)
		for _, pos := range []int{ref.inv, ref.done} {
			if pos < 0 {
				continue
			}
			a.Ops = append(a.Ops, ops[pos].Index)
			if !timed || ops[pos].Time < a.Time {
				a.Time, timed = ops[pos].Time, true
			}
		}
	}
	// A stale read proved by real time alone is the clearest explanation.
	if r, src, over, ok := staleRead(kh); ok {
		expl, ids := staleAnomaly(kh, func(o porcupine.Operation) string { return opName(o, ops) }, r, src, over)
		for _, id := range ids {
			addOp(id)
		}
		a.Kind, a.Explanation = StaleReadKind, expl
		return finish(a)
	}
	if next < 0 {
		// Cannot happen for an illegal key; say what is known.
		a.Explanation = fmt.Sprintf("no order of the %d ops of %s is consistent with real time and the register's semantics", len(kh.ops), kh.label())
		return finish(a)
	}
	addOp(next)
	if setter >= 0 {
		addOp(setter)
	}
	x := kh.ops[next]
	xin, xout := x.Input.(input), x.Output.(output)
	if ok, _ := step(s, xin, xout); ok {
		a.Explanation = fmt.Sprintf("no order of the %d ops of %s is consistent with real time and the register's semantics; the longest linearizable prefix has %d ops and stops before %s",
			len(kh.ops), kh.label(), len(prefix), opName(x, ops))
		return finish(a)
	}
	var holds string
	if len(prefix) == 0 {
		holds = fmt.Sprintf("no op of %s can take effect before it, and the register starts unset (nil)", kh.label())
	} else {
		holds = fmt.Sprintf("after the longest linearizable prefix of %s (%d of its %d ops) the register holds %s", kh.label(), len(prefix), len(kh.ops), s)
		if setter >= 0 {
			holds += ", from " + opName(kh.ops[setter], ops)
		}
	}
	var so string
	switch xin.kind {
	case opRead:
		so = "so the read cannot follow it"
	case opCAS:
		so = "not the " + strconv.FormatInt(xin.arg, 10) + " the cas expected"
	default:
		so = "so the op cannot follow it"
	}
	if len(prefix) > 0 {
		// The prefix is the longest porcupine found, not the only order:
		// say that the others fail too, without claiming which op is wrong.
		so += ", and no other order of the ops fits real time either"
	} else if xin.kind == opRead {
		so = "so the read should have returned nil"
	}
	a.Explanation = fmt.Sprintf("%s cannot be linearized: %s, %s", capitalize(opName(x, ops)), holds, so)
	return finish(a)
}

// finish puts the anomaly's ops in order.
func finish(a models.Anomaly) models.Anomaly {
	slices.Sort(a.Ops)
	a.Ops = slices.Compact(a.Ops)
	return a
}

// opName names an op for people: "process 3's read → nil (ops 12–15)",
// with the indexes of its invocation and completion, so a reader sees
// which ops overlapped in real time ("op 12" alone when it never completed).
func opName(o porcupine.Operation, ops []history.Op) string {
	ref := o.Metadata.(opRef)
	at := " " + fmt.Sprint(ops[ref.inv].Index)
	if ref.done >= 0 {
		at = fmt.Sprintf("s %d–%d", ops[ref.inv].Index, ops[ref.done].Index)
	}
	out := o.Output.(output)
	if out.unknown {
		// Only writes and cas ops of unknown outcome are checked.
		return fmt.Sprintf("process %v's indeterminate %s (op%s)", ops[ref.inv].Process, describeOp(o.Input.(input), output{}), at)
	}
	return fmt.Sprintf("process %v's %s (op%s)", ops[ref.inv].Process, describeOp(o.Input.(input), out), at)
}

func capitalize(s string) string {
	if s != "" && s[0] >= 'a' && s[0] <= 'z' {
		return string(s[0]-'a'+'A') + s[1:]
	}
	return s
}
