package harness

import (
	"fmt"
	"slices"
	"strings"

	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/nuker"
)

// The rule for faults in the verdict (issue 12): a run only tests what its
// faults did, so
//
//   - a requested fault kind that was injected but never took effect, on
//     any node, makes the verdict at most unknown: its mechanism is broken
//     here, and every run like this one would be as blind to it;
//   - faults requested but none injected at all (a run phase too short for
//     the nemesis interval) make it unknown too: the run claims to test
//     faults and tested none;
//   - a requested kind that the schedule never drew, or whose injections
//     were all cut short by the end of the run (Unfinished), while another
//     kind took effect, is counted (Requested 0, "never drawn" on the
//     summary line) but leaves the verdict alone: the schedule draws kinds at
//     random, so a default 60 s run with three kinds at a 10 s interval
//     draws three faults and misses a kind most of the time; asking for
//     every kind would demand far longer runs than the user chose.
//
// Partial injections (some nodes failed) count as taking effect.

// faultTallies counts each fault kind's injections in ops: the requested
// kinds first (in the nuker's order, with a zero tally when never drawn),
// then any other kind the history holds. It returns the reasons that cap
// the verdict at unknown, if any; "none injected" is a reason only for a
// run that completed (otherwise the run's own failure says why).
func faultTallies(spec Spec, ops []history.Op, completed bool) ([]history.FaultTally, []string) {
	counted := history.CountFaults(ops)
	var out []history.FaultTally
	for _, kind := range requestedFaults(spec) {
		t := history.FaultTally{Kind: kind}
		if i := slices.IndexFunc(counted, func(c history.FaultTally) bool { return c.Kind == kind }); i >= 0 {
			t = counted[i]
		}
		out = append(out, t)
	}
	for _, c := range counted {
		if !slices.ContainsFunc(out, func(t history.FaultTally) bool { return t.Kind == c.Kind }) {
			out = append(out, c)
		}
	}
	var reasons []string
	injected := 0
	for _, t := range out {
		injected += t.Requested
		// Injections cut short by the end of the run are chance, like a
		// kind never drawn: only failures speak against the mechanism.
		if t.Failed == 0 || t.TookEffect() {
			continue
		}
		why := fmt.Sprintf("%d of %d injections failed", t.Failed, t.Requested)
		if t.FirstError != "" {
			why += ": " + firstLine(t.FirstError)
		}
		reasons = append(reasons, fmt.Sprintf("fault %s was requested but never took effect (%s)", t.Kind, why))
	}
	kinds := requestedFaults(spec)
	anyEffect := slices.ContainsFunc(out, history.FaultTally.TookEffect)
	switch {
	case len(kinds) == 0 || anyEffect || len(reasons) > 0 || !completed:
	case injected == 0:
		reasons = append(reasons, fmt.Sprintf("faults %v were requested but none was injected (the run phase of %s ends before the first fault, due after the %s nemesis interval)",
			kinds, spec.TimeLimit.D(), spec.NemesisInterval.D()))
	default:
		reasons = append(reasons, fmt.Sprintf("faults %v were requested but none took effect (%d injections were cut short by the end of the run)", kinds, injected))
	}
	return out, reasons
}

// requestedFaults is the spec's Nemesis as the nuker's canonical list. A
// run stores it resolved; a spec.json written by hand may still say "all"
// (every fault the target supports), which a check cannot resolve without
// the target, so such a spec is judged by the faults recorded only.
func requestedFaults(spec Spec) []string {
	if slices.Contains(spec.Nemesis, "all") {
		return nil
	}
	faults, err := nuker.ParseFaults(strings.Join(spec.Nemesis, ","))
	if err != nil {
		return nil // the run refused it before starting; nothing was asked
	}
	return faults
}

// FaultsLine summarises fault tallies on one line, as the CLI prints it:
// "faults: partition 3/3, kill 2/3 (1 failed)": per kind, the injections
// that took effect (wholly or partly) of those drawn. "" when no fault
// was asked for or recorded.
func FaultsLine(ts []history.FaultTally) string {
	if len(ts) == 0 {
		return ""
	}
	parts := make([]string, len(ts))
	for i, t := range ts {
		if t.Requested == 0 {
			parts[i] = t.Kind + " 0 (never drawn)"
			continue
		}
		var notes []string
		for _, n := range []struct {
			count int
			what  string
		}{{t.Partial, "partial"}, {t.Failed, "failed"}, {t.Unfinished, "unfinished"}, {t.UndoFailed, "undo failed"}} {
			if n.count > 0 {
				notes = append(notes, fmt.Sprintf("%d %s", n.count, n.what))
			}
		}
		parts[i] = fmt.Sprintf("%s %d/%d", t.Kind, t.Effective+t.Partial, t.Requested)
		if len(notes) > 0 {
			parts[i] += " (" + strings.Join(notes, ", ") + ")"
		}
	}
	return "faults: " + strings.Join(parts, ", ")
}

// firstLine returns s up to its first newline, at most 200 bytes (errors
// joined per node run over several lines).
func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
