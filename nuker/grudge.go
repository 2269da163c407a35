package nuker

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
)

// Grudge is a network partition: for each node name, the names of the nodes
// whose traffic it drops. Drops are inbound only (as in Jepsen), so a
// symmetric partition lists each pair twice; a node missing from the map
// drops nothing.
type Grudge map[string][]string

// Drops reports whether node a drops traffic from node b.
func (g Grudge) Drops(a, b string) bool { return slices.Contains(g[a], b) }

// Nodes returns the sorted names of every node the grudge involves, as the
// dropping or the dropped side.
func (g Grudge) Nodes() []string {
	set := map[string]bool{}
	for a, bs := range g {
		if len(bs) > 0 {
			set[a] = true
		}
		for _, b := range bs {
			set[b] = true
		}
	}
	return sortedKeys(set)
}

// Empty reports whether the grudge drops nothing.
func (g Grudge) Empty() bool {
	for _, bs := range g {
		if len(bs) > 0 {
			return false
		}
	}
	return true
}

// Complete returns the grudge that cuts the nodes into the given components:
// every node drops every node outside its own component.
func Complete(components ...[]string) Grudge {
	g := Grudge{}
	for i, c := range components {
		for _, a := range c {
			for j, other := range components {
				if i != j {
					g[a] = append(g[a], other...)
				}
			}
		}
	}
	return g.normalize()
}

// normalize sorts and deduplicates every list, drops self-grudges and empty
// entries, so equal partitions compare equal and record identically.
func (g Grudge) normalize() Grudge {
	out := Grudge{}
	for a, bs := range g {
		var keep []string
		for _, b := range bs {
			if b != a {
				keep = append(keep, b)
			}
		}
		sort.Strings(keep)
		keep = slices.Compact(keep)
		if len(keep) > 0 {
			out[a] = keep
		}
	}
	return out
}

// Partition kinds: the grudge generators the nuker chooses from.
const (
	// PartitionHalves cuts the cluster into a minority and a majority.
	PartitionHalves = "halves"
	// PartitionOne isolates a single node from all others.
	PartitionOne = "one"
	// PartitionMajoritiesRing lets every node see a majority, no two the
	// same one.
	PartitionMajoritiesRing = "majorities-ring"
	// PartitionBridge cuts the cluster in halves joined by one node that
	// sees both.
	PartitionBridge = "bridge"
	// PartitionOneWay makes a minority drop traffic from the majority while
	// the majority still receives from the minority.
	PartitionOneWay = "one-way"
	// PartitionPrimaries cuts the target's current primaries (leaders) off
	// from every other node; who they are is asked when the fault starts.
	PartitionPrimaries = "primaries"
)

// grudgeKind is one partition generator with the smallest cluster where it
// means something.
type grudgeKind struct {
	Description
	minNodes int
	make     func(r *rand.Rand, nodes []string) Grudge
}

// grudgeKinds lists the generators in a fixed order: the order is part of
// the seeded schedule.
func grudgeKinds() []grudgeKind {
	return []grudgeKind{
		{Description{PartitionHalves, "random minority and majority halves, each dropping the other"}, 2, Halves},
		{Description{PartitionOne, "one random node isolated from all others"}, 2, IsolateOne},
		{Description{PartitionMajoritiesRing, "every node sees a majority, no two nodes the same majority"}, 3, MajoritiesRing},
		{Description{PartitionBridge, "two halves joined by one bridge node that sees both"}, 3, Bridge},
		{Description{PartitionOneWay, "a minority drops traffic from the majority, not the reverse"}, 2, OneWay},
		{Description{PartitionPrimaries, "the current primaries (leaders) cut off from every other node; only on targets that name them (not leaderless ones)"}, 2, nil},
	}
}

// DefaultPartitions are the partition kinds used when Config.Partitions is
// empty; primaries only where the target can name them. One-way is left out: TCP turns its one-sided drop into a full cut,
// so it only differs from halves for datagram traffic.
func DefaultPartitions() []string {
	return []string{PartitionHalves, PartitionOne, PartitionMajoritiesRing, PartitionBridge, PartitionPrimaries}
}

// KnownPartitions lists the partition kinds with one-line descriptions.
func KnownPartitions() []Description {
	var out []Description
	for _, k := range grudgeKinds() {
		out = append(out, k.Description)
	}
	return out
}

