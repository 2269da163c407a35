package linear

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// witnessed is a textbook anomaly proved by a few ops and real time.
type witnessed struct {
	kind, explanation string
	ids               []int // the ops involved, indexes into keyHistory.ops
}

// maxWitnessWork bounds the work of the witnesses whose search is
// quadratic; beyond it explain falls back to porcupine's prefix.
const maxWitnessWork = 50_000_000

// witness looks for the model's textbook anomaly in an illegal key. Every
// witness is a proof on its own: it never appears in a linearizable
// history (the brute-force tests check this).
func witness(spec Spec, kh *keyHistory, name func(int) string) (witnessed, bool) {
	switch spec.(type) {
	case registerSpec:
		if r, src, over, ok := staleRead(kh); ok {
			expl, ids := staleAnomaly(kh, name, r, src, over)
			return witnessed{StaleReadKind, expl, ids}, true
		}
	case mutexSpec:
		return heldTwice(kh, name)
	case queueSpec:
		return badDequeue(kh, name)
	case setSpec:
		return badSetRead(kh, name)
	case counterSpec:
		return counterBounds(kh, name)
	}
	return witnessed{}, false
}

// staleRead looks for the plainest proof of a nonlinearizable register: a
// read that returned a value which, before the read was even invoked, had
// been overwritten by a write that itself began after the value's own write
// had completed. Real time alone then forces the overwrite between the two,
// so the read is stale in every order. It needs the value read to be
// written by exactly one op (the register workload writes unique values);
// when there is no such witness it returns false.
func staleRead(kh *keyHistory) (read, src, over int, ok bool) {
	type writer struct {
		id       int
		val      int64
		definite bool // completed ok: its effect and return are known
	}
	var writers []writer
	byVal := map[int64][]int{} // value -> ids of ops that may write it
	for id, o := range kh.ops {
		in := o.Input.(input)
		var v int64
		switch in.kind {
		case opWrite:
			v = in.arg
		case opCAS:
			v = in.arg2
		default:
			continue
		}
		writers = append(writers, writer{id, v, o.Output != nil})
		byVal[v] = append(byVal[v], id)
	}
	// Definite writers by call, with suffix minima of their completions:
	// the earliest completion, and the earliest of a different value, among
	// the writers invoked at or after each one. A read's witness exists
	// when some writer invoked after its source completed, of another
	// value, completed before the read began.
	type best struct {
		ret  int64
		val  int64
		some bool
	}
	var defs []writer
	for _, w := range writers {
		if w.definite {
			defs = append(defs, w)
		}
	}
	slices.SortFunc(defs, func(a, b writer) int { return cmp.Compare(kh.ops[a.id].Call, kh.ops[b.id].Call) })
	first, second := make([]best, len(defs)+1), make([]best, len(defs)+1)
	for i := len(defs) - 1; i >= 0; i-- {
		b := best{kh.ops[defs[i].id].Return, defs[i].val, true}
		f, g := first[i+1], second[i+1]
		switch {
		case !f.some || b.ret < f.ret:
			if f.some && f.val != b.val {
				g = f
			}
			f = b
		case b.val != f.val && (!g.some || b.ret < g.ret):
			g = b
		}
		first[i], second[i] = f, g
	}
	read = -1
	for id, o := range kh.ops {
		in := o.Input.(input)
		out, known := o.Output.(output)
		if in.kind != opRead || !known {
			continue
		}
		// The value read came from srcOp, or is the initial nil (srcOp nil).
		s := -1
		after := int64(-1)
		if out.set {
			ids := byVal[out.val]
			if len(ids) != 1 || kh.ops[ids[0]].Output == nil {
				continue
			}
			s = ids[0]
			after = kh.ops[s].Return
		}
		i, _ := slices.BinarySearchFunc(defs, after, func(w writer, t int64) int {
			if kh.ops[w.id].Call > t {
				return 1
			}
			return -1
		})
		b := first[i]
		if out.set && b.some && b.val == out.val {
			b = second[i]
		}
		if b.some && b.ret < o.Call && (read < 0 || o.Return < kh.ops[read].Return) {
			read = id
		}
	}
	if read < 0 {
		return -1, 0, 0, false
	}
	// The overwrite named is the first writer, in the key's order, that
	// proves the chosen read stale.
	o := kh.ops[read]
	out := o.Output.(output)
	src = -1
	if out.set {
		src = byVal[out.val][0]
	}
	for _, w := range writers {
		wo := kh.ops[w.id]
		if !w.definite || w.id == src || (out.set && w.val == out.val) {
			continue
		}
		if wo.Return < o.Call && (src < 0 || kh.ops[src].Return < wo.Call) {
			return read, src, w.id, true
		}
	}
	return -1, 0, 0, false
}

