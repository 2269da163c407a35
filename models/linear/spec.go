package linear

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/faultline/faultline/models/history"
)

// Spec is the sequential specification of one kind of object: how its ops
// are read from a history, its initial state and its transitions. The
// linearizability checker hands it to porcupine; package sequential searches
// with it directly. Every object is partitioned by key: ops on different
// keys touch different objects.
//
// States must be comparable with == (they are memoized) and never mutated:
// Step returns a new state.
type Spec interface {
	// Name is the model's name, e.g. "mutex".
	Name() string
	// Object is what one instance is called in explanations: "register",
	// "lock", "queue", "set", "counter".
	Object() string
	// Functions are the op functions (history.Op.F) the model accepts.
	Functions() []string
	// Parse reads one op of the history.
	Parse(c Call) (Parsed, error)
	// Init is the state of a fresh object.
	Init() any
	// Step applies an op to state: whether the op, with its result, is
	// possible there, and the state after it. out is nil when the op's
	// outcome is unknown (info, or never completed): it may or may not
	// have taken effect, so Step must accept it in every state, returning
	// the state after it took effect where it could, else state unchanged.
	// That it may not have happened at all is the checkers' business.
	Step(state, in, out any) (bool, any)
	// DescribeOperation renders an op for people ("write 3", "read → 1");
	// when out is nil, without a result (the visualization marks it "(?)").
	DescribeOperation(in, out any) string
	// DescribeState renders a state briefly, for the visualization.
	DescribeState(state any) string
	// Holds describes a state as a predicate of the object for
	// explanations: "holds 1", "is held by process 3", "is empty".
	Holds(state any) string
}

// Call is one op of the history as a Spec reads it.
type Call struct {
	// F is the op's function.
	F string
	// Key is the op's Key ("" when it has none).
	Key string
	// Process made the op.
	Process history.Process
	// Arg is the invocation's value, or the completion's when the
	// invocation has none (Jepsen repeats the argument there).
	Arg any
	// Result is the completion's value when Known.
	Result any
	// Known is true when the op completed ok, false when its outcome is
	// unknown (info, or never completed). Fail ops never reach Parse.
	Known bool
}

// Parsed is a Spec's reading of one op.
type Parsed struct {
	// In and Out are the op's argument and result as Step takes them. Out
	// must not be nil for a known outcome; it is ignored (nil) otherwise.
	In, Out any
	// Key is the object the op touches: the Call's Key, or one the value
	// names (the [key value] tuples of Jepsen's independent workloads).
	Key string
	// ReadOnly ops never change the state, in any state where they are
	// possible; of unknown outcome they constrain nothing and are left
	// out.
	ReadOnly bool
}

// wording is implemented by faultline's own specs to word explanations.
type wording interface {
	// so says why op (in, out) cannot follow state: "so the read cannot
	// follow it". first is true when no op can precede it.
	so(state, in, out any, first bool) string
	// byLast reports whether a state is the work of the last op that
	// changed it (a register's value, a lock's holder), so explanations
	// can name that op.
	byLast() bool
}

// Hasher is implemented by specs whose states porcupine may hash to save
// comparisons; equal states must have equal hashes.
type Hasher interface {
	Hash(state any) uint64
}

// Specs returns every object model this package checks, in a fixed order.
func Specs() []Spec {
	return []Spec{
		registerSpec{name: CASRegister, cas: true},
		registerSpec{name: Register},
		registerSpec{name: KV, cas: true, tuples: true},
		mutexSpec{},
		queueSpec{},
		setSpec{},
		counterSpec{},
	}
}

// SpecFor returns the spec of the named model.
func SpecFor(name string) (Spec, error) {
	var names []string
	for _, s := range Specs() {
		if s.Name() == name {
			return s, nil
		}
		names = append(names, s.Name())
	}
	return nil, fmt.Errorf("unknown model %q (known: %s)", name, strings.Join(names, ", "))
}

// orList joins words as "a, b or c".
func orList(words []string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// fnv64 hashes a string (FNV-1a), for states kept as strings.
func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// intValue reads an integer argument or result.
func intValue(what string, v any) (int64, error) {
	n, ok := history.Int(v)
	if !ok {
		return 0, fmt.Errorf("%s %s: not an integer", what, show(v))
	}
	return n, nil
}

// intList reads a list of integers; nil is the empty list (Go encodes an
// empty slice as null).
func intList(what string, v any) ([]int64, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []int64:
		return x, nil
	case []any:
		out := make([]int64, len(x))
		for i, e := range x {
			n, ok := history.Int(e)
			if !ok {
				return nil, fmt.Errorf("%s %s: element %s is not an integer", what, show(v), show(e))
			}
			out[i] = n
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s %s: not a list of integers", what, show(v))
}

// keyName renders a key taken from a value: integers in decimal, strings as
// they are.
func keyName(v any) (string, bool) {
	if n, ok := history.Int(v); ok {
		return strconv.FormatInt(n, 10), true
	}
	if s, ok := v.(string); ok {
		return s, true
	}
	return "", false
}

// ValueOps is implemented by the register specs (register, cas-register,
// kv), for checkers that reason about which write a read saw.
type ValueOps interface {
	// Writes is the value op writes when it takes effect: a write's, or a
	// cas's new value.
	Writes(in any) (int64, bool)
	// Needs is the value that must be current for op to take effect:
	// what a known read returned (set false for nil), a cas's expected
	// value (whatever its outcome).
	Needs(in, out any) (v int64, set bool, ok bool)
	// Current is a state's value (set false for unset).
	Current(state any) (v int64, set bool)
}
