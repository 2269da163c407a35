package harness

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/catalog"
	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/reports"
	"github.com/faultline/faultline/workloads"
)

// checkRun judges ops with the workload's models, then writes results.json
// and report.html into dir.
func checkRun(ctx context.Context, dir string, spec Spec, ops []history.Op, info RunInfo, log *slog.Logger, progress node.Progress) (Results, error) {
	var names []string
	wl, err := workloads.Default().Lookup(spec.Workload)
	if err == nil {
		names = wl.Models()
	}
	t0 := time.Now()
	progress.Printf("checking %d ops with %v", len(ops), names)
	hc := &HistoryCheck{Format: history.FormatFaultline, Complete: true, runDir: true}
	results, err := judge(ctx, hc, names, wl, ops, dir, spec.CheckTimeout.D())
	if err != nil {
		return Results{}, err
	}
	res := assemble(spec, ops, results, info)
	hc.settle(&res)
	log.Info("check done", "verdict", res.Verdict, "took", time.Since(t0).Round(time.Millisecond))
	progress.Printf("check done in %s: %s", time.Since(t0).Round(time.Millisecond), res.Verdict)
	return res, writeOutputs(dir, spec, ops, res)
}

// runCheckers runs each named model's checker on ops, each bounded by
// timeout. A workload (nil for none) that is a CheckerMaker configures its
// own checkers.
func runCheckers(ctx context.Context, names []string, wl workloads.Workload, ops []history.Op, dir string, timeout time.Duration) ([]models.Result, error) {
	reg := catalog.Default()
	var out []models.Result
	for _, name := range names {
		e, err := reg.Lookup(name)
		if err != nil {
			return nil, badInput(err)
		}
		c := e.New()
		if cm, ok := wl.(workloads.CheckerMaker); ok {
			if own := cm.Checker(name); own != nil {
				c = own
			}
		}
		cctx, cancel := context.WithTimeout(ctx, timeout)
		out = append(out, c.Check(cctx, ops, models.Options{Dir: dir}))
		cancel()
	}
	return out, nil
}

// assemble combines checker results and run information into Results.
// A run that did not complete cannot be valid: its verdict is at best
// unknown, with the reason.
func assemble(spec Spec, ops []history.Op, results []models.Result, info RunInfo) Results {
	var vs []models.Verdict
	var reasons []string
	for _, r := range results {
		vs = append(vs, r.Verdict)
		if r.Verdict != models.Valid {
			msg := fmt.Sprintf("%s: %s", r.Checker, r.Verdict)
			if r.Reason != "" {
				msg += " (" + r.Reason + ")"
			}
			reasons = append(reasons, msg)
		}
	}
	verdict := models.Combine(vs...)
	if len(results) == 0 {
		reasons = append(reasons, "no checker ran")
	}
	stats := reports.Stats(ops)
	avail := reports.AvailabilityOf(ops)
	stats.Availability = &avail
	// The spec was validated when the run started; a bad SLO in a stored
	// spec.json is left unchecked rather than failing the check.
	var sloResults []reports.SLOResult
	if slos, err := reports.ParseSLOs(spec.SLO); err == nil {
		sloResults = reports.EvaluateSLOs(slos, ops)
	}
	if verdict == models.Valid && stats.Ops == 0 {
		verdict = models.Unknown
		reasons = append(reasons, "no client operation completed")
	}
	if verdict == models.Valid && (info.Interrupted || info.HarnessError != "") {
		verdict = models.Unknown
		if info.Interrupted {
			reasons = append(reasons, "the run was interrupted; the partial history is valid so far")
		} else {
			reasons = append(reasons, "the run did not complete: "+info.HarnessError)
		}
	}
	faults, why := faultTallies(spec, ops, !info.Interrupted && info.HarnessError == "")
	if verdict != models.Invalid && len(why) > 0 {
		verdict = models.Unknown
		reasons = append(reasons, why...)
	}
	return Results{
		Format: ResultsFormat, Version: ResultsVersion, Test: spec.Test,
		Verdict: verdict, Reason: strings.Join(reasons, "; "),
		Results: results, Stats: stats, CAPProfile: reports.CAP(ops, results),
		SLOs: sloResults, Faults: faults, Run: info,
	}
}

