package sequential

import (
	"cmp"
	"context"
	"slices"

	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/models/linear"
)

// lane is one session's ops in program order: the first known ones are
// mandatory; an op after them (the session's last, of unknown outcome) is
// optional. A lane of a single op of unknown outcome that was not its
// process's last ("floating") waits for its process's earlier ops: lane
// pre must have placed preN ops first.
type lane struct {
	ops   []int32 // indexes into the object's ops
	known int32
	pre   int32 // -1 when none
	preN  int32
}

// entry is a lane in a frontier, keyed by the history position of the
// lane's next op (see call).
type entry struct {
	call int32
	lane int32
}

// outcome is what the search found.
type outcome struct {
	ok    bool
	err   error // the context's error when it stopped early
	nodes int64 // branching points visited
	memo  int   // dead ends remembered
	// The deepest dead end: how many known ops it placed, the state there,
	// and the ops that could not follow (indexes into the object's ops).
	depth   int
	state   any
	blocked []int
	more    bool // other ops could not follow either
}

// maxMemoWords bounds the memory of remembered dead ends (int32 words,
// 4 bytes each); past it the search goes on without remembering more,
// which costs time but never correctness.
const maxMemoWords = 1 << 27

// memoKey identifies a node: a 128-bit hash of the lane positions and the
// object's state. The positions themselves are kept with it and compared,
// so a hash collision never merges two nodes.
type memoKey struct {
	h1, h2 uint64
	st     any
}

// searcher finds a total order of an object's ops that keeps each lane's
// order and is a legal sequential run of spec: a depth-first search over
// the vector of lane positions plus the object's state, remembering dead
// ends. Reductions keep it small without losing orders:
//   - an enabled read-only op of known outcome is taken at once (it must
//     be placed somewhere, and moving it first changes no other op's view);
//   - an op of unknown outcome is never placed where it changes nothing
//     (its step then means it did not take effect there, and leaving it
//     for later loses nothing);
//   - the same (positions, state) is never explored twice;
//   - for registers (linear.ValueOps): a branch ends as soon as it leaves
//     a value that an unplaced known op needs and no unplaced op can write
//     again, or when a waiting op needs such a value; and an op of unknown
//     outcome is placed only while some unplaced op needs the value it
//     writes, since nothing else can need a register's value changed.
type searcher struct {
	spec  linear.Spec
	ops   []linear.Operation
	lanes []lane
	pos   []int32
	known []entry // lanes whose next op is of known outcome, by its call
	maybe []entry // lanes whose next op is of unknown outcome, by its call
	total int     // known ops
	h1    uint64
	h2    uint64
	memo  map[memoKey][][]int32
	words int
	out   outcome
	noted bool
	// For value specs (registers): how many unplaced ops may still write
	// each value, and how many unplaced known ops need it current, to see
	// at once a branch where some op can never take place.
	values     linear.ValueOps
	writers    map[int64]int
	readers    map[int64]int
	nilReaders int
	impossible bool // some op needs a value nothing writes
	// maybeNeeds counts the unplaced ops of unknown outcome that expect
	// each value (cas), and unknown the lanes whose op of unknown outcome
	// (at position at) writes it: such an op is only worth placing while
	// some op needs its value (see wanted).
	maybeNeeds map[int64]int
	unknown    map[int64][]laneOp
	// window, when positive, bounds how far from real time the search
	// may stray (see run).
	window int32
	first  int32 // the first phase's window
}

// realTimeWindow is how far, in history positions, the first phase of the
// search lets an op move ahead of the earliest op still waiting.
const realTimeWindow = 1000

// laneOp is op at of lane l.
type laneOp struct {
	l, at int32
}

// doomWindow is how many frontier lanes doomed looks at: a lane that can
// never go on stays at the front, as the others move past it.
const doomWindow = 64

