package session

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// call is one client operation: the positions of its invocation and
// completion in the history (done is -1 when it never completed) and its
// outcome (Info also when it never completed).
type call struct {
	inv, done int
	typ       history.Type
}

type kind uint8

const (
	kindOther kind = iota
	kindRead
	kindAdd
	kindAppend
)

// engine holds one check: the history's calls, what each is, and the
// per-read scratch indexed by session.
type engine struct {
	ops       []history.Op
	g         guarantee
	session   func(history.Op) string // nil: by process
	maxAnom   int
	calls     []call
	at        []int32 // position -> call, -1 for other ops
	kinds     []kind
	sess      []int32 // call -> session
	keyOf     []int32 // call -> key
	elemOf    []int32 // write call -> its element's id in its key
	sessNames []string
	keys      []*keyOps
	work      keyState // the key being checked; its buffers are reused

	// Scratch for one read, indexed by session: the latest invocation (and
	// its call) of a write of that session the read shows; -1 when none.
	tmaxInv  []int
	tmaxCall []int32
	touched  []int32
	// Session -> its row in the key's first-seen table, -1 when none.
	localOf []int32
	// The same for the list order check, over the list so far.
	orderInv     []int
	orderCall    []int32
	orderTouched []int32
	// Buffers for one read's elements.
	seqIDs, ids, path []int32

	reads, writes, acked, indet, failed int64
	duplicateWrites, malformed          int64
	unmatched                           int
	firstMalformed                      string
	skipped                             []string // keys not checked, and why
	violations                          [4]int64
	listed                              [4]int
	anomalies                           []models.Anomaly
}

// keyOps are one key's ops.
type keyOps struct {
	name              string
	hasAdd, hasAppend bool
	events            []int32 // positions of its ops, in history order
}

// writer is the write that counts for an element, copied from its call so
// that a read's elements are judged from key-local memory.
type writer struct {
	call      int32 // -1 when no write attempted the element
	sess      int32
	inv, done int // positions; done is -1 when it never completed
	typ       history.Type
}

func (w *writer) ok() bool { return w.call >= 0 && w.typ == history.OK }

// happened reports whether the write may have taken effect: it exists and
// did not fail.
func (w *writer) happened() bool { return w.call >= 0 && w.typ != history.Fail }

// keyState is what the engine knows of the key it checks: its elements,
// which are live (written ok or read so far), and the sessions that used
// it.
type keyState struct {
	name string
	list bool

	ints   map[int64]int32
	strs   map[string]int32
	vals   []any // element -> value, for people
	writer []writer
	live   []bool
	mark   []uint32 // element -> the last read (seq) that held it
	u      []int32  // live elements
	seq    uint32

	// Sets: per session that read the key (by its local index), element
	// -> the session's first read that returned it, plus one (0: none).
	// Rows are as long as the largest element id the session read, which
	// for reads of a whole set is about what it read.
	seen   [][]int32
	locals []int32 // local index -> session

	// Lists: each session's state, the trie of lists read, and each
	// write's session frontier at its invocation (for writes-follow-reads).
	sessions map[int32]*sessState
	trie     trie
	snap     map[int32][]frontierEntry
	prevSeq  []int32 // the previous read's elements, in order
	prevPath []int32 // and its trie path
}

// reset readies k for the key ko, keeping its buffers.
func (k *keyState) reset(ko *keyOps) {
	k.name, k.list = ko.name, ko.hasAppend
	k.ints = resetMap(k.ints)
	k.strs = resetMap(k.strs)
	k.sessions = resetMap(k.sessions)
	k.snap = resetMap(k.snap)
	k.vals, k.writer, k.live, k.mark, k.u = k.vals[:0], k.writer[:0], k.live[:0], k.mark[:0], k.u[:0]
	k.seq = 0
	for i := range k.seen {
		clear(k.seen[i])
		k.seen[i] = k.seen[i][:0]
	}
	k.seen, k.locals = k.seen[:0], k.locals[:0]
	k.trie.reset()
	k.prevSeq, k.prevPath = k.prevSeq[:0], k.prevPath[:0]
}

// resetMap empties m for reuse, or makes a new one when m grew large:
// clearing costs its capacity, which a large key must not impose on every
// small key after it.
func resetMap[K comparable, V any](m map[K]V) map[K]V {
	if m == nil || len(m) > 1<<12 {
		return map[K]V{}
	}
	clear(m)
	return m
}