// writeOutputs writes results.json and report.html.
func writeOutputs(dir string, spec Spec, ops []history.Op, res Results) error {
	if err := writeJSON(filepath.Join(dir, ResultsFile), res); err != nil {
		return err
	}
	var artifacts []string
	for _, r := range res.Results {
		artifacts = append(artifacts, r.Artifacts...)
	}
	in := reports.Input{
		Run: reports.Run{
			Test: spec.Test, Target: spec.Target, TargetVersion: res.Run.TargetVersion,
			TargetOpts: res.Run.TargetSettings, Workload: spec.Workload, Faults: spec.Nemesis,
			Nodes: res.Run.Nodes, Concurrency: spec.Concurrency, Seed: spec.Seed,
			Started: res.Run.Started, Duration: res.Run.Duration.D(),
			Interrupted: res.Run.Interrupted, HarnessError: res.Run.HarnessError,
		},
		Ops: ops, Verdict: res.Verdict, Results: res.Results,
		NodeLogs: nodeLogs(dir), Artifacts: artifacts, SLOs: res.SLOs, Faults: res.Faults,
		History: res.History.Lines(),
	}
	if err := reports.Write(filepath.Join(dir, ReportFile), in); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// nodeLogs lists the log files copied under dir/nodes/<node>/, relative to dir.
func nodeLogs(dir string) map[string][]string {
	out := map[string][]string{}
	root := filepath.Join(dir, NodesDir)
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		parts := strings.SplitN(filepath.ToSlash(rel), "/", 3)
		if len(parts) == 3 {
			out[parts[1]] = append(out[parts[1]], filepath.ToSlash(rel))
		}
		return nil
	})
	for _, v := range out {
		sort.Strings(v)
	}
	return out
}

// Check re-checks a stored run directory (no Docker needed): it reads the
// spec and history, runs the workload's checkers (or the given models) and
// rewrites results.json and report.html. Run information from an earlier
// results.json (interruption, harness errors) is kept. A history without
// its end record is an incomplete run: unknown, with the reason (see
// CheckPrefix).
func Check(ctx context.Context, dir string, modelNames []string, timeout time.Duration, progress node.Progress) (Results, error) {
	return check(ctx, dir, modelNames, timeout, progress, false)
}

func check(ctx context.Context, dir string, modelNames []string, timeout time.Duration, progress node.Progress, prefix bool) (Results, error) {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return Results{}, badInput(fmt.Errorf("%s is not a run directory", dir))
	}
	var spec Spec
	if err := readJSON(filepath.Join(dir, SpecFile), &spec); err != nil {
		return Results{}, badInput(fmt.Errorf("read run spec: %w", err))
	}
	ops, hc, err := readRunHistory(ctx, filepath.Join(dir, HistoryFile), prefix)
	if err != nil {
		return Results{}, badInput(err)
	}
	var prev Results
	if err := readJSON(filepath.Join(dir, ResultsFile), &prev); err != nil && !errors.Is(err, os.ErrNotExist) {
		return Results{}, badInput(err)
	}
	wl, wlErr := workloads.Default().Lookup(spec.Workload)
	if len(modelNames) == 0 {
		if wlErr != nil {
			return Results{}, badInput(wlErr)
		}
		modelNames = wl.Models()
	}
	if timeout <= 0 {
		timeout = spec.CheckTimeout.D()
	}
	if timeout <= 0 {
		timeout = DefaultSpec().CheckTimeout.D()
	}
	t0 := time.Now()
	progress.Printf("checking %d ops from %s with %v", len(ops), dir, modelNames)
	results, err := judge(ctx, hc, modelNames, wl, ops, dir, timeout)
	if err != nil {
		return Results{}, err
	}
	if ctx.Err() != nil {
		// Interrupted: the stored verdict stays as it was.
		return Results{}, fmt.Errorf("check of %s interrupted: %w", dir, context.Cause(ctx))
	}
	res := assemble(spec, ops, results, prev.Run)
	hc.settle(&res)
	progress.Printf("check done in %s: %s", time.Since(t0).Round(time.Millisecond), res.Verdict)
	return res, writeOutputs(dir, spec, ops, res)
}

// CheckHistory checks a history file of any supported format (faultline
// JSON lines, Jepsen history.edn, jepsen.util log lines) against the named
// models. When outDir is set, checker artifacts go there.
func CheckHistory(ctx context.Context, path, format string, modelNames []string, timeout time.Duration, outDir string) (Results, error) {
	return CheckHistoryAs(ctx, path, format, "", modelNames, timeout, outDir)
}
