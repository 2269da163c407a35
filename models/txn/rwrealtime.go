package txn

import (
	"slices"
)

// realtimeVersions adds the version order that strict serializability and
// real time imply for registers, which writes-follow-reads alone leaves
// open for blind writes: when transaction T' wrote v' to k and completed
// before R was invoked, and R read v (written by W, another transaction),
// then in any strict serial order T' precedes R, so v' was installed
// before v: T' precedes W. The edge is of relation relRealtime, so a cycle
// through it rules out strict serializability only. Writers that
// completed before W was invoked already precede it in real time and are
// skipped, which keeps the edges to the writes concurrent with W.
//
// reads are the external reads of ok transactions that passed the checks;
// committed(j) reports whether wref j is the final write of a graph node.
func (a *analysis) realtimeVersions(reads []rref, idx *valIndex, refs []wref, committed func(int32) bool) {
	p := a.p
	type done struct{ at, j int32 }
	per := make([][]done, len(p.keys)) // per key, ok writers by completion
	for j := range refs {
		x := &p.txns[refs[j].t]
		if committed(int32(j)) && x.typ == tOK && x.done >= 0 {
			k := p.txnMops(x)[refs[j].m].key
			per[k] = append(per[k], done{x.done, int32(j)})
		}
	}
	for _, ws := range per {
		slices.SortFunc(ws, func(a, b done) int { return int(a.at - b.at) })
	}
	for _, r := range reads {
		rx := &p.txns[r.t]
		mo := &p.txnMops(rx)[r.m]
		if mo.null || mo.bad || rx.inv < 0 {
			continue
		}
		j, ok := idx.get(kv{mo.key, mo.val})
		if !ok || !committed(j) {
			continue
		}
		w := &p.txns[refs[j].t]
		if w.inv < 0 {
			continue
		}
		ws := per[mo.key]
		lo, _ := slices.BinarySearchFunc(ws, w.inv+1, func(d done, at int32) int { return int(d.at - at) })
		hi, _ := slices.BinarySearchFunc(ws, rx.inv, func(d done, at int32) int { return int(d.at - at) })
		if hi <= lo {
			continue
		}
		if !a.spend(hi-lo, "the register version order real time implies") {
			return
		}
		for _, d := range ws[lo:hi] {
			if d.j == j {
				continue
			}
			t := refs[d.j].t
			a.g.add(p.txns[t].node, w.node, relRealtime, why{key: mo.key, a: p.mopsOf(t)[refs[d.j].m].val, b: mo.val, mop: r.m, reader: r.t, note: noteRealtimeVersion})
		}
	}
}
