package linear

import (
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/anishathalye/porcupine"

	"github.com/faultline/faultline/models/history"
)

// opKind is what a register operation does.
type opKind uint8

const (
	opRead opKind = iota
	opWrite
	opCAS
)

// input is a register operation's argument, as porcupine sees it.
type input struct {
	kind opKind
	arg  int64 // write: the value written; cas: the value expected
	arg2 int64 // cas: the value swapped in
}

// output is a register operation's known result: set and val are a read's
// result (set is false for nil); writes and cas ops carry the zero output.
// An op of unknown outcome has no output (nil).
type output struct {
	set bool
	val int64
}

// state is the register's value; the zero state is unset (nil).
type state struct {
	set bool
	val int64
}

func (s state) String() string {
	if !s.set {
		return "nil"
	}
	return strconv.FormatInt(s.val, 10)
}

// registerSpec is the register, the compare-and-set register (cas), and the
// key-value store (cas, with keys also taken from Jepsen's [key value]
// tuples).
type registerSpec struct {
	name   string
	cas    bool
	tuples bool
}

func (r registerSpec) Name() string { return r.name }

func (registerSpec) Object() string { return "register" }

func (r registerSpec) Functions() []string {
	if r.cas {
		return []string{"read", "write", "cas"}
	}
	return []string{"read", "write"}
}

func (r registerSpec) Parse(c Call) (Parsed, error) {
	key, arg, res := c.Key, c.Arg, c.Result
	if r.tuples && key == "" {
		var err error
		if key, arg, res, err = untuple(c); err != nil {
			return Parsed{}, err
		}
	}
	var in input
	switch c.F {
	case "read":
		in.kind = opRead
	case "write":
		v, ok := history.Int(arg)
		if !ok {
			return Parsed{}, fmt.Errorf("write of %s: not an integer", show(arg))
		}
		in = input{kind: opWrite, arg: v}
	case "cas":
		if !r.cas {
			return Parsed{}, fmt.Errorf("cas is not an operation of the register model (use %s)", CASRegister)
		}
		a, b, ok := history.IntPair(arg)
		if !ok {
			return Parsed{}, fmt.Errorf("cas of %s: not [old new] integers", show(arg))
		}
		in = input{kind: opCAS, arg: a, arg2: b}
	default:
		return Parsed{}, fmt.Errorf("f %q is not %s", c.F, orList(r.Functions()))
	}
	p := Parsed{In: in, Key: key, ReadOnly: in.kind == opRead}
	if !c.Known {
		return p, nil
	}
	p.Out = output{}
	if in.kind == opRead && res != nil {
		v, ok := history.Int(res)
		if !ok {
			return Parsed{}, fmt.Errorf("read returned %s: not an integer or nil", show(res))
		}
		p.Out = output{set: true, val: v}
	}
	return p, nil
}

// untuple takes the key of an op without one from its value, when that is
// a [key value] tuple of Jepsen's independent workloads: [k v] for a write,
// [k [old new]] for a cas, [k nil] then [k v] for a read. A value that is
// not such a tuple ([old new] of a plain cas, a bare integer) leaves the op
// on the unnamed key.
func untuple(c Call) (key string, arg, res any, err error) {
	fits := func(f string, v any) bool {
		switch f {
		case "write":
			_, ok := history.Int(v)
			return ok
		case "cas":
			_, _, ok := history.IntPair(v)
			return ok
		}
		_, ok := history.Int(v)
		return ok || v == nil
	}
	tuple := func(v any) (string, any, bool) {
		var a, b any
		switch x := v.(type) {
		case []any:
			if len(x) != 2 {
				return "", nil, false
			}
			a, b = x[0], x[1]
		case []int64:
			if len(x) != 2 {
				return "", nil, false
			}
			a, b = x[0], x[1]
		default:
			return "", nil, false
		}
		k, ok := keyName(a)
		return k, b, ok && fits(c.F, b)
	}
	if c.F != "read" {
		if k, inner, ok := tuple(c.Arg); ok {
			return k, inner, c.Result, nil
		}
		return "", c.Arg, c.Result, nil
	}
	ka, _, argTuple := tuple(c.Arg)
	if !c.Known {
		return ka, nil, nil, nil
	}
	kr, inner, resTuple := tuple(c.Result)
	switch {
	case argTuple && !resTuple:
		return "", nil, nil, fmt.Errorf("read of key %s returned %s: not a [key value] pair", ka, show(c.Result))
	case argTuple && kr != ka:
		return "", nil, nil, fmt.Errorf("read of key %s returned a value of key %s", ka, kr)
	case resTuple:
		return kr, nil, inner, nil
	}
	return "", nil, c.Result, nil
}

