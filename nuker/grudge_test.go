package nuker

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
)

// sees returns, for each node, the sorted nodes it accepts traffic from,
// itself included.
func sees(g Grudge, nodes []string) map[string][]string {
	out := map[string][]string{}
	for _, a := range nodes {
		for _, b := range nodes {
			if !g.Drops(a, b) {
				out[a] = append(out[a], b)
			}
		}
	}
	return out
}

// connected reports whether a and b can hold a TCP conversation: neither
// drops the other.
func connected(g Grudge, a, b string) bool { return !g.Drops(a, b) && !g.Drops(b, a) }

// checkWellFormed: only known nodes, nobody drops itself, lists sorted
// without repeats.
func checkWellFormed(t *testing.T, g Grudge, nodes []string) {
	t.Helper()
	for a, bs := range g {
		if !slices.Contains(nodes, a) {
			t.Errorf("grudge names unknown node %q", a)
		}
		if slices.Contains(bs, a) {
			t.Errorf("node %s grudges itself: %v", a, g)
		}
		if !sort.StringsAreSorted(bs) || len(slices.Compact(slices.Clone(bs))) != len(bs) {
			t.Errorf("node %s list not sorted/unique: %v", a, bs)
		}
		for _, b := range bs {
			if !slices.Contains(nodes, b) {
				t.Errorf("node %s drops unknown node %q", a, b)
			}
		}
	}
}

// components groups nodes that see exactly the same set, for partitions
// that are a clean cut.
func components(g Grudge, nodes []string) [][]string {
	byView := map[string][]string{}
	for a, s := range sees(g, nodes) {
		key := strings.Join(s, ",")
		byView[key] = append(byView[key], a)
	}
	var out [][]string
	for view, members := range byView {
		sort.Strings(members)
		if strings.Join(members, ",") != view {
			return nil // not a clean cut
		}
		out = append(out, members)
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) < len(out[j]) })
	return out
}

func TestGrudgeProperties(t *testing.T) {
	tests := []struct {
		kind  string
		check func(t *testing.T, g Grudge, nodes []string)
	}{
		{PartitionHalves, func(t *testing.T, g Grudge, nodes []string) {
			c := components(g, nodes)
			n := len(nodes)
			if len(c) != 2 || len(c[0]) != n/2 || len(c[1]) != n-n/2 {
				t.Fatalf("want a cut into %d and %d nodes, got %v from %v", n/2, n-n/2, c, g)
			}
			if len(c[1]) < majority(n) && n%2 == 1 {
				t.Errorf("odd cluster: larger half %v is not a majority", c[1])
			}
		}},
		{PartitionOne, func(t *testing.T, g Grudge, nodes []string) {
			c := components(g, nodes)
			if len(c) != 2 || len(c[0]) != 1 || len(c[1]) != len(nodes)-1 {
				t.Fatalf("want one node cut off, got %v from %v", c, g)
			}
		}},
		{PartitionMajoritiesRing, func(t *testing.T, g Grudge, nodes []string) {
			views := map[string]string{}
			for a, s := range sees(g, nodes) {
				// What matters is who a can really talk to.
				var talk []string
				for _, b := range s {
					if connected(g, a, b) {
						talk = append(talk, b)
					}
				}
				if len(talk) < majority(len(nodes)) {
					t.Errorf("%s talks to %v, not a majority of %d", a, talk, len(nodes))
				}
				if len(talk) == len(nodes) && len(nodes) > 3 {
					t.Errorf("%s sees everyone", a)
				}
				key := strings.Join(talk, ",")
				if other, dup := views[key]; dup {
					t.Errorf("%s and %s see the same majority %v", a, other, talk)
				}
				views[key] = a
			}
			if g.Empty() {
				t.Errorf("ring drops nothing")
			}
		}},
		{PartitionBridge, func(t *testing.T, g Grudge, nodes []string) {
			var bridges []string
			for _, a := range nodes {
				if len(g[a]) == 0 && !slices.ContainsFunc(nodes, func(b string) bool { return g.Drops(b, a) }) {
					bridges = append(bridges, a)
				}
			}
			if len(bridges) != 1 {
				t.Fatalf("want one bridge node, got %v in %v", bridges, g)
			}
			bridge := bridges[0]
			rest := slices.DeleteFunc(slices.Clone(nodes), func(s string) bool { return s == bridge })
			// Without the bridge the rest is a clean cut in two halves.
			sub := Grudge{}
			for _, a := range rest {
				sub[a] = g[a]
			}
			c := components(sub, rest)
			if len(c) != 2 {
				t.Fatalf("rest is not two sides: %v in %v", c, g)
			}
			for _, side := range c {
				for _, a := range side {
					if !connected(g, a, bridge) {
						t.Errorf("bridge %s does not see %s", bridge, a)
					}
				}
			}
			// The bridge came from the larger half: the sides are the
			// minority half and the rest of the majority half.
			n := len(nodes)
			sizes := []int{len(c[0]), len(c[1])}
			want := []int{n / 2, n - n/2 - 1}
			slices.Sort(want)
			if !slices.Equal(sizes, want) {
				t.Errorf("sides %v: want sizes %v", c, want)
			}
		}},
		{PartitionOneWay, func(t *testing.T, g Grudge, nodes []string) {
			var droppers, quiet []string
			for _, a := range nodes {
				if len(g[a]) > 0 {
					droppers = append(droppers, a)
				} else {
					quiet = append(quiet, a)
				}
			}
			if len(droppers) != len(nodes)/2 {
				t.Fatalf("want %d nodes dropping, got %v", len(nodes)/2, droppers)
			}
			for _, a := range droppers {
				if !reflect.DeepEqual(g[a], quiet) {
					t.Errorf("%s drops %v, want exactly the others %v", a, g[a], quiet)
				}
			}
		}},
	}
	for _, tt := range tests {
		minNodes := 2
		if tt.kind == PartitionMajoritiesRing || tt.kind == PartitionBridge {
			minNodes = 3
		}
		for n := minNodes; n <= 9; n++ {
			t.Run(fmt.Sprintf("%s/%d", tt.kind, n), func(t *testing.T) {
				nodes := nodeNames(n)
				for seed := range uint64(20) {
					g, err := MakeGrudge(tt.kind, rand.New(rand.NewPCG(seed, 0)), nodes)
					if err != nil {
						t.Fatal(err)
					}
					checkWellFormed(t, g, nodes)
					tt.check(t, g, nodes)
				}
			})
		}
	}
}

