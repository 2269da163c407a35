package sequential

import (
	"fmt"
	"slices"
	"strings"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/models/linear"
)

// explain turns a search that found no order into an anomaly: a register
// anomaly proved by program order alone when there is one, else the
// deepest dead end of the search.
func explain(spec linear.Spec, obj *linear.Object, ops []history.Op, out outcome) models.Anomaly {
	a := models.Anomaly{Kind: AnomalyKind, Key: obj.Key}
	timed := false
	add := func(i int) {
		o := obj.Ops[i]
		for _, pos := range []int{o.Call, o.Return} {
			if pos < 0 {
				continue
			}
			a.Ops = append(a.Ops, ops[pos].Index)
			if !timed || ops[pos].Time < a.Time {
				a.Time, timed = ops[pos].Time, true
			}
		}
	}
	name := func(i int) string {
		o := obj.Ops[i]
		return linear.OpName(spec, ops, o.Process, o.In, o.Out, o.Call, o.Return)
	}
	defer func() {
		slices.Sort(a.Ops)
		a.Ops = slices.Compact(a.Ops)
	}()
	if v, ok := spec.(linear.ValueOps); ok {
		if w, ok := programWitness(v, obj, name); ok {
			for _, i := range w.ids {
				add(i)
			}
			a.Kind, a.Explanation = w.kind, w.explanation
			return a
		}
	}
	obj1 := spec.Object()
	if out.state == nil {
		a.Explanation = fmt.Sprintf("No order of the %d ops of %s that keeps each process's own order is a legal run of the %s", len(obj.Ops), obj.Label(), obj1)
		return a
	}
	var names []string
	for _, b := range out.blocked {
		add(b)
		names = append(names, name(b))
	}
	if out.more {
		names = append(names, "others")
	}
	next := "every way on from there fails too"
	if len(names) > 0 {
		next = andList(names) + " cannot follow it"
	}
	a.Explanation = fmt.Sprintf("No order of the %d ops of %s that keeps each process's own order is a legal run of the %s: the longest such order places %d of the %d ops whose outcome is known, after which the %s %s, and %s",
		len(obj.Ops), obj.Label(), obj1, out.depth, len(obj.Ops)-obj.Indeterminate, obj1, spec.Holds(out.state), next)
	return a
}

// andList joins phrases as "a, b and c".
func andList(words []string) string {
	if len(words) <= 1 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}

// witnessed is an anomaly proved by program order alone.
type witnessed struct {
	kind, explanation string
	ids               []int // indexes into the object's ops
}

// programWitness looks for a register read that, by program order alone,
// must see a value already overwritten: a process wrote w, or read a value
// whose only writer was w, and later read b, although b's only writer
// (or the initial nil) precedes w in every order, because the same
// process made both writes, in that order (or b is the initial nil, which
// no write brings back). It needs unique values, as the register workload
// writes them; without them it finds nothing and the search's dead end
// explains.
func programWitness(v linear.ValueOps, obj *linear.Object, name func(int) string) (witnessed, bool) {
	writers := map[int64][]int{}
	for i, o := range obj.Ops {
		if w, ok := v.Writes(o.In); ok {
			writers[w] = append(writers[w], i)
		}
	}
	// before reports whether a certainly precedes b in every order: the
	// same process made both, a first, and a's outcome is known.
	before := func(a, b int) bool {
		A, B := obj.Ops[a], obj.Ops[b]
		return A.Process == B.Process && A.Call < B.Call && A.Known()
	}
	// seen is a write a process has observed: its own (via -1) or the
	// only writer of a value it read (via the read).
	type seen struct{ write, via int }
	byProc := map[history.Process][]seen{}
	for i, o := range obj.Ops {
		if !o.Known() {
			continue
		}
		floor := byProc[o.Process]
		if _, ok := v.Writes(o.In); !ok {
			if val, set, ok := v.Needs(o.In, o.Out); ok {
				src := -1
				if set {
					if len(writers[val]) != 1 {
						continue
					}
					src = writers[val][0]
				}
				for j := len(floor) - 1; j >= 0; j-- {
					f := floor[j]
					if f.write == src {
						continue
					}
					if fv, _ := v.Writes(obj.Ops[f.write].In); set && fv == val {
						continue
					}
					if src >= 0 && !before(src, f.write) {
						continue
					}
					return describeWitness(i, src, f.write, f.via, name), true
				}
				if src >= 0 {
					byProc[o.Process] = append(floor, seen{src, i})
				}
				continue
			}
		}
		if _, ok := v.Writes(o.In); ok {
			byProc[o.Process] = append(floor, seen{i, -1})
		}
	}
	return witnessed{}, false
}

// describeWitness words a programWitness: read r returned the value of src
// (-1: the initial nil) although w, which follows src, had been written by
// the reader itself (via -1) or seen by its earlier read via.
func describeWitness(r, src, w, via int, name func(int) string) witnessed {
	ids := []int{r, w}
	var why string
	if src < 0 {
		why = "the register is never unset again once " + name(w) + " has taken effect"
	} else {
		ids = append(ids, src)
		why = fmt.Sprintf("the value comes from %s, which precedes %s in its process's own order", name(src), name(w))
	}
	if via < 0 {
		return witnessed{ReadYourWritesKind, fmt.Sprintf("Read-your-writes violation: %s, after its own %s, but %s", name(r), name(w), why), ids}
	}
	ids = append(ids, via)
	return witnessed{NonMonotonicReadKind, fmt.Sprintf("Non-monotonic read: %s, after %s had seen the value of %s, but %s", name(r), name(via), name(w), why), ids}
}
