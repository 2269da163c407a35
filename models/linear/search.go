package linear

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/anishathalye/porcupine"
)

// This file is faultline's own linearizability search of one key, used in
// place of porcupine's for the models it handles (see searchable). It is
// Wing & Gong's search with Lowe's just-in-time linearization, as
// porcupine's is, made to scale to a million history entries on one key:
//
//   - Only ops invoked before the earliest pending completion may be
//     linearized next (the real-time frontier), so a node is named by that
//     frontier op, the few ops placed ahead of it and the object's state;
//     nodes are hashed incrementally (128 bits) and only dead ends are
//     remembered, with their exact frontier form, so a collision never
//     merges two nodes and memory grows with the dead ends, not the history.
//   - Known ops of one process are placed in its order, so the candidates
//     are the next op of each process (a handful) and never a scan.
//   - Candidates are tried in order of completion: the op that completed
//     first most likely took effect first, so a linearizable history is
//     found almost without backtracking.
//   - A possible read-only op of known outcome is placed at once, without
//     branching; an op of unknown outcome is never placed where it changes
//     nothing, and for registers only while some unplaced op needs the value
//     it writes (Prepare has already dropped the rest).
//   - For registers, a branch ends as soon as it leaves a value that an
//     unplaced known op needs and that no unplaced op can write again.

// searchable reports whether the own search handles spec: every model.
// Its pruning is made for the register models (isRegister); on the others,
// whose ops of unknown outcome it cannot prune as well, it races porcupine
// (see race).
func searchable(Spec) bool { return true }

// isRegister reports whether spec is one of the register models.
func isRegister(spec Spec) bool {
	_, ok := spec.(registerSpec)
	return ok
}

// race checks a key with porcupine and, unless porcupine finishes within
// raceHead, the own search at once, and keeps the first verdict either
// reaches; the other is stopped. Both are exact,
// so the first is the answer; racing makes the check as fast as the
// faster of two searches whose weak spots differ (porcupine tries ops in
// invocation order, the own search in completion order with memoized dead
// ends), at the price of a second core while both run. own reports whose
// verdict it is: info is porcupine's when it is not.
func race(ctx context.Context, spec Spec, kh *keyHistory) (verdict porcupine.CheckResult, info porcupine.LinearizationInfo, found searchResult, own bool) {
	octx, cancel := context.WithCancel(ctx)
	defer cancel()
	pstop := new(atomic.Bool)
	defer context.AfterFunc(ctx, func() { pstop.Store(true) })()
	type porResult struct {
		verdict porcupine.CheckResult
		info    porcupine.LinearizationInfo
		stopped bool
	}
	pc := make(chan porResult, 1)
	go func() {
		v, i := porcupine.CheckOperationsVerbose(newModel(spec, pstop, nil), kh.ops, 0)
		pc <- porResult{v, i, pstop.Load()}
	}()
	// Porcupine settles most such keys in milliseconds: the own search
	// joins in only when it has not, so an easy key costs no second core.
	select {
	case p := <-pc: // done, or the ctx ended and the caller keeps only an Ok
		return p.verdict, p.info, searchResult{}, false
	case <-time.After(raceHead):
	}
	oc := make(chan searchResult, 1)
	go func() { oc <- searchKey(octx, spec, kh) }()
	select {
	case found = <-oc:
		if !found.stopped {
			pstop.Store(true)
			<-pc
			return found.verdict(), info, found, true
		}
		p := <-pc // ctx ended: the caller keeps porcupine's verdict only if Ok
		return p.verdict, p.info, searchResult{}, false
	case p := <-pc:
		if !p.stopped {
			cancel()
			<-oc
			return p.verdict, p.info, searchResult{}, false
		}
		found = <-oc
		return found.verdict(), info, found, true
	}
}

// raceHead is how long porcupine runs alone before the own search joins
// the race.
const raceHead = time.Second

// verdict is the search's answer in porcupine's terms.
func (r searchResult) verdict() porcupine.CheckResult {
	if r.ok {
		return porcupine.Ok
	}
	return porcupine.Illegal
}

// maxMemoWords bounds the memory of remembered dead ends (int32 words of
// their exact forms, plus a few words per entry); past it the search goes
// on without remembering more, which costs time but never correctness.
const maxMemoWords = 1 << 25

