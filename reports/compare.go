package reports

import (
	"fmt"
	"io/fs"
	"os"
	"slices"
	"time"
)

// Compare returns a page that shows the runs a and b of store side by side:
// what ran, the verdicts and reasons, each checker's verdict, op counts, and
// throughput, availability and latency percentiles overall, while healthy and
// under each fault kind. a and b are run directories relative to the store,
// slash-separated ("<test>/<timestamp>", or "latest"); they must stay inside
// the store. The error wraps fs.ErrInvalid for a path that is not a plain
// relative path and fs.ErrNotExist for a run that is not there. The page's
// links are relative to the store's root.
func Compare(store, a, b string) ([]byte, error) {
	root, err := os.OpenRoot(store)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	defer root.Close()
	fsys := root.FS()
	var runs [2]RunEntry
	for i, rel := range []string{a, b} {
		if !fs.ValidPath(rel) || rel == "." {
			return nil, fmt.Errorf("compare: run %q: %w", rel, fs.ErrInvalid)
		}
		fi, err := fs.Stat(fsys, rel)
		if err != nil {
			// Also a symlink leading outside the store: not there.
			return nil, fmt.Errorf("compare: run %q: %w (%w)", rel, fs.ErrNotExist, err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("compare: run %q is not a directory: %w", rel, fs.ErrNotExist)
		}
		runs[i] = readRun(fsys, rel)
	}
	return renderCompare(runs)
}

// comparePage is the compare template's data.
type comparePage struct {
	Runs     [2]compareRun
	Overview []cmpRow
	Checkers []cmpRow
	Phases   []cmpPhase
}

// compareRun is one side of the comparison, formatted for display.
type compareRun struct {
	Rel, Href, Test, Verdict, VerdictClass, Reason, Problem string
}

// cmpRow is one compared value. Change is b relative to a, for numbers.
type cmpRow struct {
	Label, A, B, Change string
	// Differs is set when the two sides' values differ.
	Differs bool
}

// cmpPhase is the numbers of one phase (overall, healthy, a fault kind).
type cmpPhase struct {
	Name string
	Rows []cmpRow
}

// renderCompare renders the comparison of the two runs.
func renderCompare(runs [2]RunEntry) ([]byte, error) {
	var pg comparePage
	for i, e := range runs {
		r := compareRun{
			Rel: e.Rel, Test: e.Test, Verdict: string(e.Verdict), VerdictClass: verdictClass(e.Verdict),
			Reason: e.Reason, Problem: e.Problem,
		}
		if r.Verdict == "" {
			r.Verdict = "unreadable"
		}
		if e.Interrupted {
			r.Verdict += " (interrupted)"
		}
		if e.HasReport {
			r.Href = runHref(e.Rel, storeReportFile)
		}
		pg.Runs[i] = r
	}
	a, b := runs[0], runs[1]
	text := func(label, x, y string) cmpRow { return cmpRow{Label: label, A: x, B: y, Differs: x != y} }
	date := func(e RunEntry) string {
		if e.Started.IsZero() {
			return ""
		}
		return e.Started.UTC().Format("2006-01-02 15:04:05Z")
	}
	pg.Overview = []cmpRow{
		text("test", a.Test, b.Test),
		text("target", joinNonEmpty(" ", a.Target, a.TargetVersion), joinNonEmpty(" ", b.Target, b.TargetVersion)),
		text("target options", fmtOpts(a.TargetOpts), fmtOpts(b.TargetOpts)),
		text("workload", a.Workload, b.Workload),
		text("faults", joinNonEmpty(", ", a.Faults...), joinNonEmpty(", ", b.Faults...)),
		text("seed", fmt.Sprint(a.Seed), fmt.Sprint(b.Seed)),
		text("started (UTC)", date(a), date(b)),
		durRow("duration", a.Duration, b.Duration),
		text("harness error", a.HarnessError, b.HarnessError),
		intRow("client ops", a.Stats.Ops, b.Stats.Ops),
		intRow("ok", a.Stats.Outcomes.OK, b.Stats.Outcomes.OK),
		intRow("fail", a.Stats.Outcomes.Fail, b.Stats.Outcomes.Fail),
		intRow("info (indeterminate)", a.Stats.Outcomes.Info, b.Stats.Outcomes.Info),
		intRow("pending", a.Stats.Outcomes.Pending, b.Stats.Outcomes.Pending),
	}

	// Checkers, matched by name and model, in order of first appearance.
	type ck struct{ name, model string }
	var cks []ck
	verdicts := [2]map[ck]string{{}, {}}
	for i, e := range runs {
		for _, r := range e.Results {
			k := ck{r.Checker, r.Model}
			if !slices.Contains(cks, k) {
				cks = append(cks, k)
			}
			verdicts[i][k] = joinNonEmpty(": ", string(r.Verdict), r.Reason)
		}
	}
	for _, k := range cks {
		pg.Checkers = append(pg.Checkers, text(joinNonEmpty(" / ", k.name, k.model), verdicts[0][k], verdicts[1][k]))
	}

	// Phases: overall, healthy, then every fault kind of either run.
	phases := [2]map[string]Phase{{}, {}}
	names := []string{"overall", "healthy"}
	for i, e := range runs {
		phases[i]["overall"] = e.Stats.Overall
		phases[i]["healthy"] = e.Stats.Healthy
		for _, f := range e.Stats.Faults {
			phases[i][f.Name] = f
			if !slices.Contains(names, f.Name) {
				names = append(names, f.Name)
			}
		}
	}
	for _, n := range names {
		pa, okA := phases[0][n]
		pb, okB := phases[1][n]
		if !okA && !okB {
			continue
		}
		rows := phaseRows(pa, okA, pb, okB)
		if n == "overall" || n == "healthy" {
			rows = rows[1:] // fault windows: only for fault kinds
		}
		pg.Phases = append(pg.Phases, cmpPhase{Name: n, Rows: rows})
	}
	return execStoreTemplate("compare.html.tmpl", pg)
}

// phaseRows compares two phases; a side that lacks the phase shows "—".
func phaseRows(a Phase, okA bool, b Phase, okB bool) []cmpRow {
	rows := []cmpRow{
		intRow("fault windows", a.Windows, b.Windows),
		durRow("time", a.Time, b.Time),
		intRow("completed", a.Completed.Total(), b.Completed.Total()),
		rateRow("throughput (ops/s)", a.Throughput, b.Throughput),
		rateRow("ok throughput (ops/s)", a.OKThroughput, b.OKThroughput),
		pctRow("availability (ok / completed)", ratio(a.Completed.OK, a.Completed.Total()), ratio(b.Completed.OK, b.Completed.Total())),
		durRow("latency p50", a.Latency.P50, b.Latency.P50),
		durRow("latency p95", a.Latency.P95, b.Latency.P95),
		durRow("latency p99", a.Latency.P99, b.Latency.P99),
		durRow("latency max", a.Latency.Max, b.Latency.Max),
	}
	for i := range rows {
		if !okA {
			rows[i].A, rows[i].Change, rows[i].Differs = "—", "", true
		}
		if !okB {
			rows[i].B, rows[i].Change, rows[i].Differs = "—", "", true
		}
	}
	return rows
}

func ratio(n, d int) float64 {
	if d == 0 {
		return 0
	}
	return float64(n) / float64(d)
}

// change formats b relative to a as a signed percentage ("" when a is 0).
func change(a, b float64) string {
	if a == 0 || a == b {
		return ""
	}
	return fmt.Sprintf("%+.1f%%", (b-a)/a*100)
}

func intRow(label string, a, b int) cmpRow {
	return cmpRow{Label: label, A: fmt.Sprint(a), B: fmt.Sprint(b), Change: change(float64(a), float64(b)), Differs: a != b}
}

func durRow(label string, a, b time.Duration) cmpRow {
	return cmpRow{Label: label, A: fmtDuration(a), B: fmtDuration(b), Change: change(float64(a), float64(b)), Differs: a != b}
}

func rateRow(label string, a, b float64) cmpRow {
	x, y := fmt.Sprintf("%.1f", a), fmt.Sprintf("%.1f", b)
	return cmpRow{Label: label, A: x, B: y, Change: change(a, b), Differs: x != y}
}

func pctRow(label string, a, b float64) cmpRow {
	x, y := fmt.Sprintf("%.1f%%", a*100), fmt.Sprintf("%.1f%%", b*100)
	return cmpRow{Label: label, A: x, B: y, Differs: x != y}
}
