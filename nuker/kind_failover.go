package nuker

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"

	"github.com/faultline/faultline/harness/node"
)

// failoverKind replaces the primary on purpose, through the target's own
// mechanism (Failoverer), and lets the deposed primary rejoin at the stop.
// The target picks the nodes, also in a replay.
type failoverKind struct{}

func (failoverKind) Name() string { return FaultFailover }

func (failoverKind) Summary() string {
	return "replace the primary on purpose (the target's own failover), then let the old primary rejoin as a replica"
}

func (failoverKind) Variants() []string { return nil }
func (failoverKind) Needs() node.Needs  { return node.Needs{} }

func (failoverKind) needsTarget() string { return "Failoverer" }

func (failoverKind) targetCan(t any) bool { return implements[Failoverer](t) }

func (f failoverKind) prepare(_ *Nuker, cfg Config) error {
	return needTarget(f, cfg.Target, "fail over on purpose")
}

func (failoverKind) draw(*Nuker, *rand.Rand, string) Step { return Step{Fault: FaultFailover} }

func (failoverKind) start(ctx context.Context, k *Nuker, s *Step) (any, []string, error) {
	nodes, what, err := k.target.(Failoverer).Failover(ctx)
	slices.Sort(nodes)
	s.Nodes = nodes
	return what, nodes, err
}

func (failoverKind) stop(ctx context.Context, k *Nuker, s *Step) (any, error) {
	what, err := k.target.(Failoverer).EndFailover(ctx)
	return what, errors.Join(err, k.reapplyClocks(ctx, s.Nodes))
}

func (failoverKind) describe(*Step) map[string]any { return map[string]any{} }
func (failoverKind) about(s *Step) any             { return nonNil(s.Nodes) }

func (failoverKind) restore(s *Step, _ []string) error {
	s.Nodes = nil // the target picks the nodes again when it fails over
	return nil
}