// searchResult is what the search found.
type searchResult struct {
	ok      bool
	stopped bool  // the context ended the search; ok is then meaningless
	nodes   int64 // nodes visited
	memo    int   // dead ends remembered
	// prefix is the longest order of ops (indexes into the key's ops) the
	// search placed before a dead end, for the explanation of an invalid
	// key.
	prefix []int
}

// memoKey names a node: a 128-bit hash of the placed known ops and the
// unplaced wanted ops of unknown outcome, and the object's state.
type memoKey struct {
	h1, h2 uint64
	st     any
}

// searchFrame is a node on the explicit stack.
type searchFrame struct {
	st     any
	cur    int32 // the register's value index in st (ValueOps only)
	op     int32 // the op placed to reach the node, -1 at the root
	h1, h2 uint64
	cands  int32 // start of the node's candidates in the arena
	next   int32 // next candidate to try (absolute index in the arena)
	end    int32 // end of the node's candidates
}

type searcher struct {
	spec     Spec
	ops      []porcupine.Operation
	known    []bool
	readOnly []bool
	call     []int64
	ret      []int64

	lanes  [][]int32 // known ops of each client, in order
	laneOf []int32
	pos    []int32
	// front holds the lanes with unplaced known ops, by their next op's
	// call, latest first: the lanes that matter are at the end, where
	// inserting and deleting move little.
	front   []int32
	done    []int32 // lanes with every known op placed, by their last op's completion
	maybe   []int32 // wanted unplaced ops of unknown outcome, by call
	trail   []int32 // placed ops, in order
	placed  []bool
	h1, h2  uint64
	memo    map[memoKey][]int32
	words   int // memory of memo, in int32 words
	arena   []int32
	nodes   int64
	best    []int32
	stopped *atomic.Bool

	// Register value bookkeeping (values non-nil): values are dense
	// indexes, 0 being unset. writers counts the unplaced ops that may
	// write a value, readers the unplaced known ops that need it current,
	// maybeNeeds the unplaced ops of unknown outcome that need it;
	// unknownBy lists the ops of unknown outcome that write it.
	values     ValueOps
	valIdx     map[int64]int32
	wIdx, nIdx []int32
	writers    []int32
	readers    []int32
	maybeNeeds []int32
	unknownBy  [][]int32
}

func newSearcher(spec Spec, kh *keyHistory, stop *atomic.Bool) *searcher {
	n := len(kh.ops)
	// A few large blocks rather than many small slices: with a thousand
	// keys, allocation is a large part of the check.
	bools := make([]bool, 3*n)
	times := make([]int64, 2*n)
	ids := make([]int32, 4*n)
	s := &searcher{
		spec: spec, ops: kh.ops, stopped: stop,
		known: bools[:n:n], readOnly: bools[n : 2*n : 2*n], placed: bools[2*n:],
		call: times[:n:n], ret: times[n:],
		laneOf: ids[:n:n],
		memo:   map[memoKey][]int32{},
	}
	// Lanes: the known ops of each client, in order, laid out in one
	// block by counting first.
	maxClient := 0
	for _, o := range kh.ops {
		maxClient = max(maxClient, o.ClientId)
	}
	lane := make([]int32, maxClient+1)
	for i := range lane {
		lane[i] = -1
	}
	var sizes []int32
	for i, o := range kh.ops {
		s.known[i] = o.Output != nil
		s.readOnly[i] = kh.readOnly[i]
		s.call[i], s.ret[i] = o.Call, o.Return
		s.laneOf[i] = -1
		if !s.known[i] {
			continue
		}
		l := lane[o.ClientId]
		if l < 0 {
			l = int32(len(sizes))
			lane[o.ClientId] = l
			sizes = append(sizes, 0)
		}
		sizes[l]++
		s.laneOf[i] = l
	}
	block := ids[n : 2*n]
	s.lanes = make([][]int32, len(sizes))
	for l, size := range sizes {
		s.lanes[l], block = block[:0:size], block[size:]
	}
	for i := range kh.ops {
		if l := s.laneOf[i]; l >= 0 {
			s.lanes[l] = append(s.lanes[l], int32(i))
		}
	}
	s.wIdx, s.nIdx = ids[2*n:3*n:3*n], ids[3*n:]
	s.pos = make([]int32, len(s.lanes))
	for l := range s.lanes {
		s.front = append(s.front, int32(l))
	}
	slices.SortFunc(s.front, func(a, b int32) int { return int(s.headCall(b) - s.headCall(a)) })
	if v, ok := spec.(ValueOps); ok {
		s.values = v
		s.valIdx = make(map[int64]int32, n)
		idx := func(v int64) int32 {
			i, ok := s.valIdx[v]
			if !ok {
				i = int32(len(s.valIdx) + 1)
				s.valIdx[v] = i
			}
			return i
		}
		for i, o := range kh.ops {
			s.wIdx[i], s.nIdx[i] = -1, -1
			if w, ok := v.Writes(o.Input); ok {
				s.wIdx[i] = idx(w)
			}
			if val, set, ok := v.Needs(o.Input, o.Output); ok {
				s.nIdx[i] = 0
				if set {
					s.nIdx[i] = idx(val)
				}
			}
		}
		m := len(s.valIdx) + 1
		s.writers, s.readers, s.maybeNeeds = make([]int32, m), make([]int32, m), make([]int32, m)
		s.unknownBy = make([][]int32, m)
		for i := range kh.ops {
			if w := s.wIdx[i]; w >= 0 {
				s.writers[w]++
				if !s.known[i] {
					s.unknownBy[w] = append(s.unknownBy[w], int32(i))
				}
			}
			if r := s.nIdx[i]; r >= 0 {
				if s.known[i] {
					s.readers[r]++
				} else {
					s.maybeNeeds[r]++
				}
			}
		}
	}
	for i := range kh.ops {
		if !s.known[i] && s.wanted(int32(i)) {
			s.join(int32(i))
		}
	}
	return s
}

