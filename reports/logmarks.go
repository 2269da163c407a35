package reports

import (
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/faultline/faultline/models/history"
)

// faultMark is the start or end of a fault acting on a node, placed in that
// node's log view before the first line logged at or after it.
type faultMark struct {
	// Line is the position in the view's lines it goes before (len(lines):
	// after the last).
	Line int    `json:"line"`
	At   string `json:"at"` // run time, as the report writes it
	Text string `json:"text"`
	Kind string `json:"kind"`
	End  bool   `json:"end,omitempty"`
	Op   int64  `json:"op"`
	wall time.Time
}

// nodeMarks returns, per node, the start and end of every fault window
// acting on it (windows naming no node act on all), in wall-clock time:
// the run's start plus the history's times. Without a start time there is
// no way to line them up with the logs, and none are returned.
func nodeMarks(in Input) map[string][]faultMark {
	if in.Run.Started.IsZero() {
		return nil
	}
	windows := history.FaultWindows(in.Ops)
	out := map[string][]faultMark{}
	wall := func(ns int64) time.Time { return in.Run.Started.Add(time.Duration(ns)) }
	for _, n := range in.Run.Nodes {
		for _, w := range windows {
			if len(w.Nodes) > 0 && !slices.Contains(w.Nodes, n) {
				continue
			}
			labels, _ := bandText(w, n)
			what := labels[0]
			if o := outcomeNote(w); o != "" && !strings.Contains(what, o) {
				what += " (" + o + ")"
			}
			out[n] = append(out[n], faultMark{At: fmtSecs(w.Start), Text: "fault starts: " + what, Kind: w.Kind, Op: w.StartOp, wall: wall(w.Start)})
			end := faultMark{At: fmtSecs(w.End), Text: "fault ends: " + w.Kind, Kind: w.Kind, End: true, Op: w.EndOp, wall: wall(w.End)}
			switch {
			case w.Open:
				end.Text = "run ends with the fault in place: " + w.Kind + " never healed"
			case isRestart(w.Kind):
				end.Text += " (process restarted)"
			}
			out[n] = append(out[n], end)
		}
		slices.SortStableFunc(out[n], func(a, b faultMark) int { return a.wall.Compare(b.wall) })
	}
	return out
}

// logStamp finds the timestamp of a log line in the forms the targets'
// logs use: RFC 3339 (etcd's JSON, Go's slog, most), "2006-01-02
// 15:04:05.000 UTC" (PostgreSQL) and "02 Jan 2006 15:04:05.000" (Redis).
var logStamp = regexp.MustCompile(`(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2}(?:[.,]\d+)?)(Z|[+-]\d{2}:?\d{2})?|(\d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2}(?:\.\d+)?)`)

// lineTime returns the time a log line was written, if it says; a time
// without a zone is taken as UTC (the containers' zone).
func lineTime(line string) (time.Time, bool) {
	m := logStamp.FindStringSubmatch(line)
	if m == nil {
		return time.Time{}, false
	}
	if m[4] != "" {
		t, err := time.Parse("02 Jan 2006 15:04:05.999999999", m[4])
		return t, err == nil
	}
	zone := m[3]
	switch {
	case zone == "":
		zone = "Z"
	case len(zone) == 5: // +0100
		zone = zone[:3] + ":" + zone[3:]
	}
	t, err := time.Parse(time.RFC3339Nano, m[1]+"T"+strings.Replace(m[2], ",", ".", 1)+zone)
	return t, err == nil
}

// placeMarks sets each mark's Line: before the first line logged at or
// after it (a line without a time has its predecessor's). A mark before
// the first dated line of a cut file (skipped) belongs to the part left out
// and is dropped; so are all marks when no line has a time.
func placeMarks(lines []string, skipped bool, marks []faultMark) []faultMark {
	times := make([]time.Time, len(lines))
	var last time.Time
	dated := false
	for i, l := range lines {
		if t, ok := lineTime(l); ok {
			last, dated = t, true
		}
		times[i] = last
	}
	if !dated {
		return nil
	}
	first := slices.IndexFunc(times, func(t time.Time) bool { return !t.IsZero() })
	var out []faultMark
	for _, m := range marks {
		if skipped && m.wall.Before(times[first]) {
			continue
		}
		i := slices.IndexFunc(times, func(t time.Time) bool { return !t.IsZero() && !t.Before(m.wall) })
		if i < 0 {
			i = len(lines)
		}
		m.Line = i
		out = append(out, m)
	}
	return out
}
