package nuker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/faultline/faultline/harness/node"
)

// Node subsets a kill, pause or clock step hits: the step's Targets.
const (
	TargetsOne       = "one"
	TargetsMinority  = "minority"
	TargetsMajority  = "majority"
	TargetsAll       = "all"
	TargetsPrimaries = "primaries" // asked of the target when the step starts
)

// subset is a named way to choose how many nodes a step hits.
type subset struct {
	name string
	size int
}

// subsetChoices lists the node subsets drawn from on n nodes; withAll adds
// every node. Choices of equal size are kept once, under the first name.
func subsetChoices(n int, withAll bool) []subset {
	all := []subset{{TargetsOne, 1}, {TargetsMinority, (n - 1) / 2}, {TargetsMajority, majority(n)}}
	if withAll {
		all = append(all, subset{TargetsAll, n})
	}
	var out []subset
	seen := map[int]bool{}
	for _, c := range all {
		if c.size < 1 || c.size > n || seen[c.size] {
			continue
		}
		seen[c.size] = true
		out = append(out, c)
	}
	return out
}

// subsetSize is the size of the named subset on n nodes.
func subsetSize(name string, n int) int {
	switch name {
	case TargetsOne:
		return 1
	case TargetsMinority:
		return max(1, (n-1)/2)
	case TargetsMajority:
		return majority(n)
	}
	return n
}

// drawTargets draws the nodes of a step: the pinned subset when variant is
// set, else one of choices. Primaries are left to the start.
func drawTargets(k *Nuker, r *rand.Rand, s *Step, variant string, withAll bool) {
	if variant == TargetsPrimaries {
		s.Targets = variant
		return
	}
	size := 0
	if variant != "" {
		s.Targets, size = variant, subsetSize(variant, len(k.names))
	} else {
		choices := subsetChoices(len(k.names), withAll)
		c := choices[r.IntN(len(choices))]
		s.Targets, size = c.name, c.size
	}
	s.Nodes = shuffled(r, k.names)[:size]
	sort.Strings(s.Nodes)
}

// resolveTargets names the nodes of a primaries step when it starts.
func resolveTargets(ctx context.Context, k *Nuker, s *Step) error {
	if s.Targets != TargetsPrimaries || len(s.Nodes) > 0 {
		return nil
	}
	prim, err := k.primaries(ctx)
	if err != nil {
		return err
	}
	for _, n := range prim {
		if _, ok := k.byName[n]; ok {
			s.Nodes = append(s.Nodes, n)
		}
	}
	if len(s.Nodes) == 0 {
		return fmt.Errorf("no primary to act on (the target names %v)", prim)
	}
	slices.Sort(s.Nodes)
	return nil
}

// processVariants are the subsets a kill or pause may be pinned to.
func processVariants(withAll bool) []string {
	v := []string{TargetsOne, TargetsMinority, TargetsMajority}
	if withAll {
		v = append(v, TargetsAll)
	}
	return append(v, TargetsPrimaries)
}

// prepareProcess checks what a kill or pause needs: a Target.
func prepareProcess(name string, cfg Config) error {
	if cfg.Target == nil {
		return fmt.Errorf("nuker: fault %s needs a Target", name)
	}
	return nil
}

// describeTargets is a kill's or pause's start invocation value.
func describeTargets(s *Step) map[string]any {
	return map[string]any{"targets": s.Targets, "nodes": nonNil(s.Nodes)}
}

// restoreTargets completes a recorded kill or pause: its nodes, from the
// op when the value lacks them.
func restoreTargets(s *Step, opNodes []string) error {
	if len(s.Nodes) == 0 && len(opNodes) > 0 {
		s.Nodes = slices.Clone(opNodes)
	}
	if len(s.Nodes) == 0 && s.Targets != TargetsPrimaries {
		return errors.New("no nodes to act on")
	}
	return nil
}

// needsNone is the Needs of faults that act through the Target only.
func needsNone() node.Needs { return node.Needs{} }
