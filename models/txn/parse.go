package txn

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
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

// mop is one micro-op. A list read's elements are n from arena offset off
// (see elems).
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

// outcome is how a transaction completed.
type outcome uint8

const (
	tOK   outcome = iota + 1
	tFail         // certainly did not commit
	tInfo         // may have committed (also when it never completed)
)

// txn is one transaction: an invocation and its completion.
type txn struct {
	// invIndex and doneIndex are the history indexes of the invocation
	// and the completion; time is the invocation's (else the
	// completion's).
	invIndex, doneIndex, time int64
	proc                      history.Process
	inv                       int32 // position of the invocation among the ops read, -1 if none
	done                      int32 // position of the completion, -1 if none
	mo, mn                    int32 // micro-ops: mn at offset mo (see mopsOf)
	node                      int32 // graph node, -1 when not committed
	typ                       outcome
	// malformed marks a transaction whose value could not be read; it is
	// dropped when the history is complete.
	malformed bool
}

// index is the history index that names t: its completion, or its
// invocation when it never completed.
func (t *txn) index() int64 {
	if t.done >= 0 {
		return t.doneIndex
	}
	return t.invIndex
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

// parsed is a history's transactions, in the compact form the analysis
// works on: no history.Op is kept.
type parsed struct {
	txns []txn
	// arena holds the elements of list reads (see elems), mops the
	// transactions' micro-ops. Neither, nor txns, holds a pointer, so the
	// garbage collector does not scan them.
	arena chunked[int64]
	mops  chunked[mop]
	// shared is, per key, the longest list read so far, in the arena with
	// room to grow: a read that is a prefix of it, or extends it, views it
	// instead of taking elements of its own (reads of a key mostly
	// extend one another, as its versions do).
	shared  []sharedList
	scratch []int64 // a list read's elements before they are stored
	keys    []keyName
	// intKeys and strKeys intern keys while the history is read.
	intKeys map[int64]int32
	strKeys map[string]int32
	appends int // micro-ops of each kind
	writes  int
	nops    int32 // ops read (positions run 0..nops-1)
	// malformed counts transactions left out because their value could
	// not be read; firstMalformed says why for the first.
	malformed      int
	firstMalformed string
	unmatched      int // completions without an invocation
	other          int // client ops of other functions, ignored
}

// sharedList is a key's longest read: n elements at off, room for cap.
type sharedList struct{ off, n, cap int32 }

// storeList makes m view elems (a read of m.key) in the arena.
func (p *parsed) storeList(m *mop, elems []int64) {
	n := int32(len(elems))
	m.list, m.n = true, n
	if n == 0 {
		return
	}
	for int(m.key) >= len(p.shared) {
		p.shared = append(p.shared, sharedList{})
	}
	sh := &p.shared[m.key]
	have := p.arena.get(sh.off, sh.n)
	switch {
	case n <= sh.n && slices.Equal(elems, have[:n]):
		m.off = sh.off
	case n > sh.n && slices.Equal(elems[:sh.n], have):
		if n > sh.cap {
			// Move to a larger home; reads made so far keep the old one.
			c := max(2*n, 8)
			off := p.arena.alloc(c)
			copy(p.arena.get(off, sh.n), have)
			*sh = sharedList{off: off, n: sh.n, cap: c}
		}
		copy(p.arena.get(sh.off, n)[sh.n:], elems[sh.n:])
		sh.n = n
		m.off = sh.off
	default: // neither: a read in an order of its own
		m.off = p.arena.alloc(n)
		copy(p.arena.get(m.off, n), elems)
	}
}

// Chunk sizes (as powers of two) of the arena and the micro-ops.
const (
	arenaBits = 20
	mopBits   = 16
)

// chunked is a store that grows in fixed pieces rather than by copying one
// slice, so a large history never holds two copies at once. Items are
// addressed by an offset; a run of them taken at once lies in one piece.
type chunked[T any] struct {
	bits   uint
	pieces [][]T
	at     int32 // offset of the next item
}

// alloc takes n items. A run that does not fit in the current piece's
// rest starts a new one, and one longer than a piece gets a piece of its
// own spanning several piece numbers.
func (c *chunked[T]) alloc(n int32) int32 {
	size := int32(1) << c.bits
	if in := c.at & (size - 1); in != 0 && in+n > size {
		c.at += size - in
	}
	if i := int(c.at >> c.bits); i >= len(c.pieces) {
		total := (max(n, 1) + size - 1) &^ (size - 1)
		piece := make([]T, total)
		for at := int32(0); at < total; at += size {
			c.pieces = append(c.pieces, piece[at:])
		}
	}
	off := c.at
	c.at += n
	return off
}

// get returns the n items at off.
func (c *chunked[T]) get(off, n int32) []T {
	if n == 0 {
		return nil
	}
	in := off & (1<<c.bits - 1)
	return c.pieces[off>>c.bits][in : in+n : in+n]
}

// mopsOf returns transaction t's micro-ops.
func (p *parsed) mopsOf(t int32) []mop { return p.txnMops(&p.txns[t]) }

func (p *parsed) txnMops(x *txn) []mop { return p.mops.get(x.mo, x.mn) }

// builder reads a history op by op into parsed: it pairs each process's
// txn invocation with its completion and reads the micro-ops, for an ok
// transaction those of its completion (they carry what was read),
// otherwise those of its invocation (the writes attempted).
type builder struct {
	p       *parsed
	pending map[history.Process]*pend
	free    []*pend
	errs    map[int32]string // why each malformed transaction is
	scratch []mop            // a completion's micro-ops before they are kept
}

// pend is a transaction awaiting its completion, with its invocation's
// micro-ops (kept aside: an ok completion replaces them).
type pend struct {
	t    int32
	mops []mop
	n    counts
	err  error
	null bool // the invocation's value is nil
}

// newBuilder starts a history of about hint transactions (a guess: more
// costs address space only, as the transactions hold no pointers and
// untouched pages stay unmapped; fewer costs copies as they grow).
func newBuilder(hint int) *builder {
	return &builder{
		p: &parsed{
			txns:    make([]txn, 0, hint),
			intKeys: map[int64]int32{}, strKeys: map[string]int32{},
			arena: chunked[int64]{bits: arenaBits}, mops: chunked[mop]{bits: mopBits},
		},
		pending: map[history.Process]*pend{},
		errs:    map[int32]string{},
	}
}

// parse reads ops into the compact form.
func parse(ops []history.Op) *parsed {
	b := newBuilder(len(ops)/2 + 1)
	for i := range ops {
		b.add(&ops[i], nil)
	}
	return b.finish()
}

// add reads the next op: its value is op.Value as decoded, or raw, its
// JSON, when not nil (see history.ReadEach).
func (b *builder) add(op *history.Op, raw []byte) {
	p := b.p
	pos := p.nops
	p.nops++
	if !op.IsClient() {
		return
	}
	if op.F != F {
		p.other++
		return
	}
	if op.Type == history.Invoke {
		// A second invocation on a process abandons the first, which
		// stays of unknown outcome.
		if old, ok := b.pending[op.Process]; ok {
			b.settle(old, nil, nil)
		}
		t := int32(len(p.txns))
		p.txns = append(p.txns, txn{typ: tInfo, inv: pos, done: -1, invIndex: op.Index, time: op.Time, proc: op.Process, node: -1})
		pd := b.newPend(t)
		pd.null = op.Value == nil && raw == nil
		pd.mops, pd.n, pd.err = p.parseTxn(op.Value, raw, pd.mops[:0])
		b.pending[op.Process] = pd
		return
	}
	pd, ok := b.pending[op.Process]
	if !ok {
		p.unmatched++
		t := int32(len(p.txns))
		p.txns = append(p.txns, txn{typ: outcomeOf(op.Type), inv: -1, done: pos, doneIndex: op.Index, time: op.Time, proc: op.Process, node: -1})
		mops, n, err := p.parseTxn(op.Value, raw, nil)
		b.keep(t, mops, n, err)
		return
	}
	delete(b.pending, op.Process)
	x := &p.txns[pd.t]
	x.typ, x.done, x.doneIndex = outcomeOf(op.Type), pos, op.Index
	b.settle(pd, op, raw)
}

// outcomeOf maps a completion's type; anything but ok and fail is unknown.
func outcomeOf(t history.Type) outcome {
	switch t {
	case history.OK:
		return tOK
	case history.Fail:
		return tFail
	}
	return tInfo
}

func (b *builder) newPend(t int32) *pend {
	if n := len(b.free); n > 0 {
		pd := b.free[n-1]
		b.free = b.free[:n-1]
		pd.t = t
		return pd
	}
	return &pend{t: t}
}

// settle decides a transaction's micro-ops once its completion (done, nil
// if none, with its raw value as add takes it) is known.
func (b *builder) settle(pd *pend, done *history.Op, raw []byte) {
	p := b.p
	x := &p.txns[pd.t]
	if done != nil && (x.typ == tOK || pd.null) {
		mops, n, err := p.parseTxn(done.Value, raw, b.scratch[:0])
		b.scratch = mops
		b.keep(pd.t, mops, n, err)
	} else {
		b.keep(pd.t, pd.mops, pd.n, pd.err)
	}
	b.free = append(b.free, pd)
}

// keep stores transaction t's micro-ops (copied), or marks it malformed.
func (b *builder) keep(t int32, mops []mop, n counts, err error) {
	b.p.appends += n.appends
	b.p.writes += n.writes
	x := &b.p.txns[t]
	if err != nil {
		x.malformed = true
		b.errs[t] = fmt.Sprintf("op %d: %v", x.index(), err)
		return
	}
	x.mn = int32(len(mops))
	x.mo = b.p.mops.alloc(x.mn)
	copy(b.p.mops.get(x.mo, x.mn), mops)
}

// finish settles the transactions still pending (they never completed)
// and drops the malformed ones.
func (b *builder) finish() *parsed {
	p := b.p
	left := make([]*pend, 0, len(b.pending))
	for _, pd := range b.pending {
		left = append(left, pd)
	}
	slices.SortFunc(left, func(x, y *pend) int { return int(x.t - y.t) })
	for _, pd := range left {
		b.settle(pd, nil, nil)
	}
	clear(b.pending)
	p.renumberKeys()
	if len(b.errs) == 0 {
		return p
	}
	kept := p.txns[:0]
	for t := range p.txns {
		if p.txns[t].malformed {
			p.malformed++
			if p.firstMalformed == "" {
				p.firstMalformed = b.errs[int32(t)]
			}
			continue
		}
		kept = append(kept, p.txns[t])
	}
	p.txns = kept
	return p
}

// renumberKeys numbers the keys in order of first use by a transaction
// kept, as reading the transactions in invocation order would: invocation
// values that completions replaced may have named keys first. The order
// keys are numbered in is the order anomalies are found in.
func (p *parsed) renumberKeys() {
	const unset = -1
	to := make([]int32, len(p.keys))
	for i := range to {
		to[i] = unset
	}
	next := int32(0)
	for t := range p.txns {
		if p.txns[t].malformed {
			continue
		}
		mops := p.mopsOf(int32(t))
		for m := range mops {
			k := &mops[m].key
			if to[*k] == unset {
				to[*k] = next
				next++
			}
			*k = to[*k]
		}
	}
	for k, n := range to { // keys no kept transaction uses go last
		if n == unset {
			to[k] = next
			next++
		}
	}
	keys := make([]keyName, len(p.keys))
	for k, n := range to {
		keys[n] = p.keys[k]
	}
	p.keys = keys
	p.intKeys, p.strKeys = nil, nil // no key is added after
}

func (p *parsed) malformedTxn(t txn, err error) {
	p.malformed++
	if p.firstMalformed == "" {
		p.firstMalformed = fmt.Sprintf("op %d: %v", t.index(), err)
	}
}

// validate drops transactions whose micro-ops do not fit the model, and
// ok ones whose reads do not.
func (p *parsed) validate(model string) {
	kept := p.txns[:0]
	for _, t := range p.txns {
		if err := checkShape(t, p.txnMops(&t), model); err != nil {
			p.malformedTxn(t, err)
			continue
		}
		kept = append(kept, t)
	}
	p.txns = kept
}

func checkShape(t txn, mops []mop, model string) error {
	for i, m := range mops {
		switch {
		case model == ListAppend && m.kind == mWrite:
			return fmt.Errorf("micro-op %d: w in a list-append history", i)
		case model == RWRegister && m.kind == mAppend:
			return fmt.Errorf("micro-op %d: append in a rw-register history", i)
		case t.typ != tOK || m.kind != mRead:
		case model == ListAppend && !m.list && !m.null:
			return fmt.Errorf("micro-op %d: list-append read of a single value", i)
		case model == RWRegister && m.list:
			return fmt.Errorf("micro-op %d: rw-register read of a list", i)
		}
	}
	return nil
}

// counts are the micro-ops of each kind a value holds, also those read
// before an error: Elle's model detection counts them so.
type counts struct{ appends, writes int }

// parseTxn reads a transaction's value into dst: v as decoded or, when
// not nil, raw JSON, which is read directly when it has the usual shape
// and decoded first otherwise.
func (p *parsed) parseTxn(v any, raw []byte, dst []mop) ([]mop, counts, error) {
	if raw != nil {
		if mops, n, ok := p.scanTxn(raw, dst); ok {
			return mops, n, nil
		}
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		v = nil
		if err := d.Decode(&v); err != nil {
			return nil, counts{}, fmt.Errorf("value %s: %w", raw, err)
		}
	}
	list, ok := asList(v)
	if !ok {
		return nil, counts{}, fmt.Errorf("value %s is not a list of micro-ops", show(v))
	}
	var n counts
	mops := dst[:0]
	for i, x := range list {
		m, err := p.parseMop(x, &n)
		if err != nil {
			return nil, n, fmt.Errorf("micro-op %d %s: %w", i, show(x), err)
		}
		mops = append(mops, m)
	}
	return mops, n, nil
}

func (p *parsed) parseMop(x any, n *counts) (mop, error) {
	parts, ok := asList(x)
	if !ok || len(parts) != 3 {
		return mop{}, fmt.Errorf("not [f key value]")
	}
	f, _ := parts[0].(string)
	var m mop
	if m.kind = mopKindOf(f); m.kind == 0 {
		return mop{}, fmt.Errorf("unknown micro-op %s", show(parts[0]))
	}
	n.add(m.kind)
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
		out := p.scratch[:0]
		for _, e := range elems {
			n, ok := history.Int(e)
			if !ok {
				return mop{}, fmt.Errorf("read element %s is not an integer", show(e))
			}
			out = append(out, n)
		}
		p.scratch = out
		p.storeList(&m, out)
		return m, nil
	}
	i, ok := history.Int(v)
	if !ok {
		return mop{}, fmt.Errorf("read value %s is neither an integer, a list nor nil", show(v))
	}
	m.val = i
	return m, nil
}