func (registerSpec) Init() any { return state{} }

// Step is the register's sequential specification. A cas that completed ok
// swapped, so the register must have held its expected value. A cas of
// unknown outcome swaps when it can and otherwise changes nothing.
func (registerSpec) Step(s, in, out any) (bool, any) {
	st, i := s.(state), in.(input)
	o, known := out.(output)
	switch i.kind {
	case opRead:
		if !known {
			return true, st
		}
		return o.set == st.set && (!st.set || o.val == st.val), st
	case opWrite:
		return true, state{set: true, val: i.arg}
	case opCAS:
		if st.set && st.val == i.arg {
			return true, state{set: true, val: i.arg2}
		}
		return !known, st
	}
	return false, st
}

func (registerSpec) DescribeOperation(in, out any) string {
	i := in.(input)
	o, known := out.(output)
	switch i.kind {
	case opRead:
		switch {
		case !known:
			return "read"
		case o.set:
			return "read → " + strconv.FormatInt(o.val, 10)
		default:
			return "read → nil"
		}
	case opWrite:
		return "write " + strconv.FormatInt(i.arg, 10)
	case opCAS:
		return "cas " + strconv.FormatInt(i.arg, 10) + "→" + strconv.FormatInt(i.arg2, 10)
	}
	return "?"
}

func (registerSpec) DescribeState(s any) string { return s.(state).String() }

func (registerSpec) Holds(s any) string {
	st := s.(state)
	if !st.set {
		return "is unset (nil)"
	}
	return "holds " + st.String()
}

func (registerSpec) Hash(s any) uint64 {
	st := s.(state)
	if !st.set {
		return 0x9e3779b97f4a7c15
	}
	return uint64(st.val) * 0xff51afd7ed558ccd
}

func (registerSpec) so(_, in, _ any, first bool) string {
	i := in.(input)
	switch i.kind {
	case opRead:
		if first {
			return "so the read should have returned nil"
		}
		return "so the read cannot follow it"
	case opCAS:
		return "not the " + strconv.FormatInt(i.arg, 10) + " the cas expected"
	}
	return "so the op cannot follow it"
}

func (registerSpec) byLast() bool { return true }

// newModel returns the porcupine model of one object (one key) of spec.
// When stop is not nil and becomes true, every step fails: porcupine v1.3's
// checker takes no context, and a search in which nothing can step unwinds
// quickly; the caller then knows to discard the verdict. describeMeta
// renders an op's metadata for the visualization.
func newModel(spec Spec, stop *atomic.Bool, describeMeta func(any) string) porcupine.Model {
	m := porcupine.Model{
		Init: spec.Init,
		Step: func(s, in, out any) (bool, any) {
			if stop != nil && stop.Load() {
				return false, s
			}
			return spec.Step(s, in, out)
		},
		Equal: func(a, b any) bool { return a == b },
		DescribeOperation: func(in, out any) string {
			if out == nil {
				return spec.DescribeOperation(in, out) + " (?)"
			}
			return spec.DescribeOperation(in, out)
		},
		DescribeState:             spec.DescribeState,
		DescribeOperationMetadata: describeMeta,
	}
	if h, ok := spec.(Hasher); ok {
		m.Hash = h.Hash
	}
	return m
}

func (registerSpec) Writes(in any) (int64, bool) {
	switch i := in.(input); i.kind {
	case opWrite:
		return i.arg, true
	case opCAS:
		return i.arg2, true
	}
	return 0, false
}

func (registerSpec) Needs(in, out any) (int64, bool, bool) {
	o, known := out.(output)
	switch i := in.(input); i.kind {
	case opRead:
		return o.val, o.set, known
	case opCAS:
		return i.arg, true, true
	}
	return 0, false, false
}

func (registerSpec) Current(s any) (int64, bool) {
	st := s.(state)
	return st.val, st.set
}
