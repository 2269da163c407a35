// Package reports renders what a run leaves for people: report.html, a
// single self-contained page (inline CSS and SVG plots, no external
// resources, no script) with the verdict, what ran, each checker's
// anomalies next to the faults active at the time, op counts, throughput and
// latency while healthy and under each fault, plots with the fault windows
// shaded, the fault timeline, node log tails and links to the run's other
// artifacts. Next to it go the history view (history.html, paginated and
// filtered by embedded script over data files in history/) and the node logs
// view (nodes.html, searchable); see Write. Stats computes the same numbers
// for the CLI and results.json.
package reports

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/internal/rundir"
	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/models/netstats"
	"github.com/faultline/faultline/models/resources"
)

//go:embed templates/report.html.tmpl templates/depth.html.tmpl templates/timeline.html.tmpl templates/history.html.tmpl templates/nodes.html.tmpl
var templates embed.FS

// Limits that keep the page readable for huge or very broken histories.
const (
	maxAnomalies   = 50  // shown per checker
	maxAnomalyOps  = 20  // ops shown per anomaly
	logTailLines   = 50  // lines of each node log embedded
	maxValueLength = 160 // characters of an op value or fault description
	maxLeaderRows  = 40  // primaries changes listed
	maxLinkedOps   = 200 // op indexes in an anomaly's link to the history view
	// maxCycleTxns bounds the cycles drawn: a longer one would not be
	// read as a picture (Elle's huge-scc cycle has 15).
	maxCycleTxns    = 40
	maxTooltipValue = 1000 // characters of a transaction in its tooltip
)

// Run describes what ran.
type Run struct {
	// Test is the test's name.
	Test string
	// Target is the system under test and TargetVersion its version.
	Target        string
	TargetVersion string
	// TargetOpts are target settings that matter to the result.
	TargetOpts map[string]string
	// Workload names the workload and Faults the fault kinds scheduled.
	Workload string
	Faults   []string
	// Nodes are the cluster's nodes.
	Nodes []string
	// Concurrency is the number of client workers.
	Concurrency int
	// Seed is the run's random seed.
	Seed int64
	// Started is when the run began; Duration how long its run phase took
	// (taken from the history when zero).
	Started  time.Time
	Duration time.Duration
	// Interrupted is set when the run was stopped early (Ctrl-C, deadline).
	Interrupted bool
	// HarnessError is the harness's own failure, if any.
	HarnessError string
}

// Input is everything a report shows.
type Input struct {
	Run Run
	// Ops is the run's history.
	Ops []history.Op
	// Verdict is the combined verdict; when empty it is combined from Results.
	Verdict models.Verdict
	// Results are the checkers' results.
	Results []models.Result
	// NodeLogs maps a node to its log files, relative to the run directory
	// (the directory of the report).
	NodeLogs map[string][]string
	// Artifacts are other files of the run to link, relative to the run
	// directory (e.g. "linearizability.html"); the results' own artifacts
	// are linked too.
	Artifacts []string
	// SLOs are the run's SLO verdicts (see EvaluateSLOs), if any were set.
	SLOs []SLOResult
	// History are notes on the history itself (a run that never finished,
	// a torn last line, ops the checkers could not judge), shown first
	// among the reasons for the verdict.
	History []string
	// Faults are the run's fault tallies (requested kinds included); nil
	// counts them from Ops.
	Faults []history.FaultTally
	// Network is the messages the nodes exchanged, when the target counted
	// them.
	Network *netstats.Summary
	// Resources are the nodes' resource samples (resources.jsonl), if any.
	Resources []resources.Sample
}