func (n *counts) add(k mopKind) {
	switch k {
	case mAppend:
		n.appends++
	case mWrite:
		n.writes++
	}
}

// mopKindOf reads a micro-op's f, 0 when unknown.
func mopKindOf(f string) mopKind {
	switch strings.TrimPrefix(f, ":") {
	case "append":
		return mAppend
	case "r", "read":
		return mRead
	case "w", "write":
		return mWrite
	}
	return 0
}

// scanTxn reads a raw transaction value of the usual shape
// ([["append",1,2],["r","x",[1,2]],["r",1,null]], integers and strings
// without escapes) into dst. It returns false for anything else, which
// parseTxn then decodes, so both ways give the same micro-ops and errors.
func (p *parsed) scanTxn(b []byte, dst []mop) ([]mop, counts, bool) {
	s := history.NewValueScanner(b)
	var n counts
	mops := dst[:0]
	if !s.Byte('[') {
		return nil, n, false
	}
	if s.Byte(']') {
		return mops, n, s.End()
	}
	for {
		var m mop
		if !s.Byte('[') {
			return nil, n, false
		}
		f, ok := s.PlainString()
		if !ok || !s.Byte(',') {
			return nil, n, false
		}
		if m.kind = mopKindOf(string(f)); m.kind == 0 {
			return nil, n, false
		}
		if s.Peek() == '"' {
			name, ok := s.PlainString()
			if !ok {
				return nil, n, false
			}
			m.key = p.strKey(bytes.TrimPrefix(name, []byte(":")))
		} else if k, ok := s.Int(); ok {
			m.key = p.keyOf(keyName{n: k, isInt: true})
		} else {
			return nil, n, false
		}
		if !s.Byte(',') {
			return nil, n, false
		}
		switch {
		case m.kind != mRead:
			if m.val, ok = s.Int(); !ok {
				return nil, n, false
			}
		case s.Null():
			m.null = true
		case s.Peek() == '[':
			if !p.scanList(s, &m) {
				return nil, n, false
			}
		default:
			if m.val, ok = s.Int(); !ok {
				return nil, n, false
			}
		}
		if !s.Byte(']') {
			return nil, n, false
		}
		n.add(m.kind)
		mops = append(mops, m)
		if s.Byte(']') {
			return mops, n, s.End()
		}
		if !s.Byte(',') {
			return nil, n, false
		}
	}
}

