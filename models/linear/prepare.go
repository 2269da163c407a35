package linear

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/anishathalye/porcupine"

	"github.com/faultline/faultline/models/history"
)

// opRef ties a porcupine operation to the history: positions of its
// invocation and completion in the ops slice (done is -1 when the op never
// completed).
type opRef struct {
	inv, done int
}

// keyHistory is the part of a history that concerns one key, ready for
// porcupine. Times are positions in the history, which is the order
// Jepsen's checkers use too and needs no clock.
type keyHistory struct {
	name   string // "" when ops carry no key
	ops    []porcupine.Operation
	indet  int   // ops whose outcome is unknown
	reject error // why the key cannot be checked (a malformed op), if so
}

func (k *keyHistory) label() string {
	if k.name == "" {
		return "the history"
	}
	return "key " + k.name
}

// prepared is a history split into keys.
type prepared struct {
	keys      []*keyHistory // sorted by name
	failed    int           // fail ops, dropped
	unmatched int           // completions without an invocation, ignored
}

// prepare pairs invocations with completions by process and turns each op
// into porcupine's form: ok ops keep their return position; fail ops are
// dropped, since they certainly did not happen; ops of unknown outcome
// (info, or never completed because the run was cut short) return after
// every other op and accept any result. Nuker ops are ignored.
func prepare(ops []history.Op, casAllowed bool) prepared {
	var p prepared
	pending := map[history.Process]int{}
	var pairs []opRef
	for pos, op := range ops {
		if !op.IsClient() || !op.Type.Valid() {
			continue
		}
		if op.Type == history.Invoke {
			if prev, ok := pending[op.Process]; ok {
				// A new invocation before a completion: the earlier op's
				// outcome was never reported.
				pairs = append(pairs, opRef{inv: prev, done: -1})
			}
			pending[op.Process] = pos
			continue
		}
		inv, ok := pending[op.Process]
		if !ok {
			p.unmatched++
			continue
		}
		delete(pending, op.Process)
		pairs = append(pairs, opRef{inv: inv, done: pos})
	}
	for _, inv := range pending {
		pairs = append(pairs, opRef{inv: inv, done: -1})
	}
	slices.SortFunc(pairs, func(a, b opRef) int { return a.inv - b.inv })

	clients := map[history.Process]int{} // dense ids for the visualization's rows
	byKey := map[string]*keyHistory{}
	end := int64(len(ops))
	for _, ref := range pairs {
		inv := ops[ref.inv]
		var done *history.Op
		if ref.done >= 0 {
			done = &ops[ref.done]
		}
		if done != nil && done.Type == history.Fail {
			p.failed++
			continue
		}
		key := inv.Key
		if key == "" && done != nil {
			key = done.Key
		}
		kh := byKey[key]
		if kh == nil {
			kh = &keyHistory{name: key}
			byKey[key] = kh
		}
		if kh.reject != nil {
			continue
		}
		in, out, err := convert(inv, done, casAllowed)
		if err != nil {
			kh.reject = fmt.Errorf("op %d (process %v): %w", inv.Index, inv.Process, err)
			continue
		}
		ret := end
		if out.unknown {
			if in.kind == opRead {
				continue // it constrains nothing
			}
			kh.indet++
		} else {
			ret = int64(ref.done)
		}
		id, ok := clients[inv.Process]
		if !ok {
			id = len(clients)
			clients[inv.Process] = id
		}
		kh.ops = append(kh.ops, porcupine.Operation{
			ClientId: id,
			Input:    in,
			Call:     int64(ref.inv),
			Output:   out,
			Return:   ret,
			Metadata: ref,
		})
	}
	for _, kh := range byKey {
		if len(kh.ops) > 0 || kh.reject != nil {
			p.keys = append(p.keys, kh)
		}
	}
	slices.SortFunc(p.keys, func(a, b *keyHistory) int { return compareKeys(a.name, b.name) })
	return p
}

// convert reads an op's argument and result. done is nil when the op never
// completed.
func convert(inv history.Op, done *history.Op, casAllowed bool) (input, output, error) {
	unknown := done == nil || done.Type == history.Info
	// The argument comes from the invocation; Jepsen repeats it in the
	// completion, so fall back to that when the invocation lacks it.
	arg := inv.Value
	if arg == nil && done != nil {
		arg = done.Value
	}
	var in input
	switch inv.F {
	case "read":
		in.kind = opRead
	case "write":
		v, ok := history.Int(arg)
		if !ok {
			return in, output{}, fmt.Errorf("write of %s: not an integer", show(arg))
		}
		in = input{kind: opWrite, arg: v}
	case "cas":
		if !casAllowed {
			return in, output{}, fmt.Errorf("cas is not an operation of the register model (use %s)", CASRegister)
		}
		a, b, ok := history.IntPair(arg)
		if !ok {
			return in, output{}, fmt.Errorf("cas of %s: not [old new] integers", show(arg))
		}
		in = input{kind: opCAS, arg: a, arg2: b}
	default:
		return in, output{}, fmt.Errorf("f %q is not read, write or cas", inv.F)
	}
	if unknown {
		return in, output{unknown: true}, nil
	}
	if in.kind != opRead {
		return in, output{}, nil
	}
	if done.Value == nil {
		return in, output{}, nil
	}
	v, ok := history.Int(done.Value)
	if !ok {
		return in, output{}, fmt.Errorf("read returned %s: not an integer or nil", show(done.Value))
	}
	return in, output{set: true, val: v}, nil
}

func show(v any) string {
	s := fmt.Sprint(v)
	if v == nil {
		s = "nil"
	}
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return s
}

// compareKeys orders keys numerically when both are integers, else as strings.
func compareKeys(a, b string) int {
	x, errA := strconv.ParseInt(a, 10, 64)
	y, errB := strconv.ParseInt(b, 10, 64)
	switch {
	case errA == nil && errB == nil:
		return cmp.Compare(x, y)
	case errA == nil:
		return -1
	case errB == nil:
		return 1
	}
	return strings.Compare(a, b)
}