// MakeGrudge draws a grudge of the named kind over nodes from r.
func MakeGrudge(kind string, r *rand.Rand, nodes []string) (Grudge, error) {
	for _, k := range grudgeKinds() {
		if k.Name != kind {
			continue
		}
		if len(nodes) < k.minNodes {
			return nil, fmt.Errorf("partition %q needs at least %d nodes, have %d", kind, k.minNodes, len(nodes))
		}
		if k.make == nil {
			return nil, fmt.Errorf("partition %q depends on the target's state and is drawn when the fault starts", kind)
		}
		return k.make(r, nodes), nil
	}
	return nil, fmt.Errorf("unknown partition %q (known: %s)", kind, names(KnownPartitions()))
}

// shuffled returns a shuffled copy of nodes.
func shuffled(r *rand.Rand, nodes []string) []string {
	s := slices.Clone(nodes)
	r.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	return s
}

// bisect splits shuffled nodes into a minority (the first floor(n/2)) and a
// majority, as Jepsen's bisect does.
func bisect(r *rand.Rand, nodes []string) (minority, majority []string) {
	s := shuffled(r, nodes)
	return s[:len(s)/2], s[len(s)/2:]
}

// Halves cuts nodes into a random minority and majority that drop each
// other's traffic. With fewer than two nodes it returns an empty grudge.
func Halves(r *rand.Rand, nodes []string) Grudge {
	if len(nodes) < 2 {
		return Grudge{}
	}
	minority, majority := bisect(r, nodes)
	return Complete(minority, majority)
}

// IsolateOne cuts one random node off from all others.
func IsolateOne(r *rand.Rand, nodes []string) Grudge {
	if len(nodes) < 2 {
		return Grudge{}
	}
	s := shuffled(r, nodes)
	return Complete(s[:1], s[1:])
}

// MajoritiesRing arranges the nodes in a random ring where every node sees
// (drops nothing from) a majority of the cluster, itself included, and no two
// nodes see the same majority: Jepsen's majorities-ring. Unlike Jepsen's,
// the relation is kept symmetric (a drops b exactly when b drops a): a
// one-sided inbound drop already breaks TCP both ways, so an asymmetric ring
// would leave some nodes talking to less than a majority. Each node sees its
// nearest ring neighbours on both sides, plus the opposite node for even
// sizes; for odd sizes whose bare majority would need an odd number of
// neighbours it sees one more than a majority. Three nodes form a line
// (a-b-c, each end seeing only the middle), the only symmetric layout with
// distinct majorities. With fewer than three nodes it returns an empty grudge.
func MajoritiesRing(r *rand.Rand, nodes []string) Grudge {
	n := len(nodes)
	if n < 3 {
		return Grudge{}
	}
	ring := shuffled(r, nodes)
	if n == 3 {
		return Grudge{ring[0]: {ring[2]}, ring[2]: {ring[0]}}.normalize()
	}
	others := majority(n) - 1 // neighbours each node must see
	k := others / 2           // ring distance seen on both sides
	opposite := false         // also see the node at distance n/2
	if others%2 == 1 {
		if n%2 == 0 {
			opposite = true
		} else {
			k++
		}
	}
	g := Grudge{}
	for i, a := range ring {
		for j, b := range ring {
			d := (j - i + n) % n
			if d == 0 {
				continue
			}
			if min(d, n-d) > k && !(opposite && 2*d == n) {
				g[a] = append(g[a], b)
			}
		}
	}
	return g.normalize()
}

// Bridge cuts the nodes into random halves that drop each other, except one
// node of the majority half, the bridge, which sees and is seen by everyone.
// It needs at least three nodes; with fewer it returns an empty grudge.
func Bridge(r *rand.Rand, nodes []string) Grudge {
	if len(nodes) < 3 {
		return Grudge{}
	}
	minority, majority := bisect(r, nodes)
	bridge := majority[0]
	g := Complete(minority, majority)
	delete(g, bridge)
	for a, bs := range g {
		g[a] = slices.DeleteFunc(bs, func(b string) bool { return b == bridge })
	}
	return g.normalize()
}

// OneWay picks a random minority that drops all traffic from the rest while
// the rest still accept the minority's traffic.
func OneWay(r *rand.Rand, nodes []string) Grudge {
	if len(nodes) < 2 {
		return Grudge{}
	}
	minority, majority := bisect(r, nodes)
	g := Grudge{}
	for _, a := range minority {
		g[a] = slices.Clone(majority)
	}
	return g.normalize()
}

// majority is the smallest majority of n nodes.
func majority(n int) int { return n/2 + 1 }

func sortedKeys(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
