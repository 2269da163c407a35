package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/harness/docker"
	"github.com/faultline/faultline/harness/docker/dockerenv"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/targets/catalog"
)

// TestMain fails the package when its runs left containers or networks
// behind. Run ids end in the controller's pid, so objects of tests running
// in other packages at the same time are not mistaken for ours.
func TestMain(m *testing.M) {
	code := m.Run()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if cli, err := docker.Connect(ctx); err == nil {
		suffix := fmt.Sprintf("-%d", os.Getpid())
		left, err := docker.List(ctx, cli, "")
		for _, l := range left {
			if err != nil || !strings.HasSuffix(l.RunID, suffix) {
				continue
			}
			fmt.Fprintf(os.Stderr, "FAIL: tests left %s %s behind\n", l.Kind, l.Name)
			_ = docker.Clean(ctx, cli, l.RunID)
			code = 1
		}
		cli.Close()
	}
	os.Exit(code)
}

// e2eSpec is a short etcd run for the test suite.
func e2eSpec(t *testing.T, name string) Spec {
	s := DefaultSpec()
	s.Test = name
	s.Store = t.TempDir()
	s.TimeLimit = Duration(30 * time.Second)
	s.NemesisInterval = Duration(5 * time.Second)
	s.RecoveryWait = Duration(3 * time.Second)
	s.OpTimeout = Duration(time.Second)
	s.Seed = 7
	return s
}

func progressTo(t *testing.T) func(string, ...any) {
	return func(f string, a ...any) { t.Logf(f, a...) }
}

// testOptions runs with the shipped targets and progress to t's log.
func testOptions(t *testing.T) Options {
	return Options{Progress: progressTo(t), Targets: catalog.Default()}
}

// TestEtcdUnderFaultsIsLinearizable: etcd with linearizable reads under
// partitions, kills and pauses must come out valid, and the faults must
// really have happened.
func TestEtcdUnderFaultsIsLinearizable(t *testing.T) {
	dockerenv.NeedDocker(t)
	if testenv.Short() {
		t.Skip("long Docker run skipped with -short")
	}
	spec := e2eSpec(t, "etcd-valid")
	out, err := Run(context.Background(), spec, testOptions(t))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	res := out.Results
	if res.Verdict != models.Valid {
		t.Fatalf("verdict %s (%s), want valid; report %s", res.Verdict, res.Reason, out.Dir)
	}
	ops, err := history.ReadFile(filepath.Join(out.Dir, HistoryFile))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, w := range history.FaultWindows(ops) {
		kinds[w.Kind] = true
		if w.Open {
			t.Errorf("fault %s starting at op %d was never healed", w.Kind, w.StartOp)
		}
	}
	if len(kinds) < 2 {
		t.Errorf("fault kinds injected: %v; want at least two of partition, kill, pause in 30 s", kinds)
	}
	if res.Stats.Ops < 100 {
		t.Errorf("only %d client ops", res.Stats.Ops)
	}
	for _, f := range []string{SpecFile, HistoryFile, ResultsFile, ReportFile, "nodes/n1/etcd.log"} {
		if _, err := os.Stat(filepath.Join(out.Dir, f)); err != nil {
			t.Errorf("run dir lacks %s: %v", f, err)
		}
	}
	checkStoredReport(t, out.Dir, "valid")
}

// TestEtcdSerializableReadsAreStale: with read=serializable a node cut off
// from the majority keeps serving its old state, so under partitions the
// checker must find a nonlinearizable (stale) read.
func TestEtcdSerializableReadsAreStale(t *testing.T) {
	dockerenv.NeedDocker(t)
	if testenv.Short() {
		t.Skip("long Docker run skipped with -short")
	}
	spec := e2eSpec(t, "etcd-serializable")
	spec.TargetOpts = map[string]string{"read": "serializable"}
	spec.Nemesis = []string{"partition"}
	out, err := Run(context.Background(), spec, testOptions(t))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if out.Results.Verdict != models.Invalid {
		t.Fatalf("verdict %s (%s), want invalid: serializable reads under partition should be stale; report %s",
			out.Results.Verdict, out.Results.Reason, out.Dir)
	}
	var found bool
	for _, r := range out.Results.Results {
		for _, a := range r.Anomalies {
			found = true
			t.Logf("anomaly: %s: %s", a.Kind, a.Explanation)
		}
	}
	if !found {
		t.Error("invalid verdict without anomalies")
	}
	checkStoredReport(t, out.Dir, "invalid")
}

// TestInterruptHealsAndKeepsHistory: cancelling a run (Ctrl-C) heals the
// faults, removes containers and network, keeps the history, and the
// partial run can be checked again.
func TestInterruptHealsAndKeepsHistory(t *testing.T) {
	cli := dockerenv.NeedDocker(t)
	if testenv.Short() {
		t.Skip("long Docker run skipped with -short")
	}
	spec := e2eSpec(t, "etcd-interrupt")
	spec.NemesisInterval = Duration(2 * time.Second)
	spec.TimeLimit = Duration(5 * time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		// Cancel once the run phase is well under way, inside a fault.
		deadline := time.Now().Add(3 * time.Minute)
		for time.Now().Before(deadline) {
			time.Sleep(500 * time.Millisecond)
			ops, err := history.ReadFile(filepath.Join(spec.Store, "latest", HistoryFile))
			if err != nil {
				continue
			}
			if w := history.FaultWindows(ops); len(w) >= 2 && w[len(w)-1].Open {
				cancel()
				return
			}
		}
		cancel()
	}()
	out, err := Run(ctx, spec, testOptions(t))
	if err == nil || !errors.Is(err, ErrHarness) {
		t.Fatalf("interrupted run returned %v, want ErrHarness", err)
	}
	if !out.Results.Run.Interrupted {
		t.Error("results do not say interrupted")
	}
	if out.Results.Verdict == models.Valid {
		t.Error("an interrupted run must not be reported valid")
	}
	left, err := docker.List(context.Background(), cli, out.Results.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("left behind after interrupt: %v", left)
	}
	ops, err := history.ReadFile(filepath.Join(out.Dir, HistoryFile))
	if err != nil {
		t.Fatal(err)
	}
	ws := history.FaultWindows(ops)
	if len(ws) == 0 {
		t.Fatal("no faults recorded before the interrupt")
	}
	for _, w := range ws {
		if w.Open {
			t.Errorf("fault %s (op %d) not healed in the history", w.Kind, w.StartOp)
		}
	}
	res, err := Check(context.Background(), out.Dir, nil, time.Minute, nil)
	if err != nil {
		t.Fatalf("check of the partial run: %v", err)
	}
	if !slices.Contains([]models.Verdict{models.Valid, models.Unknown}, res.Verdict) {
		t.Errorf("partial run re-checked as %s (%s)", res.Verdict, res.Reason)
	}
	if !strings.Contains(res.Reason, "interrupted") {
		t.Errorf("re-check reason %q does not mention the interruption", res.Reason)
	}
	checkStoredReport(t, out.Dir, string(res.Verdict))
}
