package harness

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/docker/docker/client"

	"github.com/faultline/faultline/harness/docker"
	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/nuker"
)

// preflight checks, before any node starts, that the mechanism of every
// requested fault works here, so a run never spends its time on faults
// that cannot happen: partition needs iptables in a container of the
// image with NET_ADMIN, clock the injector and ptrace. Kill, pause and
// failover use only the target's own process control (signals, its
// commands), which the run's setup exercises anyway: nothing to check.
// It returns one line naming the fault and what is missing.
func preflight(ctx context.Context, cli *client.Client, runID, image string, faults []string, log *slog.Logger, progress node.Progress) error {
	part, clock := slices.Contains(faults, nuker.FaultPartition), slices.Contains(faults, nuker.FaultClock)
	if !part && !clock {
		return nil
	}
	t0 := time.Now()
	p, err := docker.StartPreflight(ctx, cli, runID, image, part)
	if err != nil {
		return err
	}
	defer p.Close()
	if part {
		if err := p.CheckIptables(ctx); err != nil {
			return fmt.Errorf("fault %s cannot work here: %w", nuker.FaultPartition, err)
		}
	}
	if clock {
		if err := p.CheckClock(ctx); err != nil {
			return fmt.Errorf("fault %s cannot work here: %w", nuker.FaultClock, err)
		}
	}
	took := time.Since(t0).Round(time.Millisecond)
	log.Info("preflight: fault mechanisms work", "faults", faults, "took", took)
	progress.Printf("preflight: %v work here (%s)", faults, took)
	return nil
}
