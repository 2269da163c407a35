package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/internal/rundir"
	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/catalog"
	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/models/netstats"
	"github.com/faultline/faultline/reports"
	"github.com/faultline/faultline/workloads"
)

// checkRun judges ops with the workload's models, then writes the run's
// record (results.json, report.html and the views) into dir.
func checkRun(ctx context.Context, dir string, spec Spec, wl workloads.Workload, ops []history.Op, info RunInfo, log *slog.Logger, progress node.Progress) (Results, error) {
	names := wl.Models()
	rd, err := rundir.Open(dir)
	if err != nil {
		return Results{}, err
	}
	defer rd.Close()
	st, err := rd.NewStage("")
	if err != nil {
		return Results{}, err
	}
	defer st.Abort()
	t0 := time.Now()
	progress.Printf("checking %d history entries with %v", len(ops), names)
	hc := &HistoryCheck{Format: history.FormatFaultline, Complete: true, runDir: true}
	results, err := judge(ctx, hc, names, wl, ops, st.Create, spec.CheckTimeout.D())
	if err != nil {
		return Results{}, err
	}
	res := assemble(spec, ops, results, info)
	res.Network = networkOf(rd, ops, log)
	hc.settle(&res)
	log.Info("check done", "verdict", res.Verdict, "took", time.Since(t0).Round(time.Millisecond))
	progress.Printf("check done in %s: %s", time.Since(t0).Round(time.Millisecond), res.Verdict)
	return res, writeOutputs(rd, st, spec, ops, res, reports.WriteTo)
}

// runCheckers runs each named model's checker on ops, each bounded by
// timeout. A workload (nil for none) that is a CheckerMaker configures its
// own checkers.
func runCheckers(ctx context.Context, names []string, wl workloads.Workload, ops []history.Op, create func(string) (io.WriteCloser, error), timeout time.Duration) ([]models.Result, error) {
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
		out = append(out, c.Check(cctx, ops, models.Options{Create: create}))
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
	stats, capProfile := reports.StatsAndCAP(ops, results)
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
		Results: results, Stats: stats, CAPProfile: capProfile,
		SLOs: sloResults, Faults: faults, Run: info,
	}
}

// reportWriter renders the report into a stage (reports.WriteTo; tests
// inject failures).
type reportWriter func(src *rundir.Dir, out reports.Outputs, name, up string, in reports.Input) error

// writeOutputs stages report.html, its views and results.json next to the
// checkers' artifacts in st, then commits them with results.json, the
// record of truth, renamed into place last: a failure anywhere leaves the
// old record, and a reader never sees a new results.json before its report.
func writeOutputs(rd *rundir.Dir, st *rundir.Stage, spec Spec, ops []history.Op, res Results, report reportWriter) error {
	var artifacts []string
	for _, r := range res.Results {
		artifacts = append(artifacts, r.Artifacts...)
	}
	up := ""
	if st.Base() != "" {
		up = strings.Repeat("../", strings.Count(st.Base(), "/")+1)
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
		NodeLogs: nodeLogs(rd), Artifacts: artifacts, SLOs: res.SLOs, Faults: res.Faults,
		History: res.History.Lines(), Network: res.Network,
		Resources: resourcesOf(rd, slog.Default()),
	}
	if err := report(rd, st, ReportFile, up, in); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := st.WriteFile(ResultsFile, append(b, '\n')); err != nil {
		return err
	}
	if err := st.Commit(ReportFile, ResultsFile); err != nil {
		return fmt.Errorf("write run directory %s: %w", rd.Path(), err)
	}
	return nil
}

