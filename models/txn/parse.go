package txn

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/faultline/faultline/models/history"
)

type mopKind uint8

const (
	mAppend mopKind = iota + 1
	mRead
	mWrite
)

// mop is one micro-op. A list read's elements are arena[off:off+n].
type mop struct {
	kind mopKind
	list bool // a read that returned a list
	null bool // a read that returned nil
	// bad marks a read that contradicts its own transaction; it yields no
	// edges.
	bad    bool
	key    int32
	val    int64 // appended or written value, or a register read's value
	off, n int32
}

// txn is one transaction: an invocation and its completion.
type txn struct {
	typ  history.Type // OK, Fail, or Info (also when it never completed)
	inv  int32        // position of the invocation in ops, -1 if none
	done int32        // position of the completion, -1 if none
	proc history.Process
	mops []mop
	node int32 // graph node, -1 when not committed
}

// keyName is a key as the history spells it: an integer or a string.
type keyName struct {
	s     string
	n     int64
	isInt bool
}

func (k keyName) String() string {
	if k.isInt {
		return strconv.FormatInt(k.n, 10)
	}
	return k.s
}

// parsed is a history's transactions.
type parsed struct {
	txns    []txn
	arena   []int64
	keys    []keyName
	keyID   map[keyName]int32
	appends int // micro-ops of each kind
	writes  int
	// malformed counts transactions left out because their value could
	// not be read; firstMalformed says why for the first.
	malformed      int
	firstMalformed string
	unmatched      int // completions without an invocation
	other          int // client ops of other functions, ignored
}

// parse pairs each process's txn invocation with its completion and reads
// the micro-ops: for an ok transaction those of its completion (they carry
// what was read), otherwise those of its invocation (the writes attempted).
func parse(ops []history.Op) *parsed {
	p := &parsed{keyID: map[keyName]int32{}}
	pending := map[history.Process]int{}
	// txns are kept in invocation order; vals[i] is the value to parse.
	var invs []int32
	var dones []int32
	for i, op := range ops {
		if !op.IsClient() {
			continue
		}
		if op.F != F {
			p.other++
			continue
		}
		if op.Type == history.Invoke {
			// A second invocation on a process abandons the first, which
			// stays of unknown outcome.
			pending[op.Process] = len(invs)
			invs = append(invs, int32(i))
			dones = append(dones, -1)
			continue
		}
		j, ok := pending[op.Process]
		if !ok {
			p.unmatched++
			invs = append(invs, -1)
			dones = append(dones, int32(i))
			continue
		}
		delete(pending, op.Process)
		dones[j] = int32(i)
	}
	p.txns = make([]txn, 0, len(invs))
	p.arena = make([]int64, 0, readElements(ops, dones))
	for i := range invs {
		t := txn{typ: history.Info, inv: invs[i], done: dones[i], node: -1}
		var v any
		if t.done >= 0 {
			t.typ = ops[t.done].Type
			if t.typ == history.Invoke { // not a completion: treat as unknown
				t.typ = history.Info
			}
			t.proc = ops[t.done].Process
		}
		if t.inv >= 0 {
			t.proc = ops[t.inv].Process
			v = ops[t.inv].Value
		}
		if t.typ == history.OK || v == nil {
			if t.done >= 0 {
				v = ops[t.done].Value
			}
		}
		mops, err := p.parseTxn(v)
		if err != nil {
			p.malformedTxn(ops, t, err)
			continue
		}
		t.mops = mops
		p.txns = append(p.txns, t)
	}
	return p
}

// readElements counts the list elements read by ok completions, so the
// arena is allocated once.
func readElements(ops []history.Op, dones []int32) int {
	n := 0
	for _, d := range dones {
		if d < 0 || ops[d].Type != history.OK {
			continue
		}
		mops, _ := ops[d].Value.([]any)
		for _, m := range mops {
			if m, ok := m.([]any); ok && len(m) == 3 {
				if l, ok := m[2].([]any); ok {
					n += len(l)
				}
			}
		}
	}
	return n
}

func (p *parsed) malformedTxn(ops []history.Op, t txn, err error) {
	p.malformed++
	if p.firstMalformed == "" {
		at := t.done
		if at < 0 {
			at = t.inv
		}
		p.firstMalformed = fmt.Sprintf("op %d: %v", ops[at].Index, err)
	}
}

