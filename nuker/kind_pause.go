package nuker

import (
	"context"
	"math/rand/v2"

	"github.com/faultline/faultline/harness/node"
)

// pauseKind SIGSTOPs the target's process on some nodes and SIGCONTs it at
// the stop. Pausing all nodes would only stall the clients, so all is
// never drawn (a schedule may still pin it).
type pauseKind struct{}

func (pauseKind) Name() string { return FaultPause }

func (pauseKind) Summary() string {
	return "SIGSTOP the target process on one node, a minority, a majority or the primaries, then SIGCONT it"
}

func (pauseKind) Variants() []string                 { return processVariants(true) }
func (pauseKind) Needs() node.Needs                  { return needsNone() }
func (pauseKind) prepare(k *Nuker, cfg Config) error { return prepareProcess(FaultPause, cfg) }

func (pauseKind) draw(k *Nuker, r *rand.Rand, variant string) Step {
	s := Step{Fault: FaultPause}
	drawTargets(k, r, &s, variant, false)
	return s
}

// resolve names the primaries when the step is pinned to them.
func (pauseKind) resolve(ctx context.Context, k *Nuker, s *Step) error {
	return resolveTargets(ctx, k, s)
}

func (pauseKind) start(ctx context.Context, k *Nuker, s *Step) (any, []string, error) {
	done, err := k.onNodes(ctx, s.Nodes, k.target.Pause)
	return done, missing(s.Nodes, done), err
}

func (pauseKind) stop(ctx context.Context, k *Nuker, s *Step) (any, error) {
	return k.onNodes(ctx, s.Nodes, k.target.Resume)
}

func (pauseKind) describe(s *Step) map[string]any         { return describeTargets(s) }
func (pauseKind) about(s *Step) any                       { return nonNil(s.Nodes) }
func (pauseKind) restore(s *Step, opNodes []string) error { return restoreTargets(s, opNodes) }
