package harness

import (
	"context"
	"testing"
	"time"
)

// TestCheckAfterInterruptIsBounded: once a run is interrupted, the check of
// its partial history ends within InterruptedCheckLimit, not the spec's
// check_timeout (5 m by default); a run that was not interrupted keeps the
// whole budget.
func TestCheckAfterInterruptIsBounded(t *testing.T) {
	live, stopLive := context.WithCancel(context.Background())
	defer stopLive()
	cctx, cancel := checkContext(live)
	defer cancel()
	if _, ok := cctx.Deadline(); ok || cctx.Err() != nil {
		t.Errorf("live run: the check has a deadline or is done (%v)", cctx.Err())
	}

	gone, stop := context.WithCancel(context.Background())
	stop()
	start := time.Now()
	cctx, cancel = checkContext(gone)
	defer cancel()
	if cctx.Err() != nil {
		t.Fatalf("interrupted run: the check's context is done at once: %v", cctx.Err())
	}
	dl, ok := cctx.Deadline()
	if !ok || dl.Sub(start) > InterruptedCheckLimit+time.Second {
		t.Errorf("interrupted run: deadline %v from now (set %v), want at most %v", dl.Sub(start), ok, InterruptedCheckLimit)
	}
}