// mix is splitmix64's finalizer over x and a seed.
func mix(x, seed uint64) uint64 {
	x += seed
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func (s *searcher) headCall(l int32) int64 { return s.call[s.lanes[l][s.pos[l]]] }

// wanted reports whether an op of unknown outcome is worth placing: for
// registers, while some unplaced op needs the value it writes (nothing else
// can need a register's value changed); otherwise always.
func (s *searcher) wanted(op int32) bool {
	if s.values == nil {
		return true
	}
	w := s.wIdx[op]
	return w >= 0 && s.readers[w]+s.maybeNeeds[w] > 0
}

// join and leave put an unplaced op of unknown outcome into, and take it
// out of, the candidates; the node hash covers exactly those ops.
func (s *searcher) join(op int32) {
	i, found := slices.BinarySearchFunc(s.maybe, op, s.byCall)
	if found {
		return
	}
	s.maybe = slices.Insert(s.maybe, i, op)
	s.h1 ^= mix(uint64(op), 0x9e3779b97f4a7c15)
	s.h2 ^= mix(uint64(op), 0xc2b2ae3d27d4eb4f)
}

func (s *searcher) leave(op int32) {
	i, found := slices.BinarySearchFunc(s.maybe, op, s.byCall)
	if !found {
		return
	}
	s.maybe = slices.Delete(s.maybe, i, i+1)
	s.h1 ^= mix(uint64(op), 0x9e3779b97f4a7c15)
	s.h2 ^= mix(uint64(op), 0xc2b2ae3d27d4eb4f)
}

func (s *searcher) byCall(a, b int32) int {
	if c := s.call[a] - s.call[b]; c != 0 {
		if c < 0 {
			return -1
		}
		return 1
	}
	return int(a - b)
}

// count adds d to the bookkeeping of op (d = -1 when it is placed, +1 when
// that is undone). When a value stops or starts being needed, the unplaced
// ops of unknown outcome that write it leave or join the candidates.
func (s *searcher) count(op int32, d int32) {
	if w := s.wIdx[op]; w >= 0 {
		s.writers[w] += d
	}
	r := s.nIdx[op]
	if r < 0 {
		return
	}
	before := s.readers[r]+s.maybeNeeds[r] > 0
	if s.known[op] {
		s.readers[r] += d
	} else {
		s.maybeNeeds[r] += d
	}
	if after := s.readers[r]+s.maybeNeeds[r] > 0; after != before && r > 0 {
		for _, u := range s.unknownBy[r] {
			if u == op || s.placed[u] {
				continue
			}
			if after {
				s.join(u)
			} else {
				s.leave(u)
			}
		}
	}
}

// place puts op next in the order.
func (s *searcher) place(op int32) {
	if s.known[op] {
		l := s.laneOf[op]
		s.leaveFront(l)
		s.pos[l]++
		if int(s.pos[l]) < len(s.lanes[l]) {
			s.insertFront(l)
		} else {
			i, _ := slices.BinarySearchFunc(s.done, l, s.byLastRet)
			s.done = slices.Insert(s.done, i, l)
		}
		s.h1 ^= mix(uint64(op), 0x9e3779b97f4a7c15)
		s.h2 ^= mix(uint64(op), 0xc2b2ae3d27d4eb4f)
	} else {
		s.leave(op)
	}
	s.placed[op] = true
	s.trail = append(s.trail, op)
	if s.values != nil {
		s.count(op, -1)
	}
}

// unplace undoes place(op), op being the last op placed.
func (s *searcher) unplace(op int32) {
	if s.values != nil {
		s.count(op, 1)
	}
	s.trail = s.trail[:len(s.trail)-1]
	if s.known[op] {
		l := s.laneOf[op]
		if int(s.pos[l]) < len(s.lanes[l]) {
			s.leaveFront(l)
		} else {
			i, _ := slices.BinarySearchFunc(s.done, l, s.byLastRet)
			s.done = slices.Delete(s.done, i, i+1)
		}
		s.pos[l]--
		s.insertFront(l)
		s.h1 ^= mix(uint64(op), 0x9e3779b97f4a7c15)
		s.h2 ^= mix(uint64(op), 0xc2b2ae3d27d4eb4f)
	} else {
		s.join(op)
	}
	s.placed[op] = false
}

// byLastRet orders finished lanes by the completion of their last op
// (lanes are distinct ops, so there are no ties).
func (s *searcher) byLastRet(a, b int32) int {
	ra, rb := s.ret[s.lanes[a][len(s.lanes[a])-1]], s.ret[s.lanes[b][len(s.lanes[b])-1]]
	switch {
	case ra < rb:
		return -1
	case ra > rb:
		return 1
	}
	return 0
}

func (s *searcher) insertFront(l int32) {
	c := s.headCall(l)
	i := len(s.front)
	for i > 0 && s.headCall(s.front[i-1]) < c {
		i--
	}
	s.front = slices.Insert(s.front, i, l)
}

func (s *searcher) leaveFront(l int32) {
	for i := len(s.front) - 1; i >= 0; i-- {
		if s.front[i] == l {
			s.front = slices.Delete(s.front, i, i+1)
			return
		}
	}
}

// frontier returns the unplaced known op that completed first, or -1 when
// every known op is placed. It is the next op of some lane; lanes are in
// order of their next op's call, and an op's completion follows its call,
// so the scan stops at the first call past the best completion.
func (s *searcher) frontier() int32 {
	f := int32(-1)
	for i := len(s.front) - 1; i >= 0; i-- {
		l := s.front[i]
		op := s.lanes[l][s.pos[l]]
		if f >= 0 && s.call[op] > s.ret[f] {
			break
		}
		if f < 0 || s.ret[op] < s.ret[f] {
			f = op
		}
	}
	return f
}

// exact is a node's exact form, kept with a remembered dead end: the
// frontier op f, the known ops placed ahead of it (every known op that
// completed before f is placed, and no other), then -1 and the unplaced
// wanted ops of unknown outcome invoked before f completed. Those invoked
// later are unplaced in every node with this frontier, and two nodes that
// agree on all this differ only in ops of unknown outcome that no unplaced
// op needs; leaving those out of either changes nothing (see wanted), so
// the two have the same answer.
func (s *searcher) exact(f int32) []int32 {
	out := []int32{f}
	// Only a lane's last placed op can complete after f, and it is either
	// a lane still in the frontier or one of the finished lanes whose last
	// op completed latest.
	for _, l := range s.front {
		if p := s.pos[l]; p > 0 { // (the whole front: a rare path)
			if last := s.lanes[l][p-1]; s.ret[last] > s.ret[f] {
				out = append(out, last)
			}
		}
	}
	for i := len(s.done) - 1; i >= 0; i-- {
		l := s.done[i]
		last := s.lanes[l][len(s.lanes[l])-1]
		if s.ret[last] < s.ret[f] {
			break
		}
		out = append(out, last)
	}
	slices.Sort(out[1:])
	out = append(out, -1)
	for _, u := range s.maybe {
		if s.call[u] > s.ret[f] {
			break
		}
		out = append(out, u)
	}
	return out
}

// current is the value index of register state st.
func (s *searcher) current(st any) int32 {
	v, set := s.values.Current(st)
	if !set {
		return 0
	}
	if i, ok := s.valIdx[v]; ok {
		return i
	}
	return -1
}

// stranded reports whether moving the register off value index old leaves
// behind a value that unplaced known ops still need and no unplaced op can
// write again (a register never becomes unset again).
func (s *searcher) stranded(old int32) bool {
	return old >= 0 && s.readers[old] > 0 && (old == 0 || s.writers[old] == 0)
}

// run searches for a linearization. It checks stop every few thousand
// nodes, and returns with stopped set once it is true.
func (s *searcher) run() searchResult {
	root := searchFrame{st: s.spec.Init(), op: -1}
	if s.values != nil {
		root.cur = s.current(root.st)
		// A value some known op needs that nothing writes is never
		// current, unless it is the initial one.
		for v := int32(0); v < int32(len(s.readers)); v++ {
			if s.readers[v] > 0 && s.writers[v] == 0 && v != root.cur {
				return s.result(false)
			}
		}
	}
	stack := []searchFrame{root}
	enter := true
	for len(stack) > 0 {
		top := &stack[len(stack)-1]
		if enter {
			enter = false
			s.nodes++
			if s.nodes&4095 == 1 && s.stopped.Load() {
				r := s.result(false)
				r.stopped = true
				return r
			}
			f := s.frontier()
			if f < 0 {
				return s.result(true)
			}
			top.h1, top.h2 = s.h1, s.h2
			top.cands = int32(len(s.arena))
			if ex, ok := s.memo[memoKey{s.h1, s.h2, top.st}]; ok && slices.Equal(ex, s.exact(f)) {
				s.pop(&stack)
				continue
			}
			s.candidates(top, f)
		}
		if top.next == top.end {
			s.deadEnd(top)
			s.pop(&stack)
			continue
		}
		op := s.arena[top.next]
		top.next++
		ok, st := s.spec.Step(top.st, s.ops[op].Input, s.ops[op].Output)
		if !ok || (!s.known[op] && st == top.st) {
			continue
		}
		cur := top.cur
		if s.values != nil && st != top.st {
			cur = s.current(st)
		}
		s.place(op)
		if s.values != nil && cur != top.cur && s.stranded(top.cur) {
			s.unplace(op)
			continue
		}
		stack = append(stack, searchFrame{st: st, cur: cur, op: op})
		enter = true
	}
	return s.result(false)
}

// candidates puts the ops that may be placed at node top into the arena:
// the next known op of each lane invoked before f completed, in order of
// completion, then the wanted ops of unknown outcome invoked before it. A
// possible read-only op of known outcome is the only candidate: placing it
// at once changes no other op's view, and real time cannot object, since
// it was invoked before every unplaced known op completed.
func (s *searcher) candidates(top *searchFrame, f int32) {
	start := int32(len(s.arena))
	limit := s.ret[f]
	for i := len(s.front) - 1; i >= 0; i-- {
		l := s.front[i]
		op := s.lanes[l][s.pos[l]]
		if s.call[op] > limit {
			break
		}
		if s.readOnly[op] {
			if ok, _ := s.spec.Step(top.st, s.ops[op].Input, s.ops[op].Output); ok {
				s.arena = append(s.arena[:start], op)
				top.cands, top.next, top.end = start, start, start+1
				return
			}
			continue // it cannot go now; nothing placed later changes that without a write
		}
		s.arena = append(s.arena, op)
	}
	known := s.arena[start:]
	slices.SortFunc(known, func(a, b int32) int { return int(s.ret[a] - s.ret[b]) })
	for _, op := range s.maybe {
		if s.call[op] > limit {
			break
		}
		s.arena = append(s.arena, op)
	}
	if s.values == nil {
		slices.SortFunc(s.arena[start:], s.byCall)
	}
	top.cands, top.next, top.end = start, start, int32(len(s.arena))
}

// deadEnd remembers node top, from which no order exists, and keeps the
// longest order seen for the explanation.
func (s *searcher) deadEnd(top *searchFrame) {
	if len(s.trail) > len(s.best) || s.best == nil {
		s.best = append(s.best[:0], s.trail...)
	}
	if s.words >= maxMemoWords {
		return
	}
	if f := s.frontier(); f >= 0 {
		ex := s.exact(f)
		s.words += len(ex) + 16
		s.memo[memoKey{top.h1, top.h2, top.st}] = ex
	}
}

// pop leaves the node on top of the stack and undoes the op that led to it.
func (s *searcher) pop(stack *[]searchFrame) {
	top := (*stack)[len(*stack)-1]
	s.arena = s.arena[:top.cands]
	*stack = (*stack)[:len(*stack)-1]
	if top.op >= 0 {
		s.unplace(top.op)
	}
}

func (s *searcher) result(ok bool) searchResult {
	r := searchResult{ok: ok, nodes: s.nodes, memo: len(s.memo)}
	if !ok {
		for _, id := range s.best {
			r.prefix = append(r.prefix, int(id))
		}
	}
	return r
}

// searchKey checks one key with the own search, bounded by ctx.
func searchKey(ctx context.Context, spec Spec, kh *keyHistory) searchResult {
	stop := new(atomic.Bool)
	defer context.AfterFunc(ctx, func() { stop.Store(true) })()
	if ctx.Err() != nil {
		stop.Store(true)
	}
	return newSearcher(spec, kh, stop).run()
}

// windowOps bounds the ops drawn for a key too large for porcupine to
// check again (see window).
const windowOps = 2000

// window cuts, from a key that the own search found not linearizable and
// that porcupine did not check again (too large, or too slow), the part around the
// violation for porcupine's visualization: the ops not among the first
// ones of the search's longest prefix, invoked from the earliest of them
// on and before the op that could not follow the prefix completed. A
// synthetic write, completed before them all, sets the register to the
// state the left-out ops leave (nothing when it is unset); other objects
// have no op that sets any state, so their window starts where the prefix
// left the object as new, and there is none (nil: porcupine gets the whole
// key) when that is too far back. Porcupine then
// draws the violation in a few hundred ops instead of the whole key. The
// verdict stays the search's: the window is a picture of it.
func window(spec Spec, kh *keyHistory, prefix []int) []porcupine.Operation {
	values, isValue := spec.(ValueOps)
	j := max(0, len(prefix)-windowOps/4)
	if !isValue {
		j = freshPoint(spec, kh, prefix[:j])
	}
	in := make([]bool, len(kh.ops))
	st := spec.Init()
	for _, id := range prefix[:j] {
		in[id] = true
		_, st = spec.Step(st, kh.ops[id].Input, kh.ops[id].Output)
	}
	full := make([]bool, len(kh.ops))
	for _, id := range prefix {
		full[id] = true
	}
	lo, hi := int64(-1), int64(-1)
	for id, o := range kh.ops {
		if in[id] || o.Output == nil {
			continue
		}
		if lo < 0 || o.Call < lo {
			lo = o.Call
		}
		if !full[id] && (hi < 0 || o.Return < hi) {
			hi = o.Return
		}
	}
	var out []porcupine.Operation
	client := 0
	for id, o := range kh.ops {
		client = max(client, o.ClientId+1)
		if in[id] || o.Call < lo || (hi >= 0 && o.Call > hi) {
			continue
		}
		if len(out) >= windowOps {
			if !isValue {
				return nil // cut short, it might not hold the violation
			}
			break
		}
		out = append(out, o)
	}
	if !isValue {
		return out
	}
	if v, set := values.Current(st); set {
		out = append([]porcupine.Operation{{
			ClientId: client,
			Input:    input{kind: opWrite, arg: v},
			Output:   output{},
			Call:     lo - 2,
			Return:   lo - 1,
			Metadata: fmt.Sprintf("the register's value after the %d ops linearized before this window", j),
		}}, out...)
	}
	return out
}

// freshPoint is the longest start of prefix after which the object is as
// new (0 when it never is): where a window of a model without a
// state-setting op can begin.
func freshPoint(spec Spec, kh *keyHistory, prefix []int) int {
	init := spec.Init()
	st, at := init, 0
	for i, id := range prefix {
		_, st = spec.Step(st, kh.ops[id].Input, kh.ops[id].Output)
		if st == init {
			at = i + 1
		}
	}
	return at
}
