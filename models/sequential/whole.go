package sequential

import (
	"encoding/binary"
	"errors"
	"slices"
	"strings"

	"github.com/faultline/faultline/models/linear"
)

// keyedIn is an op of the whole store: an op of key k's object.
type keyedIn struct {
	k  int32
	in any
}

// wholeSpec is a store of one inner object per key, so that all keys can
// be ordered together. Its state is a string of 4-byte ids, one per key,
// each naming that key's inner state in an intern table (inner states are
// comparable but need not be bytes). It belongs to one search: Step grows
// the tables.
type wholeSpec struct {
	linear.Spec // the inner object, for names and descriptions
	keys        []string
	ids         []map[any]uint32
	states      [][]any
}

// whole merges objs into one object of a wholeSpec. A key that cannot be
// checked makes the whole unchecked.
func whole(inner linear.Spec, objs []*linear.Object) (linear.Spec, *linear.Object) {
	w := &wholeSpec{Spec: inner}
	if len(objs) == 0 {
		return w, nil
	}
	merged := &linear.Object{}
	for k, o := range objs {
		if o.Err != nil && merged.Err == nil {
			merged.Err = o.Err
		}
		w.keys = append(w.keys, o.Key)
		w.ids = append(w.ids, map[any]uint32{inner.Init(): 0})
		w.states = append(w.states, []any{inner.Init()})
		merged.Indeterminate += o.Indeterminate
		for _, op := range o.Ops {
			op.In = keyedIn{int32(k), op.In}
			merged.Ops = append(merged.Ops, op)
		}
	}
	slices.SortFunc(merged.Ops, func(a, b linear.Operation) int { return a.Call - b.Call })
	return w, merged
}

func (w *wholeSpec) Object() string { return "store" }

func (w *wholeSpec) Parse(linear.Call) (linear.Parsed, error) {
	return linear.Parsed{}, errors.New("the whole store takes parsed ops")
}

func (w *wholeSpec) Init() any { return string(make([]byte, 4*len(w.keys))) }

func (w *wholeSpec) inner(s string, k int32) (uint32, any) {
	id := binary.BigEndian.Uint32([]byte(s[4*k : 4*k+4]))
	return id, w.states[k][id]
}

func (w *wholeSpec) Step(s, in, out any) (bool, any) {
	st, op := s.(string), in.(keyedIn)
	id, inner := w.inner(st, op.k)
	ok, next := w.Spec.Step(inner, op.in, out)
	nid, seen := w.ids[op.k][next]
	if !seen {
		nid = uint32(len(w.states[op.k]))
		w.ids[op.k][next] = nid
		w.states[op.k] = append(w.states[op.k], next)
	}
	if nid == id {
		return ok, st
	}
	b := []byte(st)
	binary.BigEndian.PutUint32(b[4*op.k:], nid)
	return ok, string(b)
}

func (w *wholeSpec) DescribeOperation(in, out any) string {
	op := in.(keyedIn)
	return w.Spec.DescribeOperation(op.in, out) + " on " + label(w.keys[op.k])
}

func (w *wholeSpec) DescribeState(s any) string {
	var parts []string
	for k := range w.keys {
		_, inner := w.inner(s.(string), int32(k))
		parts = append(parts, label(w.keys[k])+": "+w.Spec.DescribeState(inner))
	}
	return strings.Join(parts, ", ")
}

func (w *wholeSpec) Holds(s any) string {
	var parts []string
	for k := range w.keys {
		_, inner := w.inner(s.(string), int32(k))
		parts = append(parts, label(w.keys[k])+" "+w.Spec.Holds(inner))
	}
	return "is such that " + strings.Join(parts, ", ")
}

func label(key string) string {
	if key == "" {
		return "no key"
	}
	return "key " + key
}
