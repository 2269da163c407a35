package harness

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/internal/ctxio"
	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/workloads"
)

// HistoryCheck is what was found about a history itself, before and apart
// from the checkers' verdicts (results.json "history"): whether it is the
// record of a finished run, whether its last line was torn, and which ops
// broke the assumptions the checkers pair by (see history.Report).
type HistoryCheck struct {
	// Format is the history's format (faultline, jepsen-edn, jepsen-log).
	Format string `json:"format,omitempty"`
	// Complete is true when the history ends with its end record (a run
	// that finished). Jepsen's formats have no end record.
	Complete bool `json:"complete"`
	// End is the end record.
	End *history.EndRecord `json:"end,omitempty"`
	// Prefix is true when a history without its end record was judged as
	// the prefix of a run, as asked (check --prefix).
	Prefix bool `json:"prefix,omitempty"`
	// TornLine is the last line, cut while it was written, that was dropped.
	TornLine *history.TornLine `json:"torn_line,omitempty"`
	history.Report
	// Warnings say, in words, what the counts above mean for the verdict.
	Warnings []string `json:"warnings,omitempty"`

	// runDir: the history is a run's record, which must be complete.
	runDir bool
}

// readRunHistory reads a run directory's history from r (name labels
// errors) until ctx is done, and what was found about it. prefix asks to
// judge a history without its end record as a prefix.
func readRunHistory(ctx context.Context, r io.Reader, name string, prefix bool) ([]history.Op, *HistoryCheck, error) {
	lines := 0
	if f, ok := r.(io.ReaderAt); ok {
		lines = history.CountLines(f)
	}
	ops, info, err := history.ReadWithInfoLines(ctxio.NewReader(ctx, r), lines)
	if ctx.Err() != nil {
		return nil, nil, fmt.Errorf("%s: reading stopped: %w", name, context.Cause(ctx))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	hc := &HistoryCheck{Format: history.FormatFaultline, runDir: true}
	hc.fromInfo(info, prefix)
	return ops, hc, nil
}

// readHistoryFile reads a history file of any format, given on its own.
func readHistoryFile(ctx context.Context, path string) ([]history.Op, string, *HistoryCheck, error) {
	ops, format, info, err := history.ReadAnyInfoContext(ctx, path)
	if err != nil {
		return nil, "", nil, err
	}
	hc := &HistoryCheck{Format: format}
	hc.fromInfo(info, false)
	if format != history.FormatFaultline {
		// Nothing in these formats marks their end.
		hc.Complete = info.Torn == nil
	}
	return ops, format, hc, nil
}

func (hc *HistoryCheck) fromInfo(info history.ReadInfo, prefix bool) {
	hc.Complete, hc.End, hc.TornLine = info.Complete(), info.End, info.Torn
	hc.Prefix = prefix && !hc.Complete
	if t := hc.TornLine; t != nil {
		hc.Warnings = append(hc.Warnings, fmt.Sprintf("the history's last line (line %d, %d bytes) is torn: it has no newline and does not parse; it was dropped", t.Line, t.Bytes))
	}
	if hc.Format == history.FormatFaultline && !hc.Complete && !hc.runDir {
		hc.Warnings = append(hc.Warnings, "the history has no end record: it is judged as the history it is, which may be the prefix of a run")
	}
	if hc.Prefix {
		hc.Warnings = append(hc.Warnings, "judged as a prefix, as asked: the history has no end record (the run never finished), so the verdict is on what it holds")
	}
}

// judge checks the history's assumptions once, for every checker, then runs
// the checkers (see runCheckers) on what they can judge.
func judge(ctx context.Context, hc *HistoryCheck, names []string, wl workloads.Workload, ops []history.Op, create func(string) (io.WriteCloser, error), timeout time.Duration) ([]models.Result, error) {
	clean, rep := history.Validate(ops)
	hc.Report = rep
	hc.Warnings = append(hc.Warnings, rep.Notes()...)
	return runCheckers(ctx, names, wl, clean, create, timeout)
}

// settle records hc in res and lowers the verdict to unknown when the
// history cannot carry one: a run's history without its end record (unless
// judged as a prefix), or ops no checker can judge.
func (hc *HistoryCheck) settle(res *Results) {
	res.History = hc
	var why []string
	if !hc.Report.Judgeable() {
		why = append(why, hc.Report.Reason())
	}
	if hc.runDir && !hc.Complete && !hc.Prefix {
		why = append(why, "the run never finished: history has no end record (controller killed?); `faultline check --prefix` judges what it holds")
	}
	if e := hc.End; e != nil && res.Run.HarnessError == "" && !res.Run.Interrupted {
		// results.json is gone or was never written: the end record says
		// how the run went.
		switch {
		case e.HarnessError != "":
			why = append(why, "the run did not complete: "+e.HarnessError)
		case e.Interrupted:
			why = append(why, "the run was interrupted; the partial history is valid so far")
		}
	}
	if len(why) > 0 && res.Verdict != models.Unknown {
		if res.Verdict != models.Valid {
			why = append(why, fmt.Sprintf("the checkers found %s", res.Verdict))
		}
		res.Verdict = models.Unknown
	}
	if len(why) > 0 {
		res.Reason = strings.Join(append(why, nonEmpty(res.Reason)...), "; ")
	}
}

// Lines are the history's notes for the report: why it cannot carry a
// verdict, then its warnings. Nil-safe.
func (hc *HistoryCheck) Lines() []string {
	if hc == nil {
		return nil
	}
	var out []string
	if !hc.Report.Judgeable() {
		out = append(out, hc.Report.Reason())
	}
	if hc.runDir && !hc.Complete && !hc.Prefix {
		out = append(out, "The run never finished: its history has no end record (controller killed?). `faultline check --prefix` judges what it holds.")
	}
	return append(out, hc.Warnings...)
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// CheckPrefix is Check for a run that never finished: a history without its
// end record is judged as the prefix of the run it is, and results.json and
// the report say so.
func CheckPrefix(ctx context.Context, dir string, modelNames []string, timeout time.Duration, progress node.Progress) (Results, error) {
	return check(ctx, dir, modelNames, timeout, progress, true)
}
