package txn

import (
	"context"
	"fmt"

	"github.com/faultline/faultline/models"
)

// gSingleBudget bounds the node expansions spent looking for a G-single
// cycle in one component before settling for a G2 cycle.
const gSingleBudget = 1 << 24

// cycles finds the cycles of the graph and reports one per strongly
// connected component of each edge set, from the narrowest (ww) to the
// widest (everything), showing in each wider set only components that the
// narrower one did not already have.
func (a *analysis) cycles(ctx context.Context) error {
	g := &a.g
	s := newSearcher(g)

	// G0: ww only.
	ww, nww := g.scc(relWW)
	for _, gr := range groups(ww, nww) {
		nodes := gr.nodes
		if s.search(nodes[0], nodes[0], relWW, ww, ww[nodes[0]], 0) {
			a.reportCycle(s.path(nodes[0], nodes[0]))
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cycle search stopped: %w", err)
	}

	// G1c: ww and wr, through a wr edge (otherwise it was a G0).
	wr, nwr := g.scc(relWW | relWR)
	for _, gr := range groups(wr, nwr) {
		if e, ok := a.internalEdge(gr.nodes, wr, relWR, nil); ok {
			a.cycleThrough(s, e, relWW|relWR, wr, gr.c)
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cycle search stopped: %w", err)
	}

	// G-single, G-nonadjacent, G2-item: through an rw edge.
	dep, ndep := g.scc(relDeps)
	for _, gr := range groups(dep, ndep) {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("cycle search stopped: %w", err)
		}
		a.antiCycle(s, gr.nodes, dep, gr.c, wr)
	}

	// Cycles that need process, then real-time, order: components that
	// join components of the narrower graph, shown through an edge of the
	// new relation between two of them.
	prev := dep
	for _, r := range []rel{relProcess, relRealtime} {
		mask := relDeps | relProcess | r
		comp, n := g.scc(mask)
		for _, gr := range groups(comp, n) {
			if e, ok := a.internalEdge(gr.nodes, comp, r, prev); ok {
				a.cycleThrough(s, e, mask, comp, gr.c)
			}
		}
		prev = comp
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("cycle search stopped: %w", err)
		}
	}
	return nil
}

// internalEdge returns an edge (index into g.edges) of relation r between
// two nodes of the component, whose ends lie in different components of
// apart when apart is not nil.
func (a *analysis) internalEdge(nodes []int32, comp []int32, r rel, apart []int32) (int32, bool) {
	g := &a.g
	for _, v := range nodes {
		for i := g.off[v]; i < g.off[v+1]; i++ {
			e := g.edges[i]
			if e.rel == r && comp[e.to] == comp[v] && (apart == nil || apart[e.to] != apart[v]) {
				return i, true
			}
		}
	}
	return 0, false
}

// cycleThrough reports the shortest cycle through edge i (an index into
// g.edges) over mask within component c.
func (a *analysis) cycleThrough(s *searcher, i int32, mask rel, comp []int32, c int32) {
	e := a.g.edges[i]
	if s.search(e.to, e.from, mask, comp, c, 0) {
		a.reportCycle(append(s.path(e.to, e.from), i))
	}
}

// antiCycle reports a cycle with rw edges in dependency component c:
// G-single when some rw edge a->b has b reaching a over ww and wr edges
// (wr holds those components), else one through the first rw edge.
func (a *analysis) antiCycle(s *searcher, nodes []int32, dep []int32, c int32, wr []int32) {
	g := &a.g
	var rws []int32 // edge ids
	for _, v := range nodes {
		for i := g.off[v]; i < g.off[v+1]; i++ {
			if e := g.edges[i]; e.rel == relRW && dep[e.to] == c {
				rws = append(rws, i)
			}
		}
	}
	if len(rws) == 0 {
		return
	}
	// Within one ww/wr component the way back is certain.
	for _, i := range rws {
		e := g.edges[i]
		if wr[e.from] == wr[e.to] {
			a.cycleThrough(s, i, relWW|relWR, wr, wr[e.to])
			return
		}
	}
	// Otherwise search from each rw edge's target, within budget.
	spent := s.visits
	tried := map[int32]bool{}
	for _, i := range rws {
		b := g.edges[i].to
		if tried[b] {
			continue
		}
		tried[b] = true
		left := gSingleBudget - (s.visits - spent)
		if left <= 0 {
			a.note("G-single search gave up in a large component (a G2-item cycle shown there may hide one)")
			break
		}
		s.search(b, -1, relWW|relWR, dep, c, left)
		for _, j := range rws {
			e := g.edges[j]
			if e.to == b && s.reached(e.from) {
				a.reportCycle(append(s.path(b, e.from), j))
				return
			}
		}
	}
	a.cycleThrough(s, rws[0], relDeps, dep, c)
}

// reportCycle classifies and reports a cycle given as edges in order.
func (a *analysis) reportCycle(edges []int32) {
	var n [relRealtime + 1]int
	for _, e := range edges {
		n[a.g.edges[e].rel]++
	}
	var kind string
	switch {
	case n[relRW] == 0 && n[relWR] == 0:
		kind = "G0"
	case n[relRW] == 0:
		kind = "G1c"
	case n[relRW] == 1:
		kind = "G-single"
	case a.nonadjacent(edges):
		kind = "G-nonadjacent"
	default:
		kind = "G2-item"
	}
	switch {
	case n[relRealtime] > 0:
		kind += "-realtime"
	case n[relProcess] > 0:
		kind += "-process"
	}
	ts := make([]int32, len(edges))
	cycle := make([]models.CycleEdge, len(edges))
	for i, e := range edges {
		ed := a.g.edges[e]
		ts[i] = a.nodes[ed.from]
		cycle[i].Rel = relName(ed.rel)
		if ed.why >= 0 && ed.rel&relDeps != 0 {
			cycle[i].Key = a.key(a.g.whys[ed.why].key)
		}
	}
	a.reportWithCycle(kind, -1, ts, cycle, func() string { return a.sayCycle(kind, edges) })
}

// relName is the name of a cycle edge's relation in models.CycleEdge.
func relName(r rel) string {
	switch r {
	case relWW:
		return "ww"
	case relWR:
		return "wr"
	case relRW:
		return "rw"
	case relProcess:
		return "process"
	}
	return "realtime"
}

// nonadjacent reports whether no two rw edges of the cycle follow each
// other, counting around the end.
func (a *analysis) nonadjacent(edges []int32) bool {
	for i, e := range edges {
		next := edges[(i+1)%len(edges)]
		if a.g.edges[e].rel == relRW && a.g.edges[next].rel == relRW {
			return false
		}
	}
	return true
}
