package linear

import (
	"strconv"
	"sync/atomic"

	"github.com/anishathalye/porcupine"
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

// output is a register operation's result.
type output struct {
	// unknown marks an op whose outcome is not known (info, or no
	// completion): it may have taken effect or not, and any result fits.
	unknown bool
	// set and val are a read's result: set is false for nil (unset).
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

// step is the register's sequential specification. Ok writes and cas ops
// carry the zero output; a cas that completed ok swapped, so the register
// must have held its expected value. A cas of unknown outcome swaps when it
// can and otherwise changes nothing; whether it happened at all is covered
// by the checker placing it after every other op.
func step(s state, in input, out output) (bool, state) {
	switch in.kind {
	case opRead:
		if out.unknown {
			return true, s
		}
		return out.set == s.set && (!s.set || out.val == s.val), s
	case opWrite:
		return true, state{set: true, val: in.arg}
	case opCAS:
		if s.set && s.val == in.arg {
			return true, state{set: true, val: in.arg2}
		}
		return out.unknown, s
	}
	return false, s
}

func describeOp(in input, out output) string {
	var s string
	switch in.kind {
	case opRead:
		switch {
		case out.unknown:
			return "read → ?"
		case out.set:
			return "read → " + strconv.FormatInt(out.val, 10)
		default:
			return "read → nil"
		}
	case opWrite:
		s = "write " + strconv.FormatInt(in.arg, 10)
	case opCAS:
		s = "cas " + strconv.FormatInt(in.arg, 10) + "→" + strconv.FormatInt(in.arg2, 10)
	default:
		s = "?"
	}
	if out.unknown {
		s += " (?)"
	}
	return s
}

// newModel returns the porcupine model of one register (one key). When
// stop is not nil and becomes true, every step fails: porcupine v1.3 takes
// no context, and a search in which nothing can step unwinds quickly; the
// caller then knows to discard the verdict. describeMeta renders an op's
// metadata for the visualization.
func newModel(stop *atomic.Bool, describeMeta func(any) string) porcupine.Model {
	return porcupine.Model{
		Init: func() any { return state{} },
		Step: func(s, in, out any) (bool, any) {
			if stop != nil && stop.Load() {
				return false, s
			}
			return step(s.(state), in.(input), out.(output))
		},
		Equal: func(a, b any) bool { return a.(state) == b.(state) },
		Hash: func(s any) uint64 {
			st := s.(state)
			if !st.set {
				return 0x9e3779b97f4a7c15
			}
			return uint64(st.val) * 0xff51afd7ed558ccd
		},
		DescribeOperation: func(in, out any) string {
			return describeOp(in.(input), out.(output))
		},
		DescribeState:             func(s any) string { return s.(state).String() },
		DescribeOperationMetadata: describeMeta,
	}
}