// Write renders the report of in and writes it to path (normally
// <run dir>/report.html) atomically: through a temporary file in the same
// directory, renamed into place. Node logs and artifacts are looked up
// relative to path's directory.
//
// Next to it, Write writes the history view (history.html and its data
// files under history/) and the node logs view (nodes.html), which the
// report links to.
func Write(path string, in Input) error {
	src, err := rundir.Open(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	defer src.Close()
	st, err := src.NewStage("")
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	defer st.Abort()
	if err := WriteTo(src, st, filepath.Base(path), "", in); err != nil {
		return err
	}
	return st.Commit(filepath.Base(path))
}

// Render returns the report of in as HTML. dir is the run directory, against
// which node logs and artifacts are resolved.
func Render(dir string, in Input) ([]byte, error) {
	src, err := rundir.Open(dir)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	pg, err := buildPage(runFiles{src: src}, in)
	if err != nil {
		return nil, err
	}
	return renderPage(pg)
}

func renderPage(pg *page) ([]byte, error) {
	t, err := template.New("report.html.tmpl").Funcs(template.FuncMap{
		"dur":  fmtDuration,
		"rate": func(r float64) string { return fmt.Sprintf("%.1f", r) },
		"pct":  pct,
		"at":   fmtSecs,
		"clip": clipHTML,
		"cut":  clipText,
	}).ParseFS(templates, "templates/report.html.tmpl", "templates/depth.html.tmpl")
	if err != nil {
		return nil, fmt.Errorf("parse report template: %w", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, pg); err != nil {
		return nil, fmt.Errorf("render report: %w", err)
	}
	return b.Bytes(), nil
}

// clipAt is where long text (a 200k-character error) is clipped in the
// report; the rest is one click away.
const clipAt = 600

// clipHTML shows the first clipAt characters of s and the rest behind a
// <details>, so a huge error neither floods the page nor is lost.
func clipHTML(s string) template.HTML {
	r := []rune(s)
	if len(r) <= clipAt {
		return template.HTML(template.HTMLEscapeString(s))
	}
	return template.HTML(template.HTMLEscapeString(string(r[:clipAt])) +
		fmt.Sprintf(`<details class="clip"><summary>… %d more characters</summary>`, len(r)-clipAt) +
		template.HTMLEscapeString(string(r[clipAt:])) + `</details>`)
}

// clipText is s cut to clipAt characters, for attributes (tooltips).
func clipText(s string) string {
	r := []rune(s)
	if len(r) <= clipAt {
		return s
	}
	return string(r[:clipAt]) + fmt.Sprintf("… (%d more characters)", len(r)-clipAt)
}

// page is the template's data, formatted for display.
type page struct {
	Run      Run
	Title    string
	Verdict  string
	Reasons  []string
	Headline string
	Started  string
	Duration string
	// Setup is the time from the controller's start to the first client op
	// (where the plots start), empty without client ops.
	Setup       string
	Options     []kv
	Summary     Summary
	Phases      []phaseRow
	Checkers    []checkerView
	Latency     template.HTML
	LatencyNote string
	Throughput  template.HTML
	// ByOp is latency and throughput per operation type; PerNode the
	// per-node table.
	ByOp       opsView
	PerNode    perNodeView
	Kinds      []kindView
	Avail      []availRow
	CAP        CAPProfile
	SLOs       []SLOResult
	Faults     []faultRow
	FaultTally []tallyRow
	// FaultTimeline is one row per node of the faults acting on it.
	FaultTimeline template.HTML
	Logs          []nodeLogs
	Nodes         nodesView
	Network       *netstats.Summary
	Resources     []resourceChart
	Artifacts     []artifact
	Files         []artifact
	Generated     string
	OKHex         string
	FailHex       string
	InfoHex       string
}

type kv struct{ K, V string }

// nodesView is the report's Nodes section.
type nodesView struct {
	Names       []string
	Timeline    template.HTML
	HasRoles    bool
	HasRestarts bool
	Leaders     []kv // time, primaries
	LeadersMore int
	Clock       template.HTML
	ClockNodes  []kindView
}

type kindView struct{ Kind, Color string }

type availRow struct {
	AvailabilityPhase
	Color string
	Fault bool
}

type phaseRow struct {
	Phase
	Color string
}

type checkerView struct {
	models.Result
	Stats      []kv
	Properties []kv
	Duration   string
	Anomalies  []anomalyView
	More       int
	Artifacts  []artifact
	// Visual is the checker's visualization (porcupine's), if it wrote one.
	Visual string
}

type anomalyView struct {
	models.Anomaly
	At string
	// OpsLink is the anomaly's ops for the history view's ops filter;
	// Span its ops' time span for the timeline view.
	OpsLink string
	Span    string
	Rows    []opRow
	MoreOps int
	Missing []int64
	Faults  []activeFault
	// Cycle is the diagram of a dependency cycle, if the anomaly is one.
	Cycle template.HTML
}

// activeFault is a fault window overlapping an anomaly, with the map of a
// partition.
type activeFault struct {
	Text string
	Map  template.HTML
}

type opRow struct {
	Index                        int64
	Process, F, Key, Node        string
	Invoked, Completed, Latency  string
	Outcome, Value, Error, Class string
}

type faultRow struct {
	Kind, Color, Nodes   string
	Start, End, Duration string
	Value                string
	// Map is a partition's map of cut links.
	Map            template.HTML
	Open           bool
	StartOp, EndOp int64
	// Outcome is "failed" or "partly failed" when the fault did not take
	// full effect, Error why.
	Outcome, Error string
}

type nodeLogs struct {
	Node  string
	Files []logFile
}

type artifact struct {
	Path    string
	Href    string
	Missing bool
}

func buildPage(dir runFiles, in Input) (*page, error) {
	opers, at := pairOps(in.Ops)
	windows := history.FaultWindows(in.Ops)
	held := heldWindows(windows) // the statistics' fault phases
	sum := summarize(opers, held)

	pg := &page{
		Run:       in.Run,
		Summary:   sum,
		Generated: time.Now().UTC().Format(time.RFC3339),
		OKHex:     okHex, FailHex: failHex, InfoHex: infoHex,
	}
	pg.Title = in.Run.Test
	if pg.Title == "" {
		pg.Title = "faultline run"
	}

	// Verdict and the reasons for it.
	v := in.Verdict
	if v == "" {
		vs := make([]models.Verdict, 0, len(in.Results))
		for _, r := range in.Results {
			vs = append(vs, r.Verdict)
		}
		v = models.Combine(vs...)
	}
	pg.Verdict = string(v)
	pg.Reasons = reasons(in)

	// What ran.
	var end int64
	for _, op := range in.Ops {
		end = max(end, op.Time)
	}
	d := in.Run.Duration
	if d == 0 {
		d = time.Duration(end)
	}
	pg.Duration = fmtDuration(d)
	if sum.Ops > 0 {
		pg.Setup = fmtDuration(time.Duration(sum.Start))
	}
	if !in.Run.Started.IsZero() {
		pg.Started = in.Run.Started.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	for k, val := range in.Run.TargetOpts {
		pg.Options = append(pg.Options, kv{k, val})
	}
	sort.Slice(pg.Options, func(i, j int) bool { return pg.Options[i].K < pg.Options[j].K })
	pg.Headline = headline(sum, len(windows), d)

	// Fault kinds and their colors, in order of first appearance.
	colors := map[string]string{}
	for _, w := range windows {
		if _, ok := colors[w.Kind]; !ok {
			colors[w.Kind] = faultHex(len(pg.Kinds))
			pg.Kinds = append(pg.Kinds, kindView{w.Kind, colors[w.Kind]})
		}
	}
	pg.Phases = append(pg.Phases, phaseRow{Phase: sum.Overall}, phaseRow{Phase: sum.Healthy})
	for _, ph := range sum.Faults {
		pg.Phases = append(pg.Phases, phaseRow{Phase: ph, Color: colors[ph.Name]})
	}
	avail := availability(opers, held, sum)
	pg.Summary.Availability = &avail
	pg.Avail = append(pg.Avail, availRow{AvailabilityPhase: avail.Overall}, availRow{AvailabilityPhase: avail.Healthy})
	for _, ap := range avail.Faults {
		pg.Avail = append(pg.Avail, availRow{AvailabilityPhase: ap, Color: colors[ap.Name], Fault: true})
	}
	pg.CAP = capProfile(opers, held, sum, in.Results)
	pg.FaultTally = tallyRows(in.Faults, in.Ops, colors)
	pg.SLOs = in.SLOs
	for _, w := range windows {
		r := faultRow{
			Kind: w.Kind, Color: colors[w.Kind], Nodes: strings.Join(w.Nodes, ", "),
			Start: fmtSecs(w.Start), End: fmtSecs(w.End), Duration: fmtDuration(time.Duration(w.End - w.Start)),
			Value: fmtValue(w.Value), Open: w.Open, StartOp: w.StartOp, EndOp: w.EndOp,
			Outcome: outcomeNote(w), Error: w.Error, Map: partitionMapOf(w, in.Run.Nodes),
		}
		pg.Faults = append(pg.Faults, r)
	}

	// Checkers.
	lookup := indexLookup(in.Ops)
	for _, r := range in.Results {
		cv := checkerView{Result: r, Duration: fmtDuration(time.Duration(r.DurationNS))}
		for k, n := range r.Stats {
			cv.Stats = append(cv.Stats, kv{k, fmt.Sprint(n)})
		}
		sort.Slice(cv.Stats, func(i, j int) bool { return cv.Stats[i].K < cv.Stats[j].K })
		for k, v := range r.Properties {
			cv.Properties = append(cv.Properties, kv{k, v})
		}
		sort.Slice(cv.Properties, func(i, j int) bool { return cv.Properties[i].K < cv.Properties[j].K })
		for i, a := range r.Anomalies {
			if i == maxAnomalies {
				cv.More = len(r.Anomalies) - i
				break
			}
			cv.Anomalies = append(cv.Anomalies, anomalyRows(a, in.Ops, opers, at, lookup, held, end, in.Run.Nodes))
		}
		for _, p := range r.Artifacts {
			a := newArtifact(dir, p)
			cv.Artifacts = append(cv.Artifacts, a)
			if cv.Visual == "" && !a.Missing && strings.HasSuffix(p, ".html") {
				cv.Visual = p
			}
		}
		pg.Checkers = append(pg.Checkers, cv)
	}

	// Artifacts: the run's standard files that exist, then the others.
	seen := map[string]bool{}
	for _, p := range []string{"history.jsonl", "results.json", "spec.json", "faultline.log"} {
		if a := newArtifact(dir, p); !a.Missing {
			seen[p] = true
			pg.Files = append(pg.Files, a)
		}
	}
	others := slices.Clone(in.Artifacts)
	for _, r := range in.Results {
		others = append(others, r.Artifacts...)
	}
	for _, p := range others {
		if !seen[p] {
			seen[p] = true
			pg.Artifacts = append(pg.Artifacts, newArtifact(dir, p))
		}
	}

	// Plots.
	var err error
	startS, endS := secs(sum.Start), secs(end)
	var ax timeAxis
	if pg.Latency, pg.LatencyNote, ax, err = latencyPlot(opers, windows, colors, startS, endS); err != nil {
		return nil, err
	}
	if pg.Throughput, err = throughputPlot(opers, windows, colors, startS, endS); err != nil {
		return nil, err
	}

	if pg.ByOp, err = buildOpsView(opers, windows, colors, sum, startS, endS); err != nil {
		return nil, err
	}
	pg.PerNode = buildPerNode(opers, held, colors, in.Run.Nodes)
	pg.Logs = readLogs(dir, in.Run.Nodes, in.NodeLogs)

	// Nodes: faults, roles and restarts over time, clock offsets.
	nf := collectNodeFacts(in.Ops, windows, in.Run.Nodes)
	nv := nodesView{Names: nf.Nodes, HasRoles: len(nf.Leaders) > 0}
	for _, rs := range nf.Restarts {
		nv.HasRestarts = nv.HasRestarts || len(rs) > 0
	}
	for i, l := range nf.Leaders {
		if i == maxLeaderRows {
			nv.LeadersMore = len(nf.Leaders) - i
			break
		}
		who := strings.Join(l.Nodes, ", ")
		if who == "" {
			who = "none"
		}
		nv.Leaders = append(nv.Leaders, kv{fmtSecs(l.At), who})
	}
	pg.FaultTimeline = faultTimeline(nf, windows, colors, ax)
	if nv.Timeline, err = nodeTimelinePlot(nf, colors, startS, endS); err != nil {
		return nil, err
	}
	if nv.Clock, nv.ClockNodes, err = clockPlot(nf, windows, colors, startS, endS); err != nil {
		return nil, err
	}
	pg.Nodes = nv
	if pg.Resources, err = resourceCharts(in.Resources, windows, colors, startS, endS); err != nil {
		return nil, err
	}
	pg.Network = in.Network
	return pg, nil
}

// reasons lists why the verdict is what it is, most serious first.
func reasons(in Input) []string {
	out := slices.Clone(in.History)
	if e := in.Run.HarnessError; e != "" {
		first, _, more := strings.Cut(e, "\n")
		if r := []rune(first); len(r) > maxValueLength {
			first, more = string(r[:maxValueLength-1])+"…", true
		}
		if more {
			first += " (in full below)"
		}
		out = append(out, "Harness error: "+first)
	}
	if in.Run.Interrupted {
		out = append(out, "The run was interrupted: the history ends early and may be incomplete.")
	}
	if len(in.Results) == 0 {
		out = append(out, "No checker ran.")
	}
	rs := slices.Clone(in.Results)
	rank := map[models.Verdict]int{models.Invalid: 0, models.Unknown: 1}
	slices.SortStableFunc(rs, func(a, b models.Result) int {
		ra, ok := rank[a.Verdict]
		if !ok {
			ra = 2
		}
		rb, ok := rank[b.Verdict]
		if !ok {
			rb = 2
		}
		return ra - rb
	})
	valid := 0
	for _, r := range rs {
		if r.Verdict == models.Valid {
			valid++
			continue
		}
		s := checkerName(r) + ": " + string(r.Verdict)
		if n := len(r.Anomalies); n > 0 {
			var kinds []string
			for _, a := range r.Anomalies {
				if !slices.Contains(kinds, a.Kind) {
					kinds = append(kinds, a.Kind)
				}
			}
			s += fmt.Sprintf(", %d %s (%s)", n, plural(n, "anomaly", "anomalies"), strings.Join(kinds, ", "))
		}
		if r.Reason != "" {
			s += ": " + r.Reason
		}
		out = append(out, s)
	}
	if valid > 0 {
		out = append(out, fmt.Sprintf("%d of %d %s valid.", valid, len(rs), plural(len(rs), "checker", "checkers")))
	}
	return out
}

func checkerName(r models.Result) string {
	if r.Model != "" {
		return r.Checker + " (" + r.Model + ")"
	}
	return r.Checker
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func headline(s Summary, faults int, d time.Duration) string {
	parts := []string{fmt.Sprintf("%d client ops", s.Ops)}
	if s.Ops > 0 {
		parts = append(parts, fmt.Sprintf("%.1f%% ok", 100*float64(s.Outcomes.OK)/float64(s.Ops)))
	}
	parts = append(parts,
		fmt.Sprintf("%d fault %s", faults, plural(faults, "window", "windows")),
		fmt.Sprintf("%.1f ops/s", s.Overall.Throughput),
		"ran "+fmtDuration(d))
	return strings.Join(parts, " · ")
}

// indexLookup returns a function from a history index to its position in
// ops. Histories are normally dense (ops[i].Index == i); others fall back to
// a map built on first need.
func indexLookup(ops []history.Op) func(int64) (int, bool) {
	var byIndex map[int64]int
	return func(idx int64) (int, bool) {
		if idx >= 0 && idx < int64(len(ops)) && ops[idx].Index == idx {
			return int(idx), true
		}
		if byIndex == nil {
			byIndex = make(map[int64]int, len(ops))
			for i, op := range ops {
				byIndex[op.Index] = i
			}
		}
		i, ok := byIndex[idx]
		return i, ok
	}
}

// anomalyRows resolves an anomaly's ops in the history and finds the fault
// windows overlapping their time span (pending ops span to end, the time of
// the history's last op).
func anomalyRows(a models.Anomaly, ops []history.Op, opers []operation, at []int, lookup func(int64) (int, bool), windows []history.Window, end int64, nodes []string) anomalyView {
	av := anomalyView{Anomaly: a, At: fmtSecs(a.Time)}
	var link []string
	for _, idx := range a.Ops[:min(len(a.Ops), maxLinkedOps)] {
		link = append(link, strconv.FormatInt(idx, 10))
	}
	av.OpsLink = strings.Join(link, ",")
	lo, hi, found := a.Time, a.Time, false
	span := func(s, e int64) {
		if !found {
			lo, hi, found = s, e, true
			return
		}
		lo, hi = min(lo, s), max(hi, e)
	}
	done := map[int]bool{}
	for _, idx := range a.Ops {
		pos, ok := lookup(idx)
		if !ok {
			av.Missing = append(av.Missing, idx)
			continue
		}
		if j := at[pos]; j >= 0 {
			if done[j] {
				continue
			}
			done[j] = true
			o := opers[j]
			if o.pending() {
				span(o.start, end)
			} else {
				span(o.start, o.end)
			}
			if len(av.Rows) < maxAnomalyOps {
				av.Rows = append(av.Rows, operationRow(ops, o))
			} else {
				av.MoreOps++
			}
			continue
		}
		op := ops[pos]
		span(op.Time, op.Time)
		if len(av.Rows) < maxAnomalyOps {
			av.Rows = append(av.Rows, rawRow(op))
		} else {
			av.MoreOps++
		}
	}
	av.Span = fmt.Sprintf("from=%.6f&to=%.6f&at=%.6f", secs(lo), secs(hi), secs(min(max(a.Time, lo), hi)))
	for _, w := range windows {
		if w.Start <= hi && w.End >= lo {
			f := strings.Join(append([]string{w.Kind}, w.Nodes...), " ") + " " + fmtSecs(w.Start) + "–" + fmtSecs(w.End)
			if w.Open {
				f += " (not healed)"
			}
			av.Faults = append(av.Faults, activeFault{Text: f, Map: partitionMapOf(w, nodes)})
		}
	}
	if n := len(a.Cycle); n >= 2 && n == len(a.Ops) && n <= maxCycleTxns {
		rows := make(map[int64]opRow, n)
		for _, idx := range a.Ops {
			pos, ok := lookup(idx)
			if !ok {
				continue
			}
			if j := at[pos]; j >= 0 {
				rows[idx] = operationRowN(ops, opers[j], maxTooltipValue)
			} else {
				rows[idx] = rawRow(ops[pos])
			}
		}
		av.Cycle = cycleSVG(a.Kind, cycleTxns(a, rows), a.Cycle)
	}
	return av
}

func operationRow(ops []history.Op, o operation) opRow {
	return operationRowN(ops, o, maxValueLength)
}

// operationRowN is operationRow with values cut to n characters.
func operationRowN(ops []history.Op, o operation, n int) opRow {
	inv := ops[o.inv]
	r := opRow{
		Index: inv.Index, Process: inv.Process.String(), F: inv.F, Key: inv.Key, Node: inv.Node,
		Invoked: fmtSecs(o.start), Value: fmtValueN(inv.Value, n), Outcome: "pending", Class: "pending",
	}
	if o.pending() {
		return r
	}
	c := ops[o.comp]
	r.Completed, r.Latency = fmtSecs(o.end), fmtDuration(o.latency())
	r.Outcome, r.Class, r.Error = string(c.Type), string(c.Type), c.Error
	if cv := fmtValueN(c.Value, n); cv != "" && cv != r.Value {
		if r.Value == "" {
			r.Value = "→ " + cv
		} else {
			r.Value += " → " + cv
		}
	}
	if r.Node == "" {
		r.Node = c.Node
	}
	return r
}

func rawRow(op history.Op) opRow {
	return opRow{
		Index: op.Index, Process: op.Process.String(), F: op.F, Key: op.Key, Node: op.Node,
		Invoked: fmtSecs(op.Time), Outcome: string(op.Type), Class: string(op.Type),
		Value: fmtValue(op.Value), Error: op.Error,
	}
}

func newArtifact(dir runFiles, p string) artifact {
	return artifact{Path: p, Href: dir.href(p), Missing: !dir.exists(p)}
}

// fmtValue renders an op value or fault description compactly.
func fmtValue(v any) string { return fmtValueN(v, maxValueLength) }

// fmtValueN renders v cut to n characters.
func fmtValueN(v any, n int) string {
	var s string
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		s = x
	default:
		b, err := json.Marshal(x)
		if err != nil {
			s = fmt.Sprint(x)
		} else {
			s = string(b)
		}
	}
	if r := []rune(s); len(r) > n {
		s = string(r[:n-1]) + "…"
	}
	return s
}

// fmtSecs renders a history time as seconds since the run started.
func fmtSecs(ns int64) string { return fmt.Sprintf("%.3fs", float64(ns)/1e9) }

// fmtDuration renders d with three significant digits or so.
func fmtDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d.Nanoseconds())
	case d < time.Millisecond:
		return trimZero(fmt.Sprintf("%.1f", float64(d)/1e3)) + "µs"
	case d < 10*time.Millisecond:
		return trimZero(fmt.Sprintf("%.2f", float64(d)/1e6)) + "ms"
	case d < time.Second:
		return trimZero(fmt.Sprintf("%.1f", float64(d)/1e6)) + "ms"
	case d < time.Minute:
		return trimZero(fmt.Sprintf("%.2f", d.Seconds())) + "s"
	}
	return d.Round(time.Second).String()
}

func trimZero(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
