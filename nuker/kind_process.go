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

// processKind is a fault that acts on the target's process on some nodes
// through the Target (kill, pause): which nodes, what it does, how it is
// undone.
type processKind struct {
	name, summary string
	drawAll       bool // all nodes is among the drawn subsets
	act, undo     func(Target) func(context.Context, node.Node) error
	reclock       bool // the undo restarts the process: re-apply clock offsets
	needs         node.Needs
	// actNuker, when set, acts instead of act, with the nuker at hand.
	actNuker func(*Nuker) func(context.Context, node.Node) error
	// can tells whether a target can take the fault (nil: any can), and
	// need names what it lacks otherwise, for the error.
	can  func(t any) bool
	need string
}

func (p processKind) targetCan(t any) bool { return p.can == nil || p.can(t) }

func (p processKind) Name() string       { return p.name }
func (p processKind) Summary() string    { return p.summary }
func (p processKind) Variants() []string { return processVariants() }
func (p processKind) Needs() node.Needs  { return p.needs }

func (p processKind) prepare(_ *Nuker, cfg Config) error {
	if cfg.Target == nil {
		return fmt.Errorf("nuker: fault %s needs a Target", p.name)
	}
	if !p.targetCan(cfg.Target) {
		return fmt.Errorf("nuker: fault %s needs a target with %s", p.name, p.need)
	}
	return nil
}

func (p processKind) draw(k *Nuker, r *rand.Rand, variant string) Step {
	s := Step{Fault: p.name}
	drawTargets(k, r, &s, variant, p.drawAll)
	return s
}

func (p processKind) checkPin(variant string, target Target, _ []string) error {
	if variant == TargetsPrimaries {
		return needPrimaries(target)
	}
	return nil
}

// resolve names the primaries when the step is pinned to them.
func (p processKind) resolve(ctx context.Context, k *Nuker, s *Step) error {
	return resolveTargets(ctx, k, s)
}

func (p processKind) start(ctx context.Context, k *Nuker, s *Step) (any, []string, error) {
	act := p.act
	if p.actNuker != nil {
		act = func(Target) func(context.Context, node.Node) error { return p.actNuker(k) }
	}
	done, err := k.onNodes(ctx, s.Nodes, act(k.target))
	return done, missing(s.Nodes, done), err
}

func (p processKind) stop(ctx context.Context, k *Nuker, s *Step) (any, error) {
	done, err := k.onNodes(ctx, s.Nodes, p.undo(k.target))
	if p.reclock {
		err = errors.Join(err, k.reapplyClocks(ctx, done))
	}
	return done, err
}

func (p processKind) describe(s *Step) map[string]any {
	return map[string]any{"targets": s.Targets, "nodes": nonNil(s.Nodes)}
}

func (p processKind) about(s *Step) any { return nonNil(s.Nodes) }

// restore completes a recorded step: its nodes, from the op when the
// value lacks them.
func (p processKind) restore(s *Step, opNodes []string) error {
	if len(s.Nodes) == 0 && len(opNodes) > 0 {
		s.Nodes = slices.Clone(opNodes)
	}
	if len(s.Nodes) == 0 && s.Targets != TargetsPrimaries {
		return errors.New("no nodes to act on")
	}
	return nil
}

// processVariants are the subsets a kill or pause may be pinned to.
func processVariants() []string {
	return []string{TargetsOne, TargetsMinority, TargetsMajority, TargetsAll, TargetsPrimaries}
}