// sessState is what one session did on one list.
type sessState struct {
	// The session's reads that no later read of it extends (normally one,
	// the latest); copy on write, since writes keep snapshots of it.
	frontier []frontierEntry
}

// frontierEntry is a read as a trie node, and the entries it replaced in
// its session's frontier: a read of a session whose ops overlap may have
// begun before this one completed, and is then held to those instead.
type frontierEntry struct {
	node, depth int32
	read        int32 // call
	replaced    []frontierEntry
}

// witness is the first element that breaks a guarantee in one read, and
// how many do.
type witness struct {
	count   int
	elem    int32 // -1 when a list prefix is the matter
	a, b    int32 // calls involved, -1 when unused
	session int32
	order   bool // elem is present but out of order
}

func (w *witness) add(elem, a, b, session int32) {
	if w.count == 0 {
		w.elem, w.a, w.b, w.session = elem, a, b, session
	}
	w.count++
}

// addOrder is add for an element present out of order.
func (w *witness) addOrder(elem, a, b, session int32) {
	if w.count == 0 {
		w.order = true
	}
	w.add(elem, a, b, session)
}

func newEngine(ops []history.Op, g guarantee, session func(history.Op) string, maxAnom int) *engine {
	return &engine{ops: ops, g: g, session: session, maxAnom: maxAnom}
}

