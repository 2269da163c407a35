package harness

import (
	"context"
	"slices"

	"github.com/faultline/faultline/harness/docker"
	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/nuker"
)

// checkClockInjector finds the clock injector before anything is stored
// or started when the clock fault is asked for: without one every clock
// injection would fail, so the run fails at once instead, with the
// injector's one-line reason.
func checkClockInjector(ctx context.Context, spec Spec, progress node.Progress) error {
	if !slices.Contains(spec.Nemesis, nuker.FaultClock) {
		return nil
	}
	_, err := docker.ClockInjector(ctx, progress)
	return err
}
