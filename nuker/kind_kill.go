package nuker

import (
	"context"
	"errors"
	"math/rand/v2"

	"github.com/faultline/faultline/harness/node"
)

// killKind SIGKILLs the target's process on some nodes and restarts it at
// the stop. It also hits all nodes (recovery from a full crash).
type killKind struct{}

func (killKind) Name() string { return FaultKill }

func (killKind) Summary() string {
	return "SIGKILL the target process on one node, a minority, a majority, all or the primaries, then restart it"
}

func (killKind) Variants() []string                 { return processVariants(true) }
func (killKind) Needs() node.Needs                  { return needsNone() }
func (killKind) prepare(k *Nuker, cfg Config) error { return prepareProcess(FaultKill, cfg) }

func (killKind) draw(k *Nuker, r *rand.Rand, variant string) Step {
	s := Step{Fault: FaultKill}
	drawTargets(k, r, &s, variant, true)
	return s
}

// resolve names the primaries when the step is pinned to them.
func (killKind) resolve(ctx context.Context, k *Nuker, s *Step) error {
	return resolveTargets(ctx, k, s)
}

func (killKind) start(ctx context.Context, k *Nuker, s *Step) (any, []string, error) {
	done, err := k.onNodes(ctx, s.Nodes, k.target.Kill)
	return done, missing(s.Nodes, done), err
}

func (killKind) stop(ctx context.Context, k *Nuker, s *Step) (any, error) {
	started, err := k.onNodes(ctx, s.Nodes, k.target.Start)
	// A restarted process has a fresh vDSO: skew it again.
	return started, errors.Join(err, k.reapplyClocks(ctx, started))
}

func (killKind) describe(s *Step) map[string]any         { return describeTargets(s) }
func (killKind) about(s *Step) any                       { return nonNil(s.Nodes) }
func (killKind) restore(s *Step, opNodes []string) error { return restoreTargets(s, opNodes) }