// run pairs, classifies and checks every key.
func (e *engine) run(ctx context.Context) error {
	e.pair()
	e.classify()
	for _, k := range e.keys {
		if k.hasAdd && k.hasAppend {
			e.skipped = append(e.skipped, fmt.Sprintf("%s mixes adds and appends", keyLabel(k.name)))
			continue
		}
		if err := e.checkKey(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

func (e *engine) pair() {
	ops := e.ops
	e.at = make([]int32, len(ops))
	pending := map[history.Process]int32{}
	for pos := range ops {
		e.at[pos] = -1
		op := &ops[pos]
		if !op.IsClient() || !op.Type.Valid() {
			continue
		}
		if op.Type == history.Invoke {
			// An earlier invocation still pending never completed; it
			// keeps done -1.
			pending[op.Process] = int32(len(e.calls))
			e.at[pos] = int32(len(e.calls))
			e.calls = append(e.calls, call{inv: pos, done: -1, typ: history.Info})
			continue
		}
		i, ok := pending[op.Process]
		if !ok {
			e.unmatched++
			continue
		}
		delete(pending, op.Process)
		e.calls[i].done, e.calls[i].typ = pos, op.Type
		e.at[pos] = i
	}
}

func (e *engine) malformedOp(op *history.Op, format string, args ...any) {
	e.malformed++
	if e.firstMalformed == "" {
		e.firstMalformed = fmt.Sprintf("op %d (process %v): ", op.Index, op.Process) + fmt.Sprintf(format, args...)
	}
}

// classify decides each call's kind, key and session, and gathers each
// key's ops.
func (e *engine) classify() {
	ops, calls := e.ops, e.calls
	n := len(calls)
	e.kinds = make([]kind, n)
	e.sess = make([]int32, n)
	e.keyOf = make([]int32, n)
	e.elemOf = make([]int32, n)
	keyIDs := map[string]int32{}
	byProc := map[history.Process]int32{}
	byName := map[string]int32{}
	for i, cl := range calls {
		inv := &ops[cl.inv]
		var done *history.Op
		if cl.done >= 0 {
			done = &ops[cl.done]
		}
		switch inv.F {
		case "read":
			if cl.typ != history.OK {
				continue // a read of unknown outcome or a failed read says nothing
			}
			if !isList(done.Value) {
				e.malformedOp(done, "read returned %s: not a list", models.Show(done.Value))
				continue
			}
			e.kinds[i] = kindRead
		case "add", "append":
			arg := inv.Value
			if arg == nil && done != nil {
				arg = done.Value
			}
			if !scalar(arg) {
				e.malformedOp(inv, "%s of %s: not a single element", inv.F, models.Show(arg))
				continue
			}
			e.kinds[i] = kindAdd
			if inv.F == "append" {
				e.kinds[i] = kindAppend
			}
			e.writes++
			switch cl.typ {
			case history.OK:
				e.acked++
			case history.Fail:
				e.failed++
			default:
				e.indet++
			}
		default:
			continue
		}
		key := inv.Key
		if key == "" && done != nil {
			key = done.Key
		}
		k, ok := keyIDs[key]
		if !ok {
			k = int32(len(e.keys))
			keyIDs[key] = k
			e.keys = append(e.keys, &keyOps{name: key})
		}
		e.keyOf[i] = k
		switch e.kinds[i] {
		case kindAdd:
			e.keys[k].hasAdd = true
		case kindAppend:
			e.keys[k].hasAppend = true
		}
		var s int32
		if e.session != nil {
			name := e.session(*inv)
			if s, ok = byName[name]; !ok {
				s = int32(len(e.sessNames))
				byName[name] = s
				e.sessNames = append(e.sessNames, "session "+strconv.Quote(name))
			}
		} else if s, ok = byProc[inv.Process]; !ok {
			s = int32(len(e.sessNames))
			byProc[inv.Process] = s
			e.sessNames = append(e.sessNames, "process "+inv.Process.String())
		}
		e.sess[i] = s
	}
	for pos, ci := range e.at {
		if ci >= 0 && e.kinds[ci] != kindOther {
			k := e.keys[e.keyOf[ci]]
			k.events = append(k.events, int32(pos))
		}
	}
	slices.SortStableFunc(e.keys, func(a, b *keyOps) int { return models.CompareKeys(a.name, b.name) })
	ns := len(e.sessNames)
	e.tmaxInv = slices.Repeat([]int{-1}, ns)
	e.tmaxCall = make([]int32, ns)
	e.orderInv = slices.Repeat([]int{-1}, ns)
	e.localOf = slices.Repeat([]int32{-1}, ns)
	e.orderCall = make([]int32, ns)
}

// intern returns v's element id in k, creating it when new.
func (k *keyState) intern(v any) int32 {
	if n, ok := history.Int(v); ok {
		if id, ok := k.ints[n]; ok {
			return id
		}
		id := k.newElem(n)
		k.ints[n] = id
		return id
	}
	s, ok := v.(string)
	if !ok {
		s = fmt.Sprint(v)
	}
	if id, ok := k.strs[s]; ok {
		return id
	}
	id := k.newElem(s)
	k.strs[s] = id
	return id
}

func (k *keyState) newElem(v any) int32 {
	k.vals = append(k.vals, v)
	k.writer = append(k.writer, writer{call: -1})
	k.live = append(k.live, false)
	k.mark = append(k.mark, 0)
	return int32(len(k.vals) - 1)
}

func (k *keyState) sessionState(s int32) *sessState {
	st := k.sessions[s]
	if st == nil {
		st = &sessState{}
		k.sessions[s] = st
	}
	return st
}

// firstSeen returns the first read of session s that returned element id,
// if any.
func (e *engine) firstSeen(k *keyState, s, id int32) (int32, bool) {
	l := e.localOf[s]
	if l < 0 || int(id) >= len(k.seen[l]) {
		return 0, false
	}
	f := k.seen[l][id]
	return f - 1, f != 0
}

// checkKey replays one key's ops in history order. A requirement starts at
// a completion; a read is held to the requirements that started before it
// began, which is a comparison of positions, so a read sees the state at
// its invocation although it is checked at its completion.
func (e *engine) checkKey(ctx context.Context, ko *keyOps) error {
	k := &e.work
	k.reset(ko)
	defer func() {
		for _, s := range k.locals {
			e.localOf[s] = -1
		}
	}()
	for i, pos := range ko.events {
		if i&0x3ff == 0 {
			if err := ctx.Err(); err != nil {
				return context.Cause(ctx)
			}
		}
		c := e.at[pos]
		cl := e.calls[c]
		isInv := int(pos) == cl.inv
		switch e.kinds[c] {
		case kindAdd, kindAppend:
			if isInv {
				e.writeInvoked(k, c)
			} else if cl.typ == history.OK {
				id := e.elemOf[c]
				if k.writer[id].call == c && !k.live[id] {
					k.live[id] = true
					k.u = append(k.u, id)
				}
			}
		case kindRead:
			if !isInv {
				e.read(k, c)
			}
		}
	}
	ko.events = nil
	return nil
}

func (e *engine) writeInvoked(k *keyState, c int32) {
	cl := e.calls[c]
	arg := e.ops[cl.inv].Value
	if arg == nil && cl.done >= 0 {
		arg = e.ops[cl.done].Value
	}
	id := k.intern(arg)
	e.elemOf[c] = id
	w := &k.writer[id]
	switch {
	case w.call < 0:
	case w.typ == history.Fail && cl.typ != history.Fail:
		e.duplicateWrites++
	default:
		e.duplicateWrites++
		w = nil
	}
	if w != nil {
		*w = writer{call: c, sess: e.sess[c], inv: cl.inv, done: cl.done, typ: cl.typ}
	}
	if k.list && e.g&wfr != 0 && cl.typ != history.Fail {
		if st := k.sessions[e.sess[c]]; st != nil && len(st.frontier) > 0 {
			k.snap[c] = st.frontier
		}
	}
}

// read checks one ok read.
func (e *engine) read(k *keyState, c int32) {
	e.reads++
	cl := e.calls[c]
	p := cl.inv
	s := e.sess[c]
	vals, _ := e.ops[cl.done].Value.([]any)
	k.seq++
	seq := k.seq

	// The read's elements, in order and distinct, and for each session
	// the latest of its writes the read shows.
	e.seqIDs, e.ids = e.seqIDs[:0], e.ids[:0]
	maxID := int32(-1)
	for _, v := range vals {
		id := k.intern(v)
		e.seqIDs = append(e.seqIDs, id)
		if k.mark[id] == seq {
			continue
		}
		k.mark[id] = seq
		e.ids = append(e.ids, id)
		maxID = max(maxID, id)
		if !k.live[id] {
			k.live[id] = true
			k.u = append(k.u, id)
		}
		if w := &k.writer[id]; w.happened() {
			if e.tmaxInv[w.sess] < 0 {
				e.touched = append(e.touched, w.sess)
			}
			if w.inv > e.tmaxInv[w.sess] {
				e.tmaxInv[w.sess], e.tmaxCall[w.sess] = w.inv, w.call
			}
		}
	}

	var wit [4]witness
	list := k.list

	// What the read lacks, among the elements known so far.
	for _, id := range k.u {
		if k.mark[id] == seq {
			continue
		}
		if w := &k.writer[id]; w.ok() {
			if e.g&ryw != 0 && w.sess == s && w.done < p {
				wit[0].add(id, w.call, -1, s)
			}
			if e.g&mw != 0 && e.tmaxInv[w.sess] > w.done {
				wit[2].add(id, w.call, e.tmaxCall[w.sess], w.sess)
			}
		}
		if list {
			continue // prefixes settle the rest, below
		}
		if e.g&mr != 0 {
			if f, ok := e.firstSeen(k, s, id); ok && e.calls[f].done < p {
				wit[1].add(id, f, -1, s)
			}
		}
		if e.g&wfr != 0 {
			for _, ws := range e.touched {
				if f, ok := e.firstSeen(k, ws, id); ok && e.calls[f].done < e.tmaxInv[ws] {
					wit[3].add(id, f, e.tmaxCall[ws], ws)
				}
			}
		}
	}

	if list {
		e.checkList(k, c, k.sessions[s], &wit)
	} else if e.g&(mr|wfr) != 0 && maxID >= 0 {
		l := e.localOf[s]
		if l < 0 {
			l = int32(len(k.locals))
			e.localOf[s] = l
			k.locals = append(k.locals, s)
			if len(k.seen) < len(k.locals) {
				k.seen = append(k.seen, nil)
			} else {
				k.seen = k.seen[:len(k.locals)]
			}
		}
		row := k.seen[l]
		if int(maxID) >= len(row) {
			row = slices.Grow(row, int(maxID)+1-len(row))[:maxID+1]
			k.seen[l] = row
		}
		for _, id := range e.ids {
			if row[id] == 0 {
				row[id] = c + 1
			}
		}
	}

	for _, ws := range e.touched {
		e.tmaxInv[ws] = -1
	}
	e.touched = e.touched[:0]

	for i, g := range order() {
		if wit[i].count == 0 {
			continue
		}
		e.violations[i]++
		if e.maxAnom >= 0 && e.listed[i] >= e.maxAnom {
			continue
		}
		e.listed[i]++
		e.anomalies = append(e.anomalies, e.explain(g, k, c, &wit[i]))
	}
}

// checkList checks a list read's order (monotonic writes) and prefixes
// (monotonic reads, writes-follow-reads), then records it in its session's
// frontier.
func (e *engine) checkList(k *keyState, c int32, st *sessState, wit *[4]witness) {
	calls := e.calls
	if e.g&mw != 0 {
		// A write placed after one its session began later is out of
		// order.
		for _, id := range e.seqIDs {
			w := &k.writer[id]
			if !w.happened() {
				continue
			}
			ws := w.sess
			if w.typ == history.OK && e.orderInv[ws] > w.done {
				wit[2].addOrder(id, w.call, e.orderCall[ws], ws)
			}
			if e.orderInv[ws] < 0 {
				e.orderTouched = append(e.orderTouched, ws)
			}
			if w.inv > e.orderInv[ws] {
				e.orderInv[ws], e.orderCall[ws] = w.inv, w.call
			}
		}
		for _, ws := range e.orderTouched {
			e.orderInv[ws] = -1
		}
		e.orderTouched = e.orderTouched[:0]
	}
	if e.g&(mr|wfr) == 0 {
		return
	}
	path := e.walk(k)
	p := calls[c].inv
	if e.g&mr != 0 && st != nil {
		for _, f := range st.frontier {
			if bad, ok := e.extends(path, f, p); !ok {
				wit[1].add(-1, bad, -1, e.sess[c])
				break
			}
		}
	}
	if e.g&wfr != 0 {
		for _, ws := range e.touched {
			w := e.tmaxCall[ws]
			for _, f := range k.snap[w] {
				if !onPath(path, f) {
					wit[3].add(-1, f.read, w, ws)
					break
				}
			}
		}
	}
	// The session's frontier: its reads no other of its reads extends.
	if st == nil {
		st = k.sessionState(e.sess[c])
	}
	me := frontierEntry{node: path[len(path)-1], depth: int32(len(path) - 1), read: c}
	for _, f := range st.frontier {
		if k.trie.ancestor(me.node, f.node) {
			return // a read of the session already extends this one
		}
	}
	next := make([]frontierEntry, 0, len(st.frontier)+1)
	for _, f := range st.frontier {
		if onPath(path, f) {
			me.replaced = append(me.replaced, f) // this read extends it
		} else {
			next = append(next, f)
		}
	}
	st.frontier = append(next, me)
}

// extends reports whether the read whose path this is extends every read
// of f's session that completed before position p and that f stands for;
// if not, it returns one it does not extend. Only sessions whose ops
// overlap look past f itself.
func (e *engine) extends(path []int32, f frontierEntry, p int) (int32, bool) {
	if e.calls[f.read].done < p {
		return f.read, onPath(path, f)
	}
	for _, g := range f.replaced {
		if bad, ok := e.extends(path, g, p); !ok {
			return bad, false
		}
	}
	return -1, true
}

// walk inserts the read's list into the key's trie and returns its path:
// path[d] is the node of its prefix of length d. The common prefix with the
// previous read is reused, so a read that extends it costs one comparison
// per element and one insertion per new one.
func (e *engine) walk(k *keyState) []int32 {
	seq := e.seqIDs
	same := 0
	for same < len(seq) && same < len(k.prevSeq) && seq[same] == k.prevSeq[same] {
		same++
	}
	path := append(e.path[:0], 0) // the root
	if len(k.prevPath) > 0 {
		path = append(path[:0], k.prevPath[:same+1]...)
	}
	for _, id := range seq[same:] {
		path = append(path, k.trie.child(path[len(path)-1], id))
	}
	e.path = path
	k.prevSeq = append(k.prevSeq[:0], seq...)
	k.prevPath = append(k.prevPath[:0], path...)
	return path
}

// onPath reports whether the read f is a prefix of the read whose path this is.
func onPath(path []int32, f frontierEntry) bool {
	return int(f.depth) < len(path) && path[f.depth] == f.node
}

// trie holds every list read of a key, one node per distinct prefix; node
// 0 is the empty list.
type trie struct {
	parent, depth []int32
	children      map[uint64]int32
}

// reset empties t to the root alone.
func (t *trie) reset() {
	t.parent = append(t.parent[:0], -1)
	t.depth = append(t.depth[:0], 0)
	t.children = resetMap(t.children)
}

func (t *trie) child(n, elem int32) int32 {
	key := uint64(uint32(n))<<32 | uint64(uint32(elem))
	if c, ok := t.children[key]; ok {
		return c
	}
	c := int32(len(t.parent))
	t.parent = append(t.parent, n)
	t.depth = append(t.depth, t.depth[n]+1)
	t.children[key] = c
	return c
}

// ancestor reports whether node a is b or a prefix of it.
func (t *trie) ancestor(a, b int32) bool {
	for t.depth[b] > t.depth[a] {
		b = t.parent[b]
	}
	return a == b
}
