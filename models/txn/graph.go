package txn

// rel is the relation an edge stands for; masks combine them.
type rel uint8

const (
	relWW rel = 1 << iota
	relWR
	relRW
	relProcess
	relRealtime

	relDeps = relWW | relWR | relRW
	relAll  = relDeps | relProcess | relRealtime
)

// edge says that transaction node from must precede node to.
type edge struct {
	from, to int32
	rel      rel
	why      int32 // index into graph.whys for dependencies, -1 otherwise
}

// why records what a dependency edge was inferred from, for explanations.
type why struct {
	a, b int64 // the values: a (from's) and b (to's), as the note says
	key  int32
	mop  int32 // the reading micro-op in the reader, -1 if none
	// reader is the reading transaction of a noteRealtimeVersion edge,
	// which joins two writers.
	reader int32
	note   uint8
}

// Notes on dependency edges.
const (
	noteNone       uint8 = iota
	noteUnobserved       // the later write was never read
	noteNilRead          // the read saw the initial state
	// noteRealtimeVersion: a real-time edge between two writers of a
	// register, inferred from a read (see realtimeVersions).
	noteRealtimeVersion
)

// graph is the dependency graph. Edges are appended, then build sorts
// them into adjacency lists, each node's edges in relation order (ww
// first), so a search that may take any of two parallel edges takes the
// weaker one. An edge's id is its place after build.
type graph struct {
	n     int
	edges []edge
	whys  []why
	off   []int32 // edges of node v: edges[off[v]:off[v+1]]
}

func (g *graph) add(from, to int32, r rel, w why) {
	if from == to {
		return
	}
	id := int32(-1)
	if r&relDeps != 0 || w.note == noteRealtimeVersion {
		id = int32(len(g.whys))
		g.whys = append(g.whys, w)
	}
	g.edges = append(g.edges, edge{from: from, to: to, rel: r, why: id})
}

func (g *graph) addOrder(from, to int32, r rel) {
	if from != to {
		g.edges = append(g.edges, edge{from: from, to: to, rel: r, why: -1})
	}
}

func (g *graph) build() {
	g.off = make([]int32, g.n+1)
	for _, e := range g.edges {
		g.off[e.from+1]++
	}
	for v := 1; v <= g.n; v++ {
		g.off[v] += g.off[v-1]
	}
	next := make([]int32, g.n)
	copy(next, g.off[:g.n])
	sorted := make([]edge, len(g.edges))
	for r := relWW; r <= relRealtime; r <<= 1 {
		for _, e := range g.edges {
			if e.rel == r {
				sorted[next[e.from]] = e
				next[e.from]++
			}
		}
	}
	g.edges = sorted
}

// scc returns the strongly connected component of every node over the
// edges in mask (Tarjan's algorithm, iterative so deep graphs cannot
// exhaust the stack), and the number of components.
func (g *graph) scc(mask rel) ([]int32, int32) {
	index := make([]int32, g.n) // 0: unvisited; else visit order + 1
	low := make([]int32, g.n)
	onStack := make([]bool, g.n)
	comp := make([]int32, g.n)
	var stack []int32
	type frame struct{ v, i int32 }
	var call []frame
	var next, ncomp int32 = 1, 0
	visit := func(v int32) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		call = append(call, frame{v, g.off[v]})
	}
	for s := range int32(g.n) {
		if index[s] != 0 {
			continue
		}
		visit(s)
		for len(call) > 0 {
			f := &call[len(call)-1]
			v := f.v
			if f.i < g.off[v+1] {
				a := g.edges[f.i]
				f.i++
				if a.rel&mask == 0 {
					continue
				}
				if index[a.to] == 0 {
					visit(a.to)
				} else if onStack[a.to] && index[a.to] < low[v] {
					low[v] = index[a.to]
				}
				continue
			}
			call = call[:len(call)-1]
			if len(call) > 0 {
				if u := call[len(call)-1].v; low[v] < low[u] {
					low[u] = low[v]
				}
			}
			if low[v] == index[v] {
				for {
					w := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					onStack[w] = false
					comp[w] = ncomp
					if w == v {
						break
					}
				}
				ncomp++
			}
		}
	}
	return comp, ncomp
}

// group is a component with at least two nodes.
type group struct {
	c     int32
	nodes []int32
}

// groups lists the components with at least two nodes, each with its
// nodes (carved from one slice: most components of a large graph are
// single nodes).
func groups(comp []int32, ncomp int32) []group {
	size := make([]int32, ncomp)
	for _, c := range comp {
		size[c]++
	}
	var out []group
	at := make([]int32, ncomp) // index into out + 1
	total := 0
	for c, n := range size {
		if n > 1 {
			out = append(out, group{c: int32(c)})
			at[c] = int32(len(out))
			total += int(n)
		}
	}
	flat := make([]int32, 0, total)
	for i := range out {
		n := int(size[out[i].c])
		out[i].nodes = flat[len(flat) : len(flat) : len(flat)+n]
		flat = flat[:len(flat)+n]
	}
	for v, c := range comp {
		if i := at[c]; i > 0 {
			out[i-1].nodes = append(out[i-1].nodes, int32(v))
		}
	}
	return out
}

// searcher runs breadth-first searches within one component, reusing its
// buffers between searches.
type searcher struct {
	g      *graph
	seen   []uint32
	stamp  uint32
	parent []int32 // the edge that reached the node
	queue  []int32
	// visits counts nodes expanded over all searches, for budgets.
	visits int
}

func newSearcher(g *graph) *searcher {
	return &searcher{g: g, seen: make([]uint32, g.n), parent: make([]int32, g.n)}
}

// search explores from src over edges in mask whose ends lie in component c
// of comp. It stops when it takes an edge into dst (dst may equal src) and
// returns true; with dst -1 it explores everything reachable. It gives up
// (false) after budget node expansions when budget > 0.
func (s *searcher) search(src, dst int32, mask rel, comp []int32, c int32, budget int) bool {
	s.stamp++
	s.seen[src] = s.stamp
	s.queue = append(s.queue[:0], src)
	for qi := 0; qi < len(s.queue); qi++ {
		v := s.queue[qi]
		s.visits++
		if budget > 0 && qi >= budget {
			return false
		}
		for i := s.g.off[v]; i < s.g.off[v+1]; i++ {
			a := s.g.edges[i]
			if a.rel&mask == 0 || comp[a.to] != c {
				continue
			}
			if a.to == dst {
				s.parent[dst] = i
				return true
			}
			if s.seen[a.to] != s.stamp {
				s.seen[a.to] = s.stamp
				s.parent[a.to] = i
				s.queue = append(s.queue, a.to)
			}
		}
	}
	return false
}

// reached reports whether the last search reached v.
func (s *searcher) reached(v int32) bool { return s.seen[v] == s.stamp }

// path returns the edges (indexes into g.edges) of the last search's path
// from src to dst, in order.
func (s *searcher) path(src, dst int32) []int32 {
	var out []int32
	v := dst
	for {
		e := s.parent[v]
		out = append(out, e)
		v = s.g.edges[e].from
		if v == src {
			break
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}
