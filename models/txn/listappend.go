package txn

import (
	"slices"
)

// kv names a value of a key.
type kv struct {
	k int32
	v int64
}

// wref is the write (or append) of one value to one key.
type wref struct {
	t     int32 // writing transaction
	m     int32 // its micro-op
	final bool  // the transaction's last write of this key
	dup   bool  // written more than once: the writer is unknown
	seen  bool  // some ok read observed it (as a final value, for registers)
}

// writers indexes the micro-ops of kind by the value they write.
func (a *analysis) writers(kind mopKind) (*valIndex, []wref) {
	idx := newValIndex(a.p, kind)
	var refs []wref
	for t := range a.p.txns {
		mops := a.p.mopsOf(int32(t))
		for m := range mops {
			if mops[m].kind != kind {
				continue
			}
			x := kv{mops[m].key, mops[m].val}
			if i, ok := idx.get(x); ok {
				refs[i].dup = true
				continue
			}
			final := true
			for _, later := range mops[m+1:] {
				if later.kind == kind && later.key == mops[m].key {
					final = false
					break
				}
			}
			idx.put(x, int32(len(refs)))
			refs = append(refs, wref{t: int32(t), m: int32(m), final: final})
		}
	}
	return idx, refs
}

// valIndex maps a key's written values to their wref. Values are
// usually dense per key (Elle's generators count up from 1), so a key
// whose values span at most twice their number gets a slice indexed by
// value; the others share a map.
type valIndex struct {
	lo     []int64 // per key: smallest value written
	off    []int32 // per key: start in slots, -1 when in sparse
	span   []int32 // per key: values lo..lo+span-1 have a slot
	slots  []int32 // wref + 1; 0 when none
	sparse map[kv]int32
}

// newValIndex sizes the index for the values of micro-ops of kind.
func newValIndex(p *parsed, kind mopKind) *valIndex {
	x := &valIndex{lo: make([]int64, len(p.keys)), off: make([]int32, len(p.keys)), span: make([]int32, len(p.keys)), sparse: map[kv]int32{}}
	hi := make([]int64, len(p.keys))
	n := make([]int64, len(p.keys))
	for t := range p.txns {
		for _, m := range p.mopsOf(int32(t)) {
			if m.kind != kind {
				continue
			}
			if n[m.key] == 0 || m.val < x.lo[m.key] {
				x.lo[m.key] = m.val
			}
			if n[m.key] == 0 || m.val > hi[m.key] {
				hi[m.key] = m.val
			}
			n[m.key]++
		}
	}
	total := int64(0)
	for k := range x.off {
		x.off[k] = -1
		// hi-lo is computed in uint64: the values may span all of int64.
		if d := uint64(hi[k]) - uint64(x.lo[k]); n[k] > 0 && d < uint64(2*n[k]) && total+int64(d)+1 < 1<<31 {
			x.off[k], x.span[k] = int32(total), int32(d+1)
			total += int64(d) + 1
		}
	}
	x.slots = make([]int32, total)
	return x
}

func (x *valIndex) slot(v kv) (int, bool) {
	off := x.off[v.k]
	if off < 0 {
		return 0, false
	}
	d := uint64(v.v) - uint64(x.lo[v.k])
	if d >= uint64(x.span[v.k]) {
		return -1, true
	}
	return int(off) + int(d), true
}

// get returns the wref of value v.
func (x *valIndex) get(v kv) (int32, bool) {
	if v.k < 0 || int(v.k) >= len(x.off) {
		return 0, false
	}
	i, dense := x.slot(v)
	if !dense {
		j, ok := x.sparse[v]
		return j, ok
	}
	if i < 0 || x.slots[i] == 0 {
		return 0, false
	}
	return x.slots[i] - 1, true
}

// put records the wref of a value newValIndex counted.
func (x *valIndex) put(v kv, j int32) {
	if i, dense := x.slot(v); dense {
		x.slots[i] = j + 1
		return
	}
	x.sparse[v] = j
}

