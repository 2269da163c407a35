package txn

import (
	"fmt"
	"strconv"
	"strings"
)

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// namer labels transactions T1, T2, ... in order of mention, with the op
// index the first time.
type namer struct {
	a     *analysis
	label map[int32]int
}

func (a *analysis) namer() *namer { return &namer{a: a, label: map[int32]int{}} }

func (n *namer) name(t int32) string {
	if l, ok := n.label[t]; ok {
		return "T" + strconv.Itoa(l)
	}
	l := len(n.label) + 1
	n.label[t] = l
	return fmt.Sprintf("T%d (op %d)", l, n.a.opIndex(t))
}

func (a *analysis) key(k int32) string { return a.p.keys[k].String() }

// list prints a list read, eliding the middle of a long one.
func list(vs []int64) string {
	const edge = 4
	var parts []string
	for i, v := range vs {
		switch {
		case len(vs) <= 3*edge || i < edge || i >= len(vs)-edge:
			parts = append(parts, itoa(v))
		case i == edge:
			parts = append(parts, fmt.Sprintf("...(%d more)...", len(vs)-2*edge))
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// readText prints what micro-op m of transaction t read: "x = [1 2]".
func (a *analysis) readText(t, m int32) string {
	mo := &a.p.mopsOf(t)[m]
	var v string
	switch {
	case mo.list:
		v = list(a.p.elems(mo))
	case mo.null && a.model == ListAppend:
		v = "[]"
	case mo.null:
		v = "nil"
	default:
		v = itoa(mo.val)
	}
	return a.key(mo.key) + " = " + v
}

func (a *analysis) sayDuplicate(r rref, v int64) string {
	n := a.namer()
	return fmt.Sprintf("%s read %s, which holds %d more than once, though every value is appended once.", n.name(r.t), a.readText(r.t, r.m), v)
}

func (a *analysis) sayIncompatible(r, long rref) string {
	n := a.namer()
	return fmt.Sprintf("%s read %s and %s read %s: neither is a prefix of the other, so they cannot both be versions of one list.",
		n.name(r.t), a.readText(r.t, r.m), n.name(long.t), a.readText(long.t, long.m))
}

func (a *analysis) sayGarbage(r rref, v int64) string {
	n := a.namer()
	k := a.key(a.p.mopsOf(r.t)[r.m].key)
	return fmt.Sprintf("%s read %s, but no transaction wrote %d to %s.", n.name(r.t), a.readText(r.t, r.m), v, k)
}

func (a *analysis) sayAborted(r rref, v int64, w int32) string {
	n := a.namer()
	k := a.key(a.p.mopsOf(r.t)[r.m].key)
	return fmt.Sprintf("%s read %s, but %d was written to %s by %s, which failed (aborted read).", n.name(r.t), a.readText(r.t, r.m), v, k, n.name(w))
}

func (a *analysis) sayIntermediate(r rref, v int64, w wref) string {
	n := a.namer()
	k := a.key(a.p.mopsOf(r.t)[r.m].key)
	verb := "wrote"
	if a.model == ListAppend {
		verb = "appended"
	}
	var later int64
	for _, mo := range a.p.mopsOf(w.t)[w.m+1:] {
		if mo.key == a.p.mopsOf(w.t)[w.m].key && mo.kind != mRead {
			later = mo.val
		}
	}
	seen := fmt.Sprintf(", ending with %d,", v)
	if a.model != ListAppend {
		seen = ","
	}
	return fmt.Sprintf("%s read %s%s which %s %s to %s before it %s %d there in the same transaction (intermediate read).",
		n.name(r.t), a.readText(r.t, r.m), seen, n.name(w.t), verb, k, verb, later)
}

func (a *analysis) sayInternal(t, m int32, want []int64, afterRead bool) string {
	n := a.namer()
	if afterRead {
		return fmt.Sprintf("%s read %s, but its own earlier read and appends imply %s.", n.name(t), a.readText(t, m), list(want))
	}
	return fmt.Sprintf("%s read %s, which does not end with its own earlier appends %s.", n.name(t), a.readText(t, m), list(want))
}

func (a *analysis) sayOwnOrder(t int32, long rref, v int64) string {
	n := a.namer()
	k := a.p.mopsOf(long.t)[long.m].key
	var own []int64
	for _, mo := range a.p.mopsOf(t) {
		if mo.kind == mAppend && mo.key == k {
			own = append(own, mo.val)
		}
	}
	return fmt.Sprintf("%s appended %s to %s in that order, but %s read %s, where %d is out of that order.",
		n.name(t), list(own), a.key(k), n.name(long.t), a.readText(long.t, long.m), v)
}

func (a *analysis) sayInternalRegister(t, m int32, want string) string {
	n := a.namer()
	return fmt.Sprintf("%s read %s, but its own earlier read or write of the key implies %s.", n.name(t), a.readText(t, m), want)
}

func (a *analysis) sayFuture(t, m int32, v int64) string {
	n := a.namer()
	return fmt.Sprintf("%s read %s, which includes %d, a value it writes only later.", n.name(t), a.readText(t, m), v)
}

func (a *analysis) sayLostUpdate(v version, ts []int32) string {
	n := a.namer()
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = n.name(t)
	}
	who := strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
	val := "nil"
	if !v.null {
		val = itoa(v.v)
	}
	return fmt.Sprintf("%s committed after each read %s = %s and then wrote %s, so one of them overwrote a version it never saw (lost update).",
		who, a.key(v.k), val, a.key(v.k))
}

// kindText says in words what each kind of cycle is.
func kindText(kind string) string {
	base, _, _ := strings.Cut(kind, "-process")
	base, _, _ = strings.Cut(base, "-realtime")
	var s string
	switch base {
	case "G0":
		s = "write cycle (G0)"
	case "G1c":
		s = "cycle of writes and reads (G1c)"
	case "G-single":
		s = "cycle with one anti-dependency (G-single)"
	case "G-nonadjacent":
		s = "cycle with non-adjacent anti-dependencies (G-nonadjacent)"
	default:
		s = "cycle with anti-dependencies (G2-item)"
	}
	switch {
	case strings.HasSuffix(kind, "-process"):
		s += " that needs process order"
	case strings.HasSuffix(kind, "-realtime"):
		s += " that needs real-time order"
	}
	return s
}

// sayCycle explains a cycle edge by edge.
func (a *analysis) sayCycle(kind string, edges []int32) string {
	n := a.namer()
	var parts []string
	for _, i := range edges {
		parts = append(parts, a.sayEdge(n, a.g.edges[i]))
	}
	first := a.nodes[a.g.edges[edges[0]].from]
	return fmt.Sprintf("%s: %s; so each transaction precedes the next and the last precedes %s, which no serial order allows.",
		upper(kindText(kind)), strings.Join(parts, "; "), n.name(first))
}

func upper(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

// sayEdge says why e.from precedes e.to.
func (a *analysis) sayEdge(n *namer, e edge) string {
	from, to := a.nodes[e.from], a.nodes[e.to]
	switch e.rel {
	case relProcess:
		return fmt.Sprintf("%s completed before %s began on the same process (process)", n.name(from), n.name(to))
	case relRealtime:
		if e.why >= 0 {
			w := a.g.whys[e.why]
			k := a.key(w.key)
			return fmt.Sprintf("%s wrote %s = %d and completed before %s was invoked, which read %s = %d, so that write came before %s's write of %d (real time)",
				n.name(from), k, w.a, n.name(w.reader), k, w.b, n.name(to), w.b)
		}
		x := a.p.txns[to]
		inv := "its invocation"
		if x.inv >= 0 {
			inv = fmt.Sprintf("its invocation at op %d", x.invIndex)
		}
		return fmt.Sprintf("%s completed before %s was invoked (real time: %s)", n.name(from), n.name(to), inv)
	}
	w := a.g.whys[e.why]
	k := a.key(w.key)
	f, t := n.name(from), n.name(to)
	if a.model == ListAppend {
		switch e.rel {
		case relWW:
			if w.note == noteUnobserved {
				return fmt.Sprintf("%s appended %d to %s, the last append any read saw, so %s's append of %d, which no read saw, came later (ww)", f, w.a, k, t, w.b)
			}
			return fmt.Sprintf("%s appended %d to %s and %s appended %d right after it (ww)", f, w.a, k, t, w.b)
		case relWR:
			return fmt.Sprintf("%s appended %d to %s and %s read it: %s (wr)", f, w.a, k, t, a.readText(to, w.mop))
		default:
			if w.note == noteUnobserved {
				return fmt.Sprintf("%s read %s, without %d, which %s appended and no read saw (rw)", f, a.readText(from, w.mop), w.b, t)
			}
			return fmt.Sprintf("%s read %s, without %d, which %s appended next (rw)", f, a.readText(from, w.mop), w.b, t)
		}
	}
	switch e.rel {
	case relWW:
		return fmt.Sprintf("%s wrote %s = %d and %s read that and then wrote %s = %d (ww)", f, k, w.a, t, k, w.b)
	case relWR:
		return fmt.Sprintf("%s wrote %s = %d and %s read it (wr)", f, k, w.a, t)
	}
	if w.note == noteNilRead {
		return fmt.Sprintf("%s read %s = nil, the initial state, which %s's write of %d replaced (rw)", f, k, t, w.b)
	}
	return fmt.Sprintf("%s read %s = %d, which %s's later write of %d replaced (rw)", f, k, w.a, t, w.b)
}