// staleAnomaly describes the witness found by staleRead.
func staleAnomaly(kh *keyHistory, name func(int) string, read, src, over int) (string, []int) {
	ids := []int{read, over}
	if src < 0 {
		return fmt.Sprintf("Stale read on %s: %s, but %s had completed before the read began, so the register could no longer be unset",
			kh.label(), name(read), name(over)), ids
	}
	ids = append(ids, src)
	val := kh.ops[read].Output.(output).val
	return fmt.Sprintf("Stale read on %s: %s, but %d had been overwritten by %s, which completed before the read began and started after %s had completed",
		kh.label(), name(read), val, name(over), name(src)), ids
}

// heldTwice looks for two successful acquires between which, in either
// order, no release by the first holder can be placed: the lock was then
// held twice at once.
func heldTwice(kh *keyHistory, name func(int) string) (witnessed, bool) {
	var acq, rel []int
	for id, o := range kh.ops {
		if o.Input.(lockOp).acquire {
			if o.Output != nil {
				acq = append(acq, id)
			}
		} else {
			rel = append(rel, id)
		}
	}
	if len(acq)*len(acq)*max(len(rel), 1) > maxWitnessWork {
		return witnessed{}, false
	}
	// first reports whether a may take effect before b: real time allows
	// it and some release by a's owner fits between them.
	first := func(a, b int) bool {
		A, B := kh.ops[a], kh.ops[b]
		if A.Call >= B.Return {
			return false
		}
		owner := A.Input.(lockOp).owner
		for _, r := range rel {
			R := kh.ops[r]
			if R.Input.(lockOp).owner == owner && A.Call < R.Return && R.Call < B.Return {
				return true
			}
		}
		return false
	}
	slices.SortFunc(acq, func(a, b int) int { return cmp.Compare(kh.ops[a].Return, kh.ops[b].Return) })
	for j, b := range acq {
		for _, a := range acq[:j] {
			if first(a, b) || first(b, a) {
				continue
			}
			A, B := kh.ops[a], kh.ops[b]
			oa, ob := A.Input.(lockOp).owner, B.Input.(lockOp).owner
			var expl string
			if A.Return < B.Call {
				expl = fmt.Sprintf("Lock held twice on %s: %s succeeded, then %s succeeded although no release by %s can fall between them",
					kh.label(), name(a), name(b), oa)
			} else {
				expl = fmt.Sprintf("Lock held twice on %s: %s and %s both succeeded, but no release by %s can fall after the first and before the second, nor one by %s after the second and before the first",
					kh.label(), name(a), name(b), oa, ob)
			}
			return witnessed{LockHeldTwiceKind, expl, []int{a, b}}, true
		}
	}
	return witnessed{}, false
}

// times words a count: "once", "twice", "3 times".
func times(n int) string {
	switch n {
	case 1:
		return "once"
	case 2:
		return "twice"
	}
	return fmt.Sprintf("%d times", n)
}

// badDequeue looks for a dequeue of a value that no enqueue had begun to
// enqueue before the dequeue ended, and for a value dequeued more often
// than it was (possibly) enqueued.
func badDequeue(kh *keyHistory, name func(int) string) (witnessed, bool) {
	enq := map[int64][]int{} // value -> enqueues (known or not), by call
	var deqs []int           // known dequeues of a value
	for id, o := range kh.ops {
		op := o.Input.(queueOp)
		if !op.dequeue {
			enq[op.val] = append(enq[op.val], id)
		} else if d, ok := o.Output.(dequeued); ok && !d.empty {
			deqs = append(deqs, id)
		}
	}
	slices.SortFunc(deqs, func(a, b int) int { return cmp.Compare(kh.ops[a].Return, kh.ops[b].Return) })
	seen := map[int64][]int{}
	for _, d := range deqs {
		D := kh.ops[d]
		v := D.Output.(dequeued).val
		es := enq[v]
		if len(es) == 0 {
			return witnessed{UnexpectedDequeueKind, fmt.Sprintf("Unexpected dequeue on %s: %s returned %d, which was never enqueued", kh.label(), name(d), v), []int{d}}, true
		}
		if kh.ops[es[0]].Call > D.Return {
			return witnessed{UnexpectedDequeueKind, fmt.Sprintf("Unexpected dequeue on %s: %s returned %d before any enqueue of it began: the first, %s, began after the dequeue had completed",
				kh.label(), name(d), v, name(es[0])), []int{d, es[0]}}, true
		}
		seen[v] = append(seen[v], d)
		if len(seen[v]) > len(es) {
			ids := append(slices.Clone(seen[v]), es...)
			var ds, ens []string
			for _, id := range seen[v] {
				ds = append(ds, name(id))
			}
			for _, id := range es {
				ens = append(ens, name(id))
			}
			return witnessed{DuplicateDequeueKind, fmt.Sprintf("Duplicate dequeue on %s: %d was dequeued %s, by %s, but enqueued only %s, by %s",
				kh.label(), v, times(len(seen[v])), andList(ds), times(len(es)), andList(ens)), ids}, true
		}
	}
	return witnessed{}, false
}

// andList joins phrases as "a, b and c".
func andList(words []string) string {
	if len(words) <= 1 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}