func newSearcher(spec linear.Spec, obj *linear.Object) *searcher {
	s := &searcher{spec: spec, ops: obj.Ops, memo: map[memoKey][][]int32{}}
	byProc := map[history.Process][]int32{}
	var procs []history.Process
	for i, op := range obj.Ops {
		if _, ok := byProc[op.Process]; !ok {
			procs = append(procs, op.Process)
		}
		byProc[op.Process] = append(byProc[op.Process], int32(i))
	}
	for _, p := range procs {
		ids := byProc[p]
		main := int32(len(s.lanes))
		s.lanes = append(s.lanes, lane{pre: -1})
		for j, id := range ids {
			if s.ops[id].Known() {
				s.lanes[main].ops = append(s.lanes[main].ops, id)
				s.lanes[main].known++
				s.total++
				continue
			}
			if j == len(ids)-1 {
				s.lanes[main].ops = append(s.lanes[main].ops, id)
				continue
			}
			// An op whose outcome was never reported, followed by more
			// ops of its process: it may take effect after them too.
			s.lanes = append(s.lanes, lane{ops: []int32{id}, pre: main, preN: s.lanes[main].known})
		}
	}
	s.pos = make([]int32, len(s.lanes))
	if v, ok := spec.(linear.ValueOps); ok {
		s.values, s.writers, s.readers = v, map[int64]int{}, map[int64]int{}
		s.maybeNeeds, s.unknown = map[int64]int{}, map[int64][]laneOp{}
		for l, ln := range s.lanes {
			for at, id := range ln.ops {
				if w, ok := v.Writes(s.ops[id].In); ok && !s.ops[id].Known() {
					s.unknown[w] = append(s.unknown[w], laneOp{int32(l), int32(at)})
				}
			}
		}
		for i := range s.ops {
			s.count(&s.ops[i], 1)
		}
		// The register starts unset, so a value nothing writes is never
		// current.
		for val, n := range s.readers {
			if n > 0 && s.writers[val] == 0 {
				s.impossible = true
			}
		}
	}
	for l := range s.lanes {
		s.h1 += mix(uint64(l)<<32, 0x9e3779b97f4a7c15)
		s.h2 += mix(uint64(l)<<32, 0xc2b2ae3d27d4eb4f)
		if len(s.lanes[l].ops) > 0 {
			s.join(int32(l))
		}
	}
	return s
}

// count adds d to the writers and readers an op counts for. When a value
// stops or starts being needed, the ops of unknown outcome that write it
// leave or rejoin their frontier.
func (s *searcher) count(op *linear.Operation, d int) {
	if w, ok := s.values.Writes(op.In); ok {
		s.writers[w] += d
	}
	v, set, ok := s.values.Needs(op.In, op.Out)
	if !ok {
		return
	}
	if !set {
		if op.Known() {
			s.nilReaders += d
		}
		return
	}
	before := s.readers[v]+s.maybeNeeds[v] > 0
	if op.Known() {
		s.readers[v] += d
	} else {
		s.maybeNeeds[v] += d
	}
	if after := s.readers[v]+s.maybeNeeds[v] > 0; after != before {
		for _, u := range s.unknown[v] {
			if s.pos[u.l] != u.at {
				continue
			}
			if after {
				s.join(u.l)
			} else {
				s.leave(u.l)
			}
		}
	}
}

// stranded reports whether moving from state old to state now leaves
// behind a value that unplaced known ops still need and no unplaced op can
// write again; a register never becomes unset again.
func (s *searcher) stranded(old, now any) bool {
	if s.values == nil || old == now {
		return false
	}
	v, set := s.values.Current(old)
	if !set {
		return s.nilReaders > 0
	}
	if w, _ := s.values.Current(now); w == v {
		return false
	}
	return s.readers[v] > 0 && s.writers[v] == 0
}

