package linear

import (
	"fmt"
	"slices"

	"github.com/anishathalye/porcupine"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// Operation is one client operation of a history, paired and read by a
// Spec: the unit the checkers order.
type Operation struct {
	// Process made the op.
	Process history.Process
	// In and Out are the op as Spec.Step takes them; Out is nil when the
	// outcome is unknown.
	In, Out any
	// Call and Return are the positions in the history (indexes into the
	// slice given to Prepare) of the invocation and the completion; Return
	// is -1 when the op never completed.
	Call, Return int
	// ReadOnly ops never change the state.
	ReadOnly bool
}

// Known reports whether the op's outcome is known (it completed ok).
func (o Operation) Known() bool { return o.Out != nil }

// Object is the part of a history that concerns one key.
type Object struct {
	// Key is the key ("" for ops without one).
	Key string
	// Ops are the key's ops in order of invocation.
	Ops []Operation
	// Indeterminate counts the ops of unknown outcome among Ops.
	Indeterminate int
	// Err says why the key cannot be checked (a malformed op), if so.
	Err error
}

// Label names the object for people: "key k", or "the history" when ops
// carry no key.
func (o *Object) Label() string {
	if o.Key == "" {
		return "the history"
	}
	return "key " + o.Key
}

// Prepared is a history split into objects.
type Prepared struct {
	// Objects holds the keys with ops to check (or a reason not to),
	// sorted by key, numerically when keys are integers.
	Objects []*Object
	// Failed counts fail ops, dropped because they did not happen.
	Failed int
	// Unmatched counts completions without an invocation, ignored.
	Unmatched int
}

// Prepare pairs invocations with completions by process and reads each op
// with spec: fail ops are dropped, since they certainly did not happen;
// ops of unknown outcome (info, or never completed because the run was cut
// short) get a nil Out, and are dropped when they constrain nothing: when
// they are read-only, and, for ValueOps specs, when they write a value no
// op reads or expects (any legal order with such a write stays legal
// without it, once the cas ops of unknown outcome it would make swap are
// moved to the end). Nuker ops are ignored. A key with an op spec cannot
// read gets Err and no further ops.
func Prepare(ops []history.Op, spec Spec) Prepared {
	var p Prepared
	pending := map[history.Process]int{}
	pairs := make([]opRef, 0, len(ops)/2+1)
	for pos := range ops {
		op := &ops[pos] // a pointer: an Op is large, and there may be millions
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
			p.Unmatched++
			continue
		}
		delete(pending, op.Process)
		pairs = append(pairs, opRef{inv: inv, done: pos})
	}
	for _, inv := range pending {
		pairs = append(pairs, opRef{inv: inv, done: -1})
	}
	slices.SortFunc(pairs, func(a, b opRef) int { return a.inv - b.inv })

	byKey := map[string]*Object{}
	obj := func(key string) *Object {
		o := byKey[key]
		if o == nil {
			o = &Object{Key: key}
			byKey[key] = o
		}
		return o
	}
	for _, ref := range pairs {
		inv := &ops[ref.inv]
		c := Call{F: inv.F, Key: inv.Key, Process: inv.Process, Arg: inv.Value}
		if ref.done >= 0 {
			done := &ops[ref.done]
			if done.Type == history.Fail {
				p.Failed++
				continue
			}
			if c.Key == "" {
				c.Key = done.Key
			}
			if c.Arg == nil {
				c.Arg = done.Value
			}
			if done.Type == history.OK {
				c.Known, c.Result = true, done.Value
			}
		}
		parsed, err := spec.Parse(c)
		if err != nil {
			if o := obj(c.Key); o.Err == nil {
				o.Err = fmt.Errorf("op %d (process %v): %w", inv.Index, inv.Process, err)
			}
			continue
		}
		o := obj(parsed.Key)
		if o.Err != nil {
			continue
		}
		op := Operation{Process: inv.Process, In: parsed.In, Call: ref.inv, Return: ref.done, ReadOnly: parsed.ReadOnly}
		if c.Known {
			op.Out = parsed.Out
		} else {
			if parsed.ReadOnly {
				continue
			}
			o.Indeterminate++
		}
		o.Ops = append(o.Ops, op)
	}
	if v, ok := spec.(ValueOps); ok {
		for _, o := range byKey {
			dropUnobserved(o, v)
		}
	}
	for _, o := range byKey {
		if len(o.Ops) > 0 || o.Err != nil {
			p.Objects = append(p.Objects, o)
		}
	}
	slices.SortFunc(p.Objects, func(a, b *Object) int { return models.CompareKeys(a.Key, b.Key) })
	return p
}

// dropUnobserved leaves out the ops of unknown outcome of o that write a
// value no op needs.
func dropUnobserved(o *Object, v ValueOps) {
	needed := map[int64]bool{}
	for _, op := range o.Ops {
		if val, set, ok := v.Needs(op.In, op.Out); ok && set {
			needed[val] = true
		}
	}
	kept := o.Ops[:0]
	for _, op := range o.Ops {
		if w, ok := v.Writes(op.In); ok && !op.Known() && !needed[w] {
			o.Indeterminate--
			continue
		}
		kept = append(kept, op)
	}
	o.Ops = kept
}

// opRef ties a porcupine operation to the history: positions of its
// invocation and completion in the ops slice (done is -1 when the op never
// completed).
type opRef struct {
	inv, done int
}

// keyHistory is one object ready for porcupine. Times are positions in the
// history, which is the order Jepsen's checkers use too and needs no clock.
type keyHistory struct {
	name string // "" when ops carry no key
	ops  []porcupine.Operation
	// readOnly marks the ops that never change the state (Parsed.ReadOnly).
	readOnly []bool
	indet    int   // ops whose outcome is unknown
	reject   error // why the key cannot be checked (a malformed op), if so
}

func (k *keyHistory) label() string {
	if k.name == "" {
		return "the history"
	}
	return "key " + k.name
}

// prepared is a history split into keys for porcupine.
type prepared struct {
	keys      []*keyHistory // sorted by name
	failed    int           // fail ops, dropped
	unmatched int           // completions without an invocation, ignored
}

// prepare splits ops by key with Prepare and turns each key's ops into
// porcupine's form: ok ops keep their return position; ops of unknown
// outcome return after every other op (and Step accepts them anywhere).
func prepare(ops []history.Op, spec Spec) prepared {
	pp := Prepare(ops, spec)
	p := prepared{failed: pp.Failed, unmatched: pp.Unmatched}
	clients := map[history.Process]int{} // dense ids for the visualization's rows
	end := int64(len(ops))
	for _, o := range pp.Objects {
		kh := &keyHistory{name: o.Key, indet: o.Indeterminate, reject: o.Err}
		kh.ops = make([]porcupine.Operation, 0, len(o.Ops))
		kh.readOnly = make([]bool, 0, len(o.Ops))
		for _, op := range o.Ops {
			kh.readOnly = append(kh.readOnly, op.ReadOnly)
			ret := end
			if op.Known() {
				ret = int64(op.Return)
			}
			id, ok := clients[op.Process]
			if !ok {
				id = len(clients)
				clients[op.Process] = id
			}
			kh.ops = append(kh.ops, porcupine.Operation{
				ClientId: id,
				Input:    op.In,
				Call:     int64(op.Call),
				Output:   op.Out,
				Return:   ret,
				Metadata: opRef{inv: op.Call, done: op.Return},
			})
		}
		p.keys = append(p.keys, kh)
	}
	return p
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
