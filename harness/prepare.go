package harness

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/faultline/faultline/workloads"
)

// prepareLimit bounds how long a workload's set-up may keep failing.
const prepareLimit = 60 * time.Second

// prepare runs a workload's one-time set-up (the bank's accounts) with c,
// retrying with backoff until it succeeds, limit passes or ctx ends. A
// freshly healthy cluster may still refuse writes for a moment (an
// election), hence the retries. Nothing is recorded in the history: the
// set-up is not part of what the checkers judge.
func prepare(ctx context.Context, p workloads.Preparer, c workloads.Client, limit time.Duration, log *slog.Logger) error {
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		actx, acancel := context.WithTimeout(ctx, 10*time.Second)
		err := p.Prepare(actx, c)
		acancel()
		if err == nil {
			log.Info("workload prepared", "attempts", attempt, "took", time.Since(t0).Round(time.Millisecond))
			return nil
		}
		log.Warn("workload set-up failed; retrying", "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("workload set-up failed after %d attempts in %s: %w", attempt, time.Since(t0).Round(time.Millisecond), err)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}