// networkOf summarizes the run directory's network.json, or returns nil
// when the target counted no messages; a damaged file is logged and left
// out, as it costs only the statistics.
func networkOf(rd *rundir.Dir, ops []history.Op, log *slog.Logger) *netstats.Summary {
	b, err := rd.ReadFile(NetworkFile, maxJSONBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var f netstats.File
	if err == nil {
		f, err = netstats.Read(bytes.NewReader(b))
	}
	if err != nil {
		log.Warn("network statistics left out", "err", err)
		return nil
	}
	s := netstats.Summarize(f, ops)
	return &s
}

// nodeLogs lists the files copied under dir/nodes/<node>/, relative to dir.
// Links and other non-regular entries are listed too, so that the report
// says why it does not show them; links are never followed.
func nodeLogs(rd *rundir.Dir) map[string][]string {
	out := map[string][]string{}
	_ = rd.Walk(NodesDir, func(p string) {
		parts := strings.SplitN(p, "/", 3)
		if len(parts) == 3 {
			out[parts[1]] = append(out[parts[1]], p)
		}
	})
	for _, v := range out {
		sort.Strings(v)
	}
	return out
}

// Check re-checks a stored run directory (no Docker needed): it reads the
// spec and history, runs the workload's checkers (or the given models) and
// writes the results and report. It never erases a verdict: the run's
// record (results.json at the top of dir) is written only when the run has
// no verdict recorded and this check is complete with the run's own models
// (a run whose controller was killed); every other check is written beside it, under
// checks/<UTC stamp>[-models][-interrupted]/ (Results.Check says where).
// Run information from the record (interruption, harness errors) is kept.
// A history without its end record is an incomplete run: unknown, with the
// reason (see CheckPrefix).
// Everything read and written stays inside dir; links and non-regular
// files are refused.
func Check(ctx context.Context, dir string, modelNames []string, timeout time.Duration, progress node.Progress) (Results, error) {
	return check(ctx, dir, modelNames, timeout, progress, false)
}

func check(ctx context.Context, dir string, modelNames []string, timeout time.Duration, progress node.Progress, prefix bool) (Results, error) {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return Results{}, badInput(fmt.Errorf("%s is not a run directory", dir))
	}
	rd, err := rundir.Open(dir)
	if err != nil {
		return Results{}, badInput(err)
	}
	defer rd.Close()
	var spec Spec
	if err := readJSONIn(rd, SpecFile, &spec); err != nil {
		return Results{}, badInput(fmt.Errorf("read run spec: %w", err))
	}
	hf, err := rd.Open(HistoryFile)
	if err != nil {
		return Results{}, badInput(fmt.Errorf("read history: %w", err))
	}
	ops, hc, err := readRunHistory(ctx, hf, filepath.Join(dir, HistoryFile), prefix)
	hf.Close()
	if err != nil {
		return Results{}, badInput(err)
	}
	// A results.json without a verdict (run information only) holds no
	// verdict to keep.
	var prev Results
	if err := readJSONIn(rd, ResultsFile, &prev); err != nil && !errors.Is(err, os.ErrNotExist) {
		return Results{}, badInput(fmt.Errorf("read the run's record: %w", err))
	}
	hasRecord := prev.Verdict != ""
	wl, wlErr := workloads.Default().Lookup(spec.Workload)
	own := len(modelNames) == 0
	if own {
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
	progress.Printf("checking %d history entries from %s with %v", len(ops), dir, modelNames)
	// Where the check goes is known only once it ends (interrupted or
	// not), so its artifacts are staged in a scratch stage first.
	ck := CheckInfo{At: t0.UTC(), Models: modelNames}
	scratch, err := rd.NewStage("")
	if err != nil {
		return Results{}, err
	}
	defer scratch.Abort()
	results, err := judge(ctx, hc, modelNames, wl, ops, scratch.Create, timeout)
	if err != nil {
		return Results{}, err
	}
	ck.Interrupted = ctx.Err() != nil
	res := assemble(spec, ops, results, prev.Run)
	res.Network = networkOf(rd, ops, slog.New(slog.DiscardHandler))
	hc.settle(&res)
	if ck.Interrupted {
		res.Verdict = models.Unknown
		res.Reason = strings.TrimPrefix(res.Reason+"; the check was interrupted: "+context.Cause(ctx).Error(), "; ")
	}
	// A prefix judgement answers the user's question; it is not the run's record.
	if hasRecord || !own || ck.Interrupted || hc.Prefix {
		if err := moveBeside(rd, scratch, &ck); err != nil {
			return Results{}, err
		}
	}
	res.Check = &ck
	progress.Printf("check done in %s: %s", time.Since(t0).Round(time.Millisecond), res.Verdict)
	if err := writeOutputs(rd, scratch, spec, ops, res, reports.WriteTo); err != nil {
		return Results{}, err
	}
	return res, nil
}

// CheckHistory checks a history file of any supported format (faultline
// JSON lines, Jepsen history.edn, jepsen.util log lines) against the named
// models. When outDir is set, checker artifacts go there.
func CheckHistory(ctx context.Context, path, format string, modelNames []string, timeout time.Duration, outDir string) (Results, error) {
	return CheckHistoryAs(ctx, path, format, "", modelNames, timeout, outDir)
}