// rref is a read: micro-op m of transaction t.
type rref struct{ t, m int32 }

// laKey is what list-append inference keeps per key.
type laKey struct {
	reads   []rref
	longest int     // index into reads of a longest read, -1 if none
	w       []int32 // wref of each element of the longest read, -1 if none
	compat  []bool  // per read: a prefix of the longest
	unseen  []int32 // wrefs of committed appends no read saw, one per transaction
}

// listAppend infers the dependency graph of a list-append history and
// reports the anomalies that need no cycle.
func (a *analysis) listAppend() {
	p := a.p
	idx, refs := a.writers(mAppend)
	a.internalLists()

	keys := make([]laKey, len(p.keys))
	for t := range p.txns {
		if p.txns[t].typ != tOK {
			continue
		}
		for m, mo := range p.mopsOf(int32(t)) {
			if mo.kind == mRead {
				keys[mo.key].reads = append(keys[mo.key].reads, rref{int32(t), int32(m)})
			}
		}
	}
	// The version order of each key is its longest read; mark what reads
	// observed, so info transactions seen to commit become nodes.
	var scratch []int64
	ordinal := make([]int32, len(p.txns))
	for k := range keys {
		ks := &keys[k]
		ks.longest = -1
		best := int32(-1)
		for i, r := range ks.reads {
			if n := p.mopsOf(r.t)[r.m].n; n > best {
				best, ks.longest = n, i
			}
		}
		if ks.longest < 0 {
			continue
		}
		lr := ks.reads[ks.longest]
		long := p.elems(&p.mopsOf(lr.t)[lr.m])
		ks.w = make([]int32, len(long))
		for i, v := range long {
			ks.w[i] = -1
			if j, ok := idx.get(kv{int32(k), v}); ok {
				ks.w[i] = j
				refs[j].seen = true
			}
		}
		// A duplicate in any compatible read is one in the longest.
		if v, ok := duplicate(long, &scratch); ok {
			a.report("duplicate-elements", int32(k), []int32{lr.t}, func() string { return a.sayDuplicate(lr, v) })
		} else {
			a.ownOrder(int32(k), lr, long, ks.w, refs, ordinal)
		}
		ks.compat = make([]bool, len(ks.reads))
		for i, r := range ks.reads {
			got := p.elems(&p.mopsOf(r.t)[r.m])
			if slices.Equal(got, long[:len(got)]) {
				ks.compat[i] = true
				continue
			}
			a.report("incompatible-order", int32(k), []int32{r.t, lr.t}, func() string {
				return a.sayIncompatible(r, lr)
			})
			// Its elements are observed too, and may be bad on their own.
			if v, ok := duplicate(got, &scratch); ok {
				a.report("duplicate-elements", int32(k), []int32{r.t}, func() string { return a.sayDuplicate(r, v) })
			}
			for _, v := range got {
				j, ok := idx.get(kv{int32(k), v})
				if ok {
					refs[j].seen = true
				}
				if !ok || p.txns[refs[j].t].typ == tFail {
					a.badElement(r, v, idx, refs)
				}
			}
		}
	}

	for t := range p.txns {
		if p.txns[t].typ == tOK {
			a.commit(int32(t))
		}
	}
	for _, w := range refs {
		if w.seen && !w.dup && p.txns[w.t].typ == tInfo {
			a.commit(w.t)
		}
	}
	for j, w := range refs {
		if !w.seen && !w.dup && p.txns[w.t].node >= 0 {
			ks := &keys[p.mopsOf(w.t)[w.m].key]
			if n := len(ks.unseen); n == 0 || refs[ks.unseen[n-1]].t != w.t {
				ks.unseen = append(ks.unseen, int32(j))
			}
		}
	}
	for k := range keys {
		a.listAppendKey(int32(k), &keys[k], idx, refs)
	}
}