// badSetRead looks, read by read in order of completion, for an element no
// add had begun to add before the read ended, an element whose add had
// completed before the read began but which the read lacks, and an element
// an earlier read (completed before this one began) had seen and this one
// lacks. A set only grows, so each is a proof.
func badSetRead(kh *keyHistory, name func(int) string) (witnessed, bool) {
	firstAdd := map[int64]int{} // element -> the add (known or not) invoked first
	var adds, reads []int       // known adds; known reads
	elems := map[int][]int64{}  // read -> its elements, sorted
	for id, o := range kh.ops {
		op := o.Input.(setOp)
		if !op.read {
			if f, ok := firstAdd[op.val]; !ok || o.Call < kh.ops[f].Call {
				firstAdd[op.val] = id
			}
			if o.Output != nil {
				adds = append(adds, id)
			}
			continue
		}
		if o.Output != nil {
			reads = append(reads, id)
			elems[id] = setElems(string(o.Output.(setState)))
		}
	}
	if len(reads)*(len(adds)+len(reads)) > maxWitnessWork {
		return witnessed{}, false
	}
	has := func(r int, v int64) bool {
		_, ok := slices.BinarySearch(elems[r], v)
		return ok
	}
	slices.SortFunc(reads, func(a, b int) int { return cmp.Compare(kh.ops[a].Return, kh.ops[b].Return) })
	for _, r := range reads {
		R := kh.ops[r]
		for _, v := range elems[r] {
			f, ok := firstAdd[v]
			if !ok {
				return witnessed{UnexpectedElementKind, fmt.Sprintf("Unexpected element on %s: %s has %d, which was never added", kh.label(), name(r), v), []int{r}}, true
			}
			if kh.ops[f].Call > R.Return {
				return witnessed{UnexpectedElementKind, fmt.Sprintf("Unexpected element on %s: %s has %d before any add of it began: the first, %s, began after the read had completed",
					kh.label(), name(r), v, name(f)), []int{r, f}}, true
			}
		}
		lost := -1
		for _, a := range adds {
			A := kh.ops[a]
			if A.Return < R.Call && !has(r, A.Input.(setOp).val) && (lost < 0 || A.Return < kh.ops[lost].Return) {
				lost = a
			}
		}
		if lost >= 0 {
			return witnessed{LostAddKind, fmt.Sprintf("Lost add on %s: %s lacks %d, although %s had completed before the read began",
				kh.label(), name(r), kh.ops[lost].Input.(setOp).val, name(lost)), []int{r, lost}}, true
		}
		for _, q := range reads {
			Q := kh.ops[q]
			if Q.Return >= R.Call {
				break // reads are in order of completion
			}
			for _, v := range elems[q] {
				if !has(r, v) {
					return witnessed{StaleReadKind, fmt.Sprintf("Stale read on %s: %s lacks %d, which %s had already returned before the read began",
						kh.label(), name(r), v, name(q)), []int{r, q}}, true
				}
			}
		}
	}
	return witnessed{}, false
}

// counterBounds looks for a read outside the bounds the adds allow: adds
// that completed before the read began certainly precede it, adds invoked
// after it completed certainly follow it, and any other add (concurrent, or
// of unknown outcome) may count or not.
func counterBounds(kh *keyHistory, name func(int) string) (witnessed, bool) {
	end := 0
	for _, o := range kh.ops {
		end = max(end, int(o.Return)+1)
	}
	// Sums over adds by position: def* of known adds that returned before
	// a position, call* of all adds invoked before it.
	def, negDef, posDef := make([]int64, end+1), make([]int64, end+1), make([]int64, end+1)
	negCall, posCall := make([]int64, end+1), make([]int64, end+1)
	var reads []int
	for id, o := range kh.ops {
		op := o.Input.(counterOp)
		if op.read {
			reads = append(reads, id)
			continue
		}
		d := op.delta
		if o.Output != nil {
			def[o.Return+1] += d
			negDef[o.Return+1] += min(d, 0)
			posDef[o.Return+1] += max(d, 0)
		}
		negCall[o.Call+1] += min(d, 0)
		posCall[o.Call+1] += max(d, 0)
	}
	for p := 1; p <= end; p++ {
		def[p] += def[p-1]
		negDef[p] += negDef[p-1]
		posDef[p] += posDef[p-1]
		negCall[p] += negCall[p-1]
		posCall[p] += posCall[p-1]
	}
	slices.SortFunc(reads, func(a, b int) int { return cmp.Compare(kh.ops[a].Return, kh.ops[b].Return) })
	for _, r := range reads {
		R := kh.ops[r]
		v := R.Output.(counted).val
		sure := def[R.Call]
		lo := sure + negCall[R.Return] - negDef[R.Call]
		hi := sure + posCall[R.Return] - posDef[R.Call]
		if v < lo || v > hi {
			return witnessed{CounterBoundsKind, fmt.Sprintf("Counter read out of bounds on %s: %s, but the adds that completed before it began sum to %d, and with those that may have taken effect by its end the counter lies between %d and %d",
				kh.label(), name(r), sure, lo, hi), []int{r}}, true
		}
	}
	return witnessed{}, false
}