// validate drops transactions whose micro-ops do not fit the model, and
// ok ones whose reads do not.
func (p *parsed) validate(ops []history.Op, model string) {
	kept := p.txns[:0]
	for _, t := range p.txns {
		if err := checkShape(t, model); err != nil {
			p.malformedTxn(ops, t, err)
			continue
		}
		kept = append(kept, t)
	}
	p.txns = kept
}

func checkShape(t txn, model string) error {
	for i, m := range t.mops {
		switch {
		case model == ListAppend && m.kind == mWrite:
			return fmt.Errorf("micro-op %d: w in a list-append history", i)
		case model == RWRegister && m.kind == mAppend:
			return fmt.Errorf("micro-op %d: append in a rw-register history", i)
		case t.typ != history.OK || m.kind != mRead:
		case model == ListAppend && !m.list && !m.null:
			return fmt.Errorf("micro-op %d: list-append read of a single value", i)
		case model == RWRegister && m.list:
			return fmt.Errorf("micro-op %d: rw-register read of a list", i)
		}
	}
	return nil
}

func (p *parsed) parseTxn(v any) ([]mop, error) {
	list, ok := asList(v)
	if !ok {
		return nil, fmt.Errorf("value %s is not a list of micro-ops", show(v))
	}
	mops := make([]mop, 0, len(list))
	for i, x := range list {
		m, err := p.parseMop(x)
		if err != nil {
			return nil, fmt.Errorf("micro-op %d %s: %w", i, show(x), err)
		}
		mops = append(mops, m)
	}
	return mops, nil
}

func (p *parsed) parseMop(x any) (mop, error) {
	parts, ok := asList(x)
	if !ok || len(parts) != 3 {
		return mop{}, fmt.Errorf("not [f key value]")
	}
	f, _ := parts[0].(string)
	var m mop
	switch strings.TrimPrefix(f, ":") {
	case "append":
		m.kind = mAppend
		p.appends++
	case "r", "read":
		m.kind = mRead
	case "w", "write":
		m.kind = mWrite
		p.writes++
	default:
		return mop{}, fmt.Errorf("unknown micro-op %s", show(parts[0]))
	}
	k, err := p.key(parts[1])
	if err != nil {
		return mop{}, err
	}
	m.key = k
	v := parts[2]
	if m.kind != mRead {
		n, ok := history.Int(v)
		if !ok {
			return mop{}, fmt.Errorf("value %s is not an integer", show(v))
		}
		m.val = n
		return m, nil
	}
	if v == nil {
		m.null = true
		return m, nil
	}
	if elems, ok := asList(v); ok {
		m.list = true
		m.off, m.n = int32(len(p.arena)), int32(len(elems))
		for _, e := range elems {
			n, ok := history.Int(e)
			if !ok {
				p.arena = p.arena[:m.off]
				return mop{}, fmt.Errorf("read element %s is not an integer", show(e))
			}
			p.arena = append(p.arena, n)
		}
		return m, nil
	}
	n, ok := history.Int(v)
	if !ok {
		return mop{}, fmt.Errorf("read value %s is neither an integer, a list nor nil", show(v))
	}
	m.val = n
	return m, nil
}

func (p *parsed) key(v any) (int32, error) {
	var k keyName
	if n, ok := history.Int(v); ok {
		k = keyName{n: n, isInt: true}
	} else if s, ok := v.(string); ok {
		k = keyName{s: strings.TrimPrefix(s, ":")}
	} else {
		return 0, fmt.Errorf("key %s is neither an integer nor a string", show(v))
	}
	id, ok := p.keyID[k]
	if !ok {
		id = int32(len(p.keys))
		p.keys = append(p.keys, k)
		p.keyID[k] = id
	}
	return id, nil
}

// asList returns v as a list when it is one of the list types an op value
// arrives as: []any from JSON or EDN, or integer slices built in Go.
func asList(v any) ([]any, bool) {
	switch x := v.(type) {
	case []any:
		return x, true
	case []int64:
		out := make([]any, len(x))
		for i, n := range x {
			out[i] = n
		}
		return out, true
	case []int:
		out := make([]any, len(x))
		for i, n := range x {
			out[i] = n
		}
		return out, true
	}
	return nil, false
}

// show prints a value briefly for error messages.
func show(v any) string {
	b, err := json.Marshal(v)
	s := string(b)
	if err != nil {
		s = fmt.Sprint(v)
	}
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

// elems returns a list read's elements.
func (p *parsed) elems(m *mop) []int64 { return p.arena[m.off : m.off+m.n] }