func TestGrudgeTooFewNodes(t *testing.T) {
	for _, k := range KnownPartitions() {
		if _, err := MakeGrudge(k.Name, rand.New(rand.NewPCG(1, 0)), []string{"n1"}); err == nil {
			t.Errorf("%s on one node: want an error", k.Name)
		}
	}
	if _, err := MakeGrudge(PartitionBridge, rand.New(rand.NewPCG(1, 0)), nodeNames(2)); err == nil {
		t.Error("bridge on two nodes: want an error")
	}
	if _, err := MakeGrudge("hemisphere", rand.New(rand.NewPCG(1, 0)), nodeNames(5)); err == nil || !strings.Contains(err.Error(), "majorities-ring") {
		t.Errorf("unknown kind: want an error listing the known ones, got %v", err)
	}
}

func TestGrudgeDeterministicBySeed(t *testing.T) {
	nodes := nodeNames(5)
	for _, k := range KnownPartitions() {
		if k.Name == PartitionPrimaries {
			continue // drawn from the target's state, not the seed
		}
		t.Run(k.Name, func(t *testing.T) {
			distinct := map[string]bool{}
			for seed := range uint64(30) {
				a, _ := MakeGrudge(k.Name, rand.New(rand.NewPCG(seed, 0)), nodes)
				b, _ := MakeGrudge(k.Name, rand.New(rand.NewPCG(seed, 0)), nodes)
				if !reflect.DeepEqual(a, b) {
					t.Fatalf("seed %d: %v then %v", seed, a, b)
				}
				distinct[fmt.Sprint(a)] = true
			}
			if len(distinct) < 3 {
				t.Errorf("30 seeds gave only %d distinct grudges", len(distinct))
			}
		})
	}
}

func TestComplete(t *testing.T) {
	g := Complete([]string{"n1"}, []string{"n2", "n3"})
	want := Grudge{"n1": {"n2", "n3"}, "n2": {"n1"}, "n3": {"n1"}}
	if !reflect.DeepEqual(g, want) {
		t.Errorf("got %v, want %v", g, want)
	}
	if got := g.Nodes(); !reflect.DeepEqual(got, []string{"n1", "n2", "n3"}) {
		t.Errorf("Nodes() = %v", got)
	}
	if !(Grudge{"n1": nil}).Empty() || g.Empty() {
		t.Error("Empty() wrong")
	}
}