// duplicate returns a value that occurs twice in vs, sorting a copy in
// scratch.
func duplicate(vs []int64, scratch *[]int64) (int64, bool) {
	s := append((*scratch)[:0], vs...)
	slices.Sort(s)
	*scratch = s
	for i := 1; i < len(s); i++ {
		if s[i] == s[i-1] {
			return s[i], true
		}
	}
	return 0, false
}

// ownOrder checks that each transaction's appends to key k appear in the
// version order (the longest read) in the order it made them, none
// skipped. (Interleaving with other transactions' appends shows as a ww
// cycle.) ordinal is zero for every transaction and is left so.
func (a *analysis) ownOrder(k int32, lr rref, long []int64, w []int32, refs []wref, ordinal []int32) {
	for i, j := range w {
		if j < 0 || refs[j].dup {
			continue
		}
		t, m := refs[j].t, refs[j].m
		var o int32 // appends of t to k before this one
		for _, mo := range a.p.mopsOf(t)[:m] {
			if mo.kind == mAppend && mo.key == k {
				o++
			}
		}
		switch ordinal[t] {
		case -1: // already reported
		case o:
			ordinal[t] = o + 1
		default:
			a.report("internal", k, []int32{t, lr.t}, func() string { return a.sayOwnOrder(t, lr, long[i]) })
			ordinal[t] = -1
		}
	}
	for _, j := range w {
		if j >= 0 {
			ordinal[refs[j].t] = 0
		}
	}
}

// nodeOf returns the graph node that wrote wref j, or -1 when that writer is
// unknown, failed or uncommitted.
func (a *analysis) nodeOf(j int32, refs []wref) int32 {
	if j < 0 || refs[j].dup {
		return -1
	}
	return a.p.txns[refs[j].t].node
}

// badElement reports a read element that no committed transaction wrote.
func (a *analysis) badElement(r rref, v int64, idx *valIndex, refs []wref) {
	k := a.p.mopsOf(r.t)[r.m].key
	j, ok := idx.get(kv{k, v})
	switch {
	case !ok:
		if a.p.malformed == 0 { // else its writer may be a left-out transaction
			a.report("garbage-read", k, []int32{r.t}, func() string { return a.sayGarbage(r, v) })
		}
	case refs[j].dup:
	case a.p.txns[refs[j].t].typ == tFail:
		a.report("G1a", k, []int32{r.t, refs[j].t}, func() string { return a.sayAborted(r, v, refs[j].t) })
	}
}

