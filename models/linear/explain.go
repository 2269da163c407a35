package linear

import (
	"fmt"
	"slices"

	"github.com/anishathalye/porcupine"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// Kinds of the anomalies this checker reports. AnomalyKind is the general
// one; the others name a textbook anomaly proved by a witness a person can
// verify from a few ops and real time, without trusting the search.
const (
	AnomalyKind = "nonlinearizable"
	// StaleReadKind: a register read returned a value overwritten before
	// it began; a set read lacked an element an earlier read had seen.
	StaleReadKind = "stale-read"
	// LockHeldTwiceKind: two acquires succeeded with no release that can
	// fall between them.
	LockHeldTwiceKind = "lock-held-twice"
	// UnexpectedDequeueKind: a dequeue returned a value no enqueue could
	// have put there by then.
	UnexpectedDequeueKind = "unexpected-dequeue"
	// DuplicateDequeueKind: a value was dequeued more often than enqueued.
	DuplicateDequeueKind = "duplicate-dequeue"
	// LostAddKind: a set read lacked an element whose add had completed
	// before the read began.
	LostAddKind = "lost-add"
	// UnexpectedElementKind: a set read had an element no add could have
	// put there by then.
	UnexpectedElementKind = "unexpected-element"
	// CounterBoundsKind: a counter read lies outside the bounds implied by
	// the adds that completed before it and those that may have.
	CounterBoundsKind = "counter-read-out-of-bounds"
)

// explain turns porcupine's partial linearizations of a key found illegal
// into an anomaly: a model-specific witness when one exists (see witness),
// else the op that could not be placed.
//
// The longest partial linearization porcupine records cannot be extended by
// any op (otherwise the search would have recorded a longer one). Of the ops
// outside it, the one that returns first is not held back by real time, since
// every op that returned before it was invoked returned earlier still, so the
// object's semantics are what rule it out: that op, and the state the prefix
// leaves, are the explanation.
func explain(spec Spec, kh *keyHistory, ops []history.Op, info porcupine.LinearizationInfo) models.Anomaly {
	return explainPrefix(spec, kh, ops, longestPrefix(info))
}

// longestPrefix is the longest of porcupine's partial linearizations of a
// key, chosen deterministically.
func longestPrefix(info porcupine.LinearizationInfo) []int {
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
	return prefix
}

// explainPrefix explains an illegal key from the longest linearizable
// prefix a search found (ids into kh.ops), which no op can extend.
func explainPrefix(spec Spec, kh *keyHistory, ops []history.Op, prefix []int) models.Anomaly {
	in := make([]bool, len(kh.ops))
	s := spec.Init()
	setter := -1 // the last prefix op that changed the state
	for _, id := range prefix {
		if id < 0 || id >= len(kh.ops) {
			continue
		}
		in[id] = true
		o := kh.ops[id]
		_, next := spec.Step(s, o.Input, o.Output)
		if next != s || isWrite(o.Input) {
			setter = id
		}
		s = next
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
	name := func(id int) string { return opName(spec, kh.ops[id], ops) }
	// A textbook anomaly proved by real time alone is the clearest
	// explanation.
	if w, ok := witness(spec, kh, name); ok {
		for _, id := range w.ids {
			addOp(id)
		}
		a.Kind, a.Explanation = w.kind, w.explanation
		return finish(a)
	}
	obj := spec.Object()
	if next < 0 {
		// Cannot happen for an illegal key; say what is known.
		a.Explanation = fmt.Sprintf("no order of the %d ops of %s is consistent with real time and the %s's semantics", len(kh.ops), kh.label(), obj)
		return finish(a)
	}
	addOp(next)
	w, worded := spec.(wording)
	if setter >= 0 && worded && w.byLast() {
		addOp(setter)
	}
	x := kh.ops[next]
	if ok, _ := spec.Step(s, x.Input, x.Output); ok {
		a.Explanation = fmt.Sprintf("no order of the %d ops of %s is consistent with real time and the %s's semantics; the longest linearizable prefix has %d ops and stops before %s",
			len(kh.ops), kh.label(), obj, len(prefix), name(next))
		return finish(a)
	}
	var holds string
	if len(prefix) == 0 {
		holds = fmt.Sprintf("no op of %s can take effect before it, and initially the %s %s", kh.label(), obj, spec.Holds(s))
	} else {
		holds = fmt.Sprintf("after the longest linearizable prefix of %s (%d of its %d ops) the %s %s", kh.label(), len(prefix), len(kh.ops), obj, spec.Holds(s))
		if setter >= 0 && worded && w.byLast() {
			holds += ", from " + name(setter)
		}
	}
	so := "so the op cannot follow it"
	if worded {
		so = w.so(s, x.Input, x.Output, len(prefix) == 0)
	}
	if len(prefix) > 0 {
		// The prefix is the longest porcupine found, not the only order:
		// say that the others fail too, without claiming which op is wrong.
		so += ", and no other order of the ops fits real time either"
	}
	a.Explanation = fmt.Sprintf("%s cannot be linearized: %s, %s", models.Capitalize(name(next)), holds, so)
	return finish(a)
}

// isWrite reports whether a register op sets the register even when it
// leaves the value as it was, so that it is named as the value's source.
func isWrite(in any) bool {
	i, ok := in.(input)
	return ok && i.kind == opWrite
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
func opName(spec Spec, o porcupine.Operation, ops []history.Op) string {
	ref := o.Metadata.(opRef)
	return OpName(spec, ops, ops[ref.inv].Process, o.Input, o.Output, ref.inv, ref.done)
}

// OpName names an op for people, as anomalies do: "process 3's read → nil
// (ops 12–15)", or "process 4's indeterminate write 2 (op 9)" for an op of
// unknown outcome (out nil) that never completed. call and ret are the
// positions of its invocation and completion in ops (ret -1 when none).
func OpName(spec Spec, ops []history.Op, p history.Process, in, out any, call, ret int) string {
	at := " " + fmt.Sprint(ops[call].Index)
	if ret >= 0 {
		at = fmt.Sprintf("s %d–%d", ops[call].Index, ops[ret].Index)
	}
	if out == nil {
		return fmt.Sprintf("process %v's indeterminate %s (op%s)", p, spec.DescribeOperation(in, nil), at)
	}
	return fmt.Sprintf("process %v's %s (op%s)", p, spec.DescribeOperation(in, out), at)
}
