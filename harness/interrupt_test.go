package harness

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
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

// TestInterruptedRecheckKeepsVerdict: a signal during `faultline check
// DIR` (here while porcupine works on a key it needs very long for) stops
// the check, which is written beside the run's record marked interrupted,
// and leaves results.json as it was, instead of replacing an INVALID with
// "unknown: interrupted".
func TestInterruptedRecheckKeepsVerdict(t *testing.T) {
	dir := t.TempDir()
	spec := DefaultSpec()
	spec.Test = "recheck"
	if err := writeJSON(filepath.Join(dir, SpecFile), spec); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, HistoryFile))
	if err != nil {
		t.Fatal(err)
	}
	w, err := history.NewWriter(f)
	if err != nil {
		t.Fatal(err)
	}
	const n = 40 // writes of unknown outcome: ~2^40 orders to try
	for i := range n {
		w.Append(history.Op{Process: history.Process(100 + i), Type: history.Invoke, F: "write", Key: "k", Value: int64(i + 1)})
	}
	for i := range n + 1 {
		w.Append(history.Op{Process: 99, Type: history.Invoke, F: "read", Key: "k"})
		w.Append(history.Op{Process: 99, Type: history.OK, F: "read", Key: "k", Value: int64(i%n + 1)})
	}
	if err := errors.Join(w.End(history.EndRecord{}), f.Close()); err != nil {
		t.Fatal(err)
	}
	stored := []byte(`{"verdict":"invalid","reason":"linearizable: invalid"}` + "\n")
	if err := os.WriteFile(filepath.Join(dir, ResultsFile), stored, 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	res, err := Check(ctx, dir, []string{"cas-register"}, time.Hour, nil)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if res.Check == nil || !res.Check.Interrupted || !strings.HasSuffix(res.Check.Dir, "-interrupted") || res.Verdict != models.Unknown {
		t.Errorf("interrupted re-check: verdict %s, check %+v; want unknown, marked interrupted", res.Verdict, res.Check)
	}
	if took > 20*time.Second {
		t.Errorf("check ran %v after its cancellation", took)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, ResultsFile)); string(got) != string(stored) {
		t.Errorf("results.json rewritten:\n%s", got)
	}
	if _, err := os.Stat(filepath.Join(dir, ReportFile)); err == nil {
		t.Error("report.html written by an interrupted check")
	}
}
