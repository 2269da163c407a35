package nuker

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"

	"github.com/faultline/faultline/harness/node"
)

// clockKind skews the wall clock the target's processes see on some nodes
// (bump, strobe, skew, reset; see ClockKinds and clockfault.go); the
// host's clock never moves. Its variants are the clock kinds. Around each
// step it records the offset every node's process sees.
type clockKind struct{}

func (clockKind) Name() string { return FaultClock }

func (clockKind) Summary() string {
	return "skew the wall clock the target process sees (not the host's) on one node, a minority, a majority or all: bump, strobe, skew or reset"
}

func (clockKind) Variants() []string { return ClockKinds() }
func (clockKind) Needs() node.Needs  { return node.Needs{Clock: true} }

func (clockKind) prepare(k *Nuker, _ Config) error { return k.checkClockNodes() }

func (clockKind) draw(k *Nuker, r *rand.Rand, variant string) Step { return k.drawClock(r, variant) }

func (clockKind) start(ctx context.Context, k *Nuker, s *Step) (any, []string, error) {
	return k.startClock(ctx, s)
}

func (clockKind) stop(ctx context.Context, k *Nuker, s *Step) (any, error) {
	return k.stopClock(ctx, s)
}

func (clockKind) describe(s *Step) map[string]any {
	return map[string]any{"targets": s.Targets, "nodes": nonNil(s.Nodes), "clock": s.Clock}
}

func (clockKind) about(s *Step) any { return nonNil(s.Nodes) }

func (clockKind) restore(s *Step, opNodes []string) error {
	if s.Clock == nil {
		return errors.New("clock fault without its plan")
	}
	if len(s.Nodes) == 0 && len(opNodes) > 0 {
		s.Nodes = slices.Clone(opNodes)
	}
	return nil
}

func (clockKind) observe(ctx context.Context, k *Nuker) { k.recordClockOffsets(ctx) }

func (clockKind) prepareRun(ctx context.Context, k *Nuker) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.recordClockOffsets(ctx)
}

// finalHeal resets the clocks: bumps outlive their step.
func (clockKind) finalHeal(ctx context.Context, k *Nuker) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.resetClocks(ctx)
}
