package harness

import (
	"context"
	"time"
)

// InterruptedCheckLimit bounds the check of a run stopped by a signal: the
// user (or a CI timeout's single SIGTERM) asked faultline to stop, so the
// partial history gets a quick look, not the spec's whole check_timeout;
// `faultline check DIR` judges it fully later.
const InterruptedCheckLimit = 10 * time.Second

// checkContext returns the context to check a run's history with after the
// run phase: not cancelled by ctx (what was recorded is judged even after
// an error), but bounded by InterruptedCheckLimit once ctx is done.
func checkContext(ctx context.Context) (context.Context, context.CancelFunc) {
	cctx := context.WithoutCancel(ctx)
	if ctx.Err() != nil {
		return context.WithTimeout(cctx, InterruptedCheckLimit)
	}
	return cctx, func() {}
}