func (a *analysis) listAppendKey(k int32, ks *laKey, idx *valIndex, refs []wref) {
	p := a.p
	if ks.longest < 0 {
		return
	}
	lr := ks.reads[ks.longest]
	long := p.elems(&p.mopsOf(lr.t)[lr.m])

	// ww: consecutive committed appends in the version order, then every
	// unobserved committed append after the last observed one.
	last, lastAt := int32(-1), -1
	firstBad := len(long)
	for i := range long {
		j := ks.w[i]
		nd := a.nodeOf(j, refs)
		if nd < 0 {
			if j < 0 || !refs[j].dup {
				firstBad = min(firstBad, i)
			}
			continue
		}
		if last >= 0 {
			a.g.add(last, nd, relWW, why{key: k, a: long[lastAt], b: long[i], mop: -1})
		}
		last, lastAt = nd, i
	}
	if last >= 0 && a.spend(len(ks.unseen), "unobserved appends") {
		for _, u := range ks.unseen {
			a.g.add(last, a.nodeOf(u, refs), relWW, why{key: k, a: long[lastAt], b: p.mopsOf(refs[u].t)[refs[u].m].val, mop: -1, note: noteUnobserved})
		}
	}

	for i, r := range ks.reads {
		if !ks.compat[i] {
			continue
		}
		mo := &p.mopsOf(r.t)[r.m]
		n := int(mo.n)
		// Elements that failed or that nobody wrote.
		if n > firstBad {
			for at := firstBad; at < n; at++ {
				if nd := a.nodeOf(ks.w[at], refs); nd < 0 && (ks.w[at] < 0 || !refs[ks.w[at]].dup) {
					a.badElement(r, long[at], idx, refs)
					break
				}
			}
		}
		if mo.bad {
			continue
		}
		reader := p.txns[r.t].node
		// The external part of the read ends before the reader's own
		// appends (internalLists checked that they form its suffix).
		ext := n
		for ext > 0 {
			j := ks.w[ext-1]
			if j < 0 || refs[j].dup || refs[j].t != r.t {
				break
			}
			ext--
		}
		if ext > 0 {
			if j := ks.w[ext-1]; j >= 0 && !refs[j].dup {
				w := refs[j]
				if !w.final && w.t != r.t {
					a.report("G1b", k, []int32{r.t, w.t}, func() string { return a.sayIntermediate(r, long[ext-1], w) })
				}
				if nd := a.nodeOf(j, refs); nd >= 0 {
					a.g.add(nd, reader, relWR, why{key: k, a: long[ext-1], mop: r.m})
				}
			}
		}
		// rw: the reader precedes whoever appended the next element, or,
		// having seen the whole order, every unobserved append.
		if n < len(long) {
			for at := n; at < len(long); at++ {
				if nd := a.nodeOf(ks.w[at], refs); nd >= 0 {
					a.g.add(reader, nd, relRW, why{key: k, b: long[at], mop: r.m})
					break
				}
			}
		} else if a.spend(len(ks.unseen), "unobserved appends") {
			for _, u := range ks.unseen {
				a.g.add(reader, a.nodeOf(u, refs), relRW, why{key: k, b: p.mopsOf(refs[u].t)[refs[u].m].val, mop: r.m, note: noteUnobserved})
			}
		}
	}
}

// internalLists checks each ok transaction's reads against its own
// earlier reads and appends: a read of k must be the previous read of k
// followed by the appends since, or, with no previous read, end with the
// transaction's appends so far and contain none of its later ones.
func (a *analysis) internalLists() {
	p := a.p
	for t := range p.txns {
		x := &p.txns[t]
		if x.typ != tOK {
			continue
		}
		mops := p.txnMops(x)
		for m := range mops {
			mo := &mops[m]
			if mo.kind != mRead {
				continue
			}
			got := p.elems(mo)
			// Find the previous read of the key and the appends since.
			prev := -1
			var since []int64
			for j := m - 1; j >= 0; j-- {
				o := &mops[j]
				if o.key != mo.key {
					continue
				}
				if o.kind == mRead {
					prev = j
					break
				}
				since = append(since, o.val)
			}
			slices.Reverse(since)
			if prev >= 0 {
				want := append(slices.Clone(p.elems(&mops[prev])), since...)
				if !slices.Equal(got, want) {
					mo.bad = true
					a.report("internal", mo.key, []int32{int32(t)}, func() string { return a.sayInternal(int32(t), int32(m), want, true) })
				}
				continue
			}
			// No earlier read: own appends must be exactly the suffix, and
			// later ones absent.
			for _, o := range mops[m+1:] {
				if o.kind == mAppend && o.key == mo.key && slices.Contains(got, o.val) {
					mo.bad = true
					a.report("future-read", mo.key, []int32{int32(t)}, func() string { return a.sayFuture(int32(t), int32(m), o.val) })
					break
				}
			}
			if mo.bad {
				continue
			}
			if len(got) < len(since) || !slices.Equal(got[len(got)-len(since):], since) || countIn(got, since) != len(since) {
				mo.bad = true
				a.report("internal", mo.key, []int32{int32(t)}, func() string { return a.sayInternal(int32(t), int32(m), since, false) })
			}
		}
	}
}

// countIn counts the elements of got that are in set.
func countIn(got, set []int64) int {
	n := 0
	for _, v := range got {
		if slices.Contains(set, v) {
			n++
		}
	}
	return n
}