// scanList reads a list of integers into the arena.
func (p *parsed) scanList(s *history.ValueScanner, m *mop) bool {
	s.Byte('[')
	out := p.scratch[:0]
	if !s.Byte(']') {
		for {
			v, ok := s.Int()
			if !ok {
				return false
			}
			out = append(out, v)
			if s.Byte(']') {
				break
			}
			if !s.Byte(',') {
				return false
			}
		}
	}
	p.scratch = out
	p.storeList(m, out)
	return true
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
	return p.keyOf(k), nil
}

// keyOf interns a key.
func (p *parsed) keyOf(k keyName) int32 {
	if !k.isInt {
		return p.strKey([]byte(k.s))
	}
	id, ok := p.intKeys[k.n]
	if !ok {
		id = int32(len(p.keys))
		p.keys = append(p.keys, k)
		p.intKeys[k.n] = id
	}
	return id
}

// strKey interns a string key (its ':' already trimmed).
func (p *parsed) strKey(name []byte) int32 {
	if id, ok := p.strKeys[string(name)]; ok {
		return id
	}
	id := int32(len(p.keys))
	k := keyName{s: string(name)}
	p.keys = append(p.keys, k)
	p.strKeys[k.s] = id
	return id
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
func (p *parsed) elems(m *mop) []int64 { return p.arena.get(m.off, m.n) }