// doomed reports whether some lane's next op needs a value that is not
// current and that no unplaced op can write any more: no order from here
// places it. A register never becomes unset again, so a read of nil is
// doomed once it is set.
func (s *searcher) doomed(st any) bool {
	if s.values == nil {
		return false
	}
	for _, e := range s.known[:min(len(s.known), doomWindow)] {
		op, _ := s.next(e.lane)
		v, set, ok := s.values.Needs(op.In, op.Out)
		if !ok {
			continue
		}
		if legal, _ := s.spec.Step(st, op.In, op.Out); legal {
			continue
		}
		if !set || s.writers[v] == 0 {
			// Unset is never current again once a write was placed;
			// Step refused it, so the register is set.
			return true
		}
	}
	return false
}

// mix is splitmix64's finalizer over x and a seed.
func mix(x, seed uint64) uint64 {
	x += seed
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// call is the history position that orders lane l's next op among the
// candidates: its completion when known (the op that completed first most
// likely took effect first), else its invocation. A lane's ops keep their
// order under either.
func (s *searcher) call(l int32) int32 {
	op := &s.ops[s.lanes[l].ops[s.pos[l]]]
	if op.Known() {
		return int32(op.Return)
	}
	return int32(op.Call)
}

// next returns lane l's next op, and whether it may be placed now.
func (s *searcher) next(l int32) (*linear.Operation, bool) {
	ln := &s.lanes[l]
	op := &s.ops[ln.ops[s.pos[l]]]
	return op, ln.pre < 0 || s.pos[ln.pre] >= ln.preN
}

// frontier is the frontier lane l belongs in while its next op waits.
func (s *searcher) frontier(l int32) *[]entry {
	if s.ops[s.lanes[l].ops[s.pos[l]]].Known() {
		return &s.known
	}
	return &s.maybe
}

// leave and join take lane l out of, and put it in, its frontier. An op
// of unknown outcome that is not wanted stays out.
func (s *searcher) leave(l int32) {
	f := s.frontier(l)
	if i, found := slices.BinarySearchFunc(*f, s.call(l), byCall); found {
		*f = slices.Delete(*f, i, i+1)
	}
}

func (s *searcher) join(l int32) {
	f := s.frontier(l)
	if f == &s.maybe && !s.wanted(s.opAt(l)) {
		return
	}
	c := s.call(l)
	if i, found := slices.BinarySearchFunc(*f, c, byCall); !found {
		*f = slices.Insert(*f, i, entry{c, l})
	}
}

func byCall(e entry, c int32) int { return int(e.call) - int(c) }

// advance places lane l's next op.
func (s *searcher) advance(l int32) {
	s.leave(l)
	if s.values != nil {
		s.count(&s.ops[s.lanes[l].ops[s.pos[l]]], -1)
	}
	p := uint64(l)<<32 | uint64(s.pos[l])
	s.h1 += mix(p+1, 0x9e3779b97f4a7c15) - mix(p, 0x9e3779b97f4a7c15)
	s.h2 += mix(p+1, 0xc2b2ae3d27d4eb4f) - mix(p, 0xc2b2ae3d27d4eb4f)
	s.pos[l]++
	if int(s.pos[l]) < len(s.lanes[l].ops) {
		s.join(l)
	}
}

// retreat undoes advance(l).
func (s *searcher) retreat(l int32) {
	if int(s.pos[l]) < len(s.lanes[l].ops) {
		s.leave(l)
	}
	s.pos[l]--
	p := uint64(l)<<32 | uint64(s.pos[l])
	s.h1 -= mix(p+1, 0x9e3779b97f4a7c15) - mix(p, 0x9e3779b97f4a7c15)
	s.h2 -= mix(p+1, 0xc2b2ae3d27d4eb4f) - mix(p, 0xc2b2ae3d27d4eb4f)
	if s.values != nil {
		s.count(&s.ops[s.lanes[l].ops[s.pos[l]]], 1)
	}
	s.join(l)
}

// wanted reports whether an op of unknown outcome is worth placing. For
// registers that is while it writes a value some unplaced op needs (a
// known read or cas, or a cas of unknown outcome): nothing else can need
// a register's value changed. Without value semantics every such op is.
func (s *searcher) wanted(op *linear.Operation) bool {
	if s.values == nil {
		return true
	}
	w, ok := s.values.Writes(op.In)
	return ok && s.readers[w]+s.maybeNeeds[w] > 0
}

// cursor walks the candidates of a node: the known ops and the wanted ops
// of unknown outcome (the only ones in their frontier), merged by position
// (see call) so the search follows real time first. Frontiers are restored
// exactly when the search backtracks, so a cursor stays valid across a
// node's children.
type cursor struct {
	k, m int // next known entry, next maybe entry
}

// candidate returns the lane of the node's next candidate, or -1 when
// there is none. With a window, ops positioned more than window past the
// earliest waiting op are not candidates.
func (s *searcher) candidate(c *cursor) int32 {
	if s.window > 0 {
		limit := int32(1<<31 - 1)
		if len(s.known) > 0 {
			limit = s.known[0].call
		}
		if len(s.maybe) > 0 {
			limit = min(limit, s.maybe[0].call)
		}
		limit += s.window
		if (c.k >= len(s.known) || s.known[c.k].call > limit) && (c.m >= len(s.maybe) || s.maybe[c.m].call > limit) {
			return -1
		}
	}
	switch {
	case c.k < len(s.known) && (c.m >= len(s.maybe) || s.known[c.k].call < s.maybe[c.m].call):
		c.k++
		return s.known[c.k-1].lane
	case c.m < len(s.maybe):
		c.m++
		return s.maybe[c.m-1].lane
	}
	return -1
}

// opAt is lane l's next op.
func (s *searcher) opAt(l int32) *linear.Operation { return &s.ops[s.lanes[l].ops[s.pos[l]]] }

// frame is a node of the search on the explicit stack.
type frame struct {
	st      any
	moves   []int32 // lanes advanced to reach it: the branch, then the free moves
	placed  int     // known ops placed
	horizon int32   // latest completion among the placed known ops
	next    cursor  // the candidates tried so far
}

// free takes every enabled read-only op of known outcome, among the
// lanes whose next op completed by the horizon (the rest wait for a
// branch to reach them; taking them is an optimization, not a need). One
// pass suffices: read-only ops leave the state, and so every other op's
// chance, as it was, and a lane's next op comes after its last.
func (s *searcher) free(f *frame) {
	for i := 0; i < len(s.known); {
		e := s.known[i]
		if e.call > f.horizon && i > 0 {
			break
		}
		op, ok := s.next(e.lane)
		if !ok || !op.ReadOnly {
			i++
			continue
		}
		if legal, _ := s.spec.Step(f.st, op.In, op.Out); !legal {
			i++
			continue
		}
		s.advance(e.lane)
		f.moves = append(f.moves, e.lane)
		f.placed++
		f.horizon = max(f.horizon, e.call)
	}
}

func (s *searcher) key(st any) memoKey { return memoKey{s.h1, s.h2, st} }

func (s *searcher) dead(st any) bool {
	for _, snap := range s.memo[s.key(st)] {
		if slices.Equal(snap, s.pos) {
			return true
		}
	}
	return false
}

func (s *searcher) remember(f *frame) {
	if s.words >= maxMemoWords {
		return
	}
	k := s.key(f.st)
	s.memo[k] = append(s.memo[k], slices.Clone(s.pos))
	s.words += len(s.pos) + 8
	s.out.memo++
}

// maxBlocked bounds the ops an explanation names, and noteWindow how many
// of the earliest waiting ops note looks at to find them.
const (
	maxBlocked = 3
	noteWindow = 64
)

// note records f as the deepest dead end so far when it is, with the
// earliest waiting ops that cannot follow it. Only the complete phase
// notes: the first phase's dead ends explain nothing (see run).
func (s *searcher) note(f *frame) {
	if s.window > 0 || s.noted && f.placed <= s.out.depth {
		return
	}
	s.noted = true
	s.out.depth, s.out.state, s.out.blocked, s.out.more = f.placed, f.st, s.out.blocked[:0], false
	for _, e := range s.known[:min(len(s.known), noteWindow)] {
		op, ok := s.next(e.lane)
		if !ok {
			continue
		}
		if legal, _ := s.spec.Step(f.st, op.In, op.Out); !legal {
			if len(s.out.blocked) == maxBlocked {
				s.out.more = true
				break
			}
			s.out.blocked = append(s.out.blocked, int(s.lanes[e.lane].ops[s.pos[e.lane]]))
		}
	}
}

// undo takes back the moves that led to f.
func (s *searcher) undo(f *frame) {
	for i := len(f.moves) - 1; i >= 0; i-- {
		s.retreat(f.moves[i])
	}
}

// run searches in two phases. The first tries only orders that stray at
// most realTimeWindow positions from real time, where real histories keep
// their orders, so that a branch gone wrong cannot wander far ahead; any
// order it finds is an order. Only when it finds none does the second
// search every order, with dead ends of its own (the first phase's are
// dead only within its window). Both check ctx every few thousand steps.
func (s *searcher) run(ctx context.Context) outcome {
	s.window = cmp.Or(s.first, realTimeWindow)
	lo, hi := int32(1<<31-1), int32(-1)
	for _, op := range s.ops {
		lo, hi = min(lo, int32(op.Call)), max(hi, int32(op.Call), int32(op.Return))
	}
	if hi-lo <= s.window {
		// The window cuts nothing: one complete phase.
		s.window = 0
		return s.search(ctx)
	}
	first := s.search(ctx)
	if first.ok || first.err != nil {
		return first
	}
	s.window = 0
	s.memo, s.words, s.noted = map[memoKey][][]int32{}, 0, false
	s.out = outcome{nodes: first.nodes, memo: first.memo}
	return s.search(ctx)
}

// search is one phase of run.
func (s *searcher) search(ctx context.Context) outcome {
	root := frame{st: s.spec.Init(), horizon: -1}
	s.free(&root)
	if root.placed == s.total {
		s.out.ok = true
		return s.out
	}
	if s.impossible || s.doomed(root.st) {
		s.note(&root)
		return s.out
	}
	stack := []frame{root}
	for steps := 0; len(stack) > 0; steps++ {
		if steps&1023 == 0 {
			if err := ctx.Err(); err != nil {
				s.out.err = err
				return s.out
			}
		}
		f := &stack[len(stack)-1]
		descended := false
		for {
			l := s.candidate(&f.next)
			if l < 0 {
				break
			}
			op, ok := s.next(l)
			if !ok {
				continue
			}
			e := entry{s.call(l), l}
			legal, st := s.spec.Step(f.st, op.In, op.Out)
			if !legal || !op.Known() && st == f.st {
				// An op of unknown outcome that changes nothing here is
				// better left for later, or out.
				continue
			}
			child := frame{st: st, moves: []int32{e.lane}, placed: f.placed, horizon: f.horizon}
			if op.Known() {
				// Ops of unknown outcome may take effect at any time, so
				// they say nothing of how far real time has come.
				child.placed++
				child.horizon = max(f.horizon, e.call)
			}
			s.advance(e.lane)
			s.free(&child)
			if child.placed == s.total {
				s.out.ok = true
				return s.out
			}
			if s.stranded(f.st, child.st) || s.doomed(child.st) || s.dead(child.st) {
				s.note(&child)
				s.undo(&child)
				continue
			}
			s.out.nodes++
			stack = append(stack, child)
			descended = true
			break
		}
		if descended {
			continue
		}
		s.note(f)
		s.remember(f)
		s.undo(f)
		stack = stack[:len(stack)-1]
	}
	return s.out
}
