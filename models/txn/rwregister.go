package txn

import (
	"cmp"
	"slices"
)

// version is a register state: a value, or the initial nil.
type version struct {
	k    int32
	v    int64
	null bool
}

// rwRegister infers the dependency graph of a read-write register history
// and reports the anomalies that need no cycle.
func (a *analysis) rwRegister() {
	p := a.p
	idx, refs := a.writers(mWrite)

	// Each ok transaction's external read of a key is its first read
	// before writing the key; later reads must agree with what it read and
	// wrote.
	type ext struct {
		t, m  int32 // the read
		write int32 // the transaction's final write of the key, -1 if none
	}
	var exts []ext
	for t := range p.txns {
		x := &p.txns[t]
		if x.typ != tOK {
			continue
		}
		type state struct {
			key                int32
			known, null, wrote bool
			v                  int64
			read               int32 // external read, -1 if none
		}
		var st []state // per key, in order of first use; transactions are short
		mops := p.txnMops(x)
		for m := range mops {
			mo := &mops[m]
			i := slices.IndexFunc(st, func(s state) bool { return s.key == mo.key })
			if i < 0 {
				i = len(st)
				st = append(st, state{key: mo.key, read: -1})
			}
			s := &st[i]
			if mo.kind == mWrite {
				s.known, s.null, s.v, s.wrote = true, false, mo.val, true
				continue
			}
			if s.known && (s.null != mo.null || !mo.null && s.v != mo.val) {
				mo.bad = true
				want := "nil"
				if !s.null {
					want = itoa(s.v)
				}
				a.report("internal", mo.key, []int32{int32(t)}, func() string { return a.sayInternalRegister(int32(t), int32(m), want) })
				continue
			}
			if !s.known {
				s.read = int32(m)
			}
			s.known, s.null, s.v = true, mo.null, mo.val
		}
		for _, s := range st {
			k := s.key
			if s.read < 0 {
				continue
			}
			e := ext{t: int32(t), m: s.read, write: -1}
			if s.wrote {
				for m := len(mops) - 1; m >= 0; m-- {
					if mops[m].kind == mWrite && mops[m].key == k {
						e.write = int32(m)
						break
					}
				}
			}
			exts = append(exts, e)
		}
	}

	// Classify what each external read observed; committed writes seen
	// make info transactions nodes.
	good := exts[:0]
	for _, e := range exts {
		mo := &p.mopsOf(e.t)[e.m]
		if mo.null {
			good = append(good, e)
			continue
		}
		j, ok := idx.get(kv{mo.key, mo.val})
		r := rref{e.t, e.m}
		switch {
		case !ok:
			if p.malformed == 0 {
				a.report("garbage-read", mo.key, []int32{e.t}, func() string { return a.sayGarbage(r, mo.val) })
			}
		case refs[j].dup:
		case refs[j].t == e.t:
			a.report("future-read", mo.key, []int32{e.t}, func() string { return a.sayFuture(e.t, e.m, mo.val) })
		case p.txns[refs[j].t].typ == tFail:
			a.report("G1a", mo.key, []int32{e.t, refs[j].t}, func() string { return a.sayAborted(r, mo.val, refs[j].t) })
		case !refs[j].final:
			a.report("G1b", mo.key, []int32{e.t, refs[j].t}, func() string { return a.sayIntermediate(r, mo.val, refs[j]) })
		default:
			refs[j].seen = true
			good = append(good, e)
		}
	}
	exts = good
	for t := range p.txns {
		if p.txns[t].typ == tOK {
			a.commit(int32(t))
		}
	}
	for _, w := range refs {
		if w.seen && p.txns[w.t].typ == tInfo {
			a.commit(w.t)
		}
	}
	// committed reports whether wref j is the final write of a node.
	committed := func(j int32) bool {
		return !refs[j].dup && refs[j].final && p.txns[refs[j].t].node >= 0
	}

	// Version order facts: nil precedes every version, and a transaction
	// that read v1 and wrote v2 installed v2 after v1. succ holds the
	// second kind; a version with no predecessor of that kind is a root,
	// right after nil.
	succ := map[kv][]int32{}
	hasPred := make([]bool, len(refs))
	lost := map[version][]int32{}
	for _, e := range exts {
		if e.write < 0 {
			continue
		}
		x := &p.txns[e.t]
		r, w := &p.txnMops(x)[e.m], &p.txnMops(x)[e.write]
		j, _ := idx.get(kv{w.key, w.val})
		v := version{k: r.key, v: r.val, null: r.null}
		lost[v] = append(lost[v], e.t)
		if !committed(j) || r.null {
			continue
		}
		i, _ := idx.get(kv{r.key, r.val})
		succ[kv{r.key, r.val}] = append(succ[kv{r.key, r.val}], j)
		hasPred[j] = true
		a.g.add(p.txns[refs[i].t].node, x.node, relWW, why{key: r.key, a: r.val, b: w.val, mop: e.m})
	}
	roots := make([][]int32, len(p.keys))
	for j := range refs {
		if committed(int32(j)) && !hasPred[j] {
			k := p.mopsOf(refs[j].t)[refs[j].m].key
			roots[k] = append(roots[k], int32(j))
		}
	}
	var lostAt []version
	for v, ts := range lost {
		if len(ts) > 1 {
			lostAt = append(lostAt, v)
		}
	}
	slices.SortFunc(lostAt, func(x, y version) int { return cmp.Or(cmp.Compare(lost[x][0], lost[y][0]), cmp.Compare(x.k, y.k)) })
	for _, v := range lostAt {
		ts := lost[v]
		a.report("lost-update", v.k, ts, func() string { return a.sayLostUpdate(v, ts) })
	}

	if !a.c.NoRealTime {
		reads := make([]rref, len(exts))
		for i, e := range exts {
			reads[i] = rref{e.t, e.m}
		}
		a.realtimeVersions(reads, idx, refs, committed)
	}

	for _, e := range exts {
		x := &p.txns[e.t]
		r := &p.txnMops(x)[e.m]
		next := roots[r.key]
		if !r.null {
			j, _ := idx.get(kv{r.key, r.val})
			w := refs[j]
			a.g.add(p.txns[w.t].node, x.node, relWR, why{key: r.key, a: r.val, mop: e.m})
			next = succ[kv{r.key, r.val}]
		} else if !a.spend(len(next), "reads of the initial state") {
			continue
		}
		for _, j := range next {
			note := noteNone
			if r.null {
				note = noteNilRead
			}
			a.g.add(x.node, p.txns[refs[j].t].node, relRW, why{key: r.key, a: r.val, b: p.mopsOf(refs[j].t)[refs[j].m].val, mop: e.m, note: note})
		}
	}
}
