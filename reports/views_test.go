package reports

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// Hostile strings for keys, values, errors, node names and log lines.
const (
	evilScript = `<script>window.__pwned=1</script>`
	evilImg    = `"><img src=x onerror="window.__pwned=2">`
	evilLink   = `javascript:window.__pwned=3`
)

// withNodeInfo adds primaries and clock-offsets ops to ops (re-indexed):
// n1 leads until 1.5s, nobody until 1.8s, then n2; n3's clock is bumped by
// 250ms at 1s and back at 2s.
func withNodeInfo(ops []history.Op) []history.Op {
	add := []history.Op{
		{Time: 0, Type: history.Info, Process: history.Nuker, F: history.PrimariesF, Value: []string{"n1"}},
		{Time: 1500 * ms, Type: history.Info, Process: history.Nuker, F: history.PrimariesF, Value: []any{}},
		{Time: 1800 * ms, Type: history.Info, Process: history.Nuker, F: history.PrimariesF, Value: []any{"n2"}},
		{Time: 1000 * ms, Type: history.Info, Process: history.Nuker, F: history.ClockOffsetsF,
			Value: map[string]any{"n1": 0, "n2": json.Number("0"), "n3": 250.0}},
		{Time: 2000 * ms, Type: history.Info, Process: history.Nuker, F: history.ClockOffsetsF,
			Value: map[string]int64{"n3": 0}},
	}
	out := append(slices.Clone(ops), add...)
	slices.SortStableFunc(out, func(a, b history.Op) int { return int(a.Time - b.Time) })
	for i := range out {
		out[i].Index = int64(i)
	}
	return out
}

func TestHistoryRows(t *testing.T) {
	ops := hist(
		nk(0, history.Invoke, "start-kill"),
		cl(1*ms, history.Invoke, 0, "read"),
		nk(2*ms, history.Info, "start-kill", "n2"),
		history.Op{Time: 3 * ms, Type: history.Info, Process: history.Nuker, F: history.PrimariesF, Value: []string{"n1"}},
		cl(4*ms, history.OK, 0, "read"),
		cl(5*ms, history.Invoke, 1, "write"),
	)
	rows := historyRows(ops)
	type got struct {
		inv, comp        int64
		f, outcome, node string
	}
	var gs []got
	for _, r := range rows {
		gs = append(gs, got{r.inv, r.comp, r.f, r.outcome, r.node})
	}
	want := []got{
		{0, 2, "start-kill", "nuker", "n2"},
		{1, 4, "read", "ok", ""},
		{3, -1, "primaries", "nuker", ""},
		{5, -1, "write", "pending", ""},
	}
	if !slices.Equal(gs, want) {
		t.Errorf("rows\n got %v\nwant %v", gs, want)
	}
}

func TestNodeFacts(t *testing.T) {
	ops := withNodeInfo(synth(3, 800, true))
	nf := collectNodeFacts(ops, history.FaultWindows(ops), []string{"n1", "n2", "n3"})
	if !slices.Equal(nf.Nodes, []string{"n1", "n2", "n3"}) {
		t.Errorf("nodes %v", nf.Nodes)
	}
	if p := nf.Primary["n1"]; len(p) != 1 || p[0] != [2]int64{0, 1500 * ms} {
		t.Errorf("n1 primary %v, want 0–1.5s", p)
	}
	if p := nf.Primary["n2"]; len(p) != 1 || p[0][0] != 1800*ms || p[0][1] != nf.End {
		t.Errorf("n2 primary %v, want 1.8s–end", p)
	}
	if c := nf.Clock["n3"]; len(c) != 2 || c[0].Y != 250 || c[1].Y != 0 {
		t.Errorf("n3 clock %v", c)
	}
	if len(nf.Clock["n1"]) != 1 || len(nf.Restarts) == 0 {
		t.Errorf("n1 clock %v, restarts %v", nf.Clock["n1"], nf.Restarts)
	}
	if len(nf.Faults["n1"]) < 2 {
		t.Errorf("n1 faults %d, want the partition and a kill", len(nf.Faults["n1"]))
	}
}

// TestNodeFactsVersions: a node's move onto another release (an upgrade
// fault's version op) marks a restart of that node only.
func TestNodeFactsVersions(t *testing.T) {
	ops := []history.Op{
		{Index: 0, Time: 1 * ms, Type: history.Invoke, Process: history.Nuker, F: "start-upgrade", Nodes: []string{"n1", "n2"}},
		{Index: 1, Time: 2 * ms, Type: history.Info, Process: history.Nuker, F: history.VersionF, Nodes: []string{"n2"},
			Value: map[string]any{"node": "n2", "from": "v3.6.16", "to": "v3.7.3"}},
		{Index: 2, Time: 3 * ms, Type: history.Info, Process: history.Nuker, F: "start-upgrade", Nodes: []string{"n1", "n2"}},
	}
	nf := collectNodeFacts(ops, history.FaultWindows(ops), []string{"n1", "n2"})
	if !slices.Equal(nf.Restarts["n2"], []int64{2 * ms}) || len(nf.Restarts["n1"]) != 0 {
		t.Errorf("restarts %v, want n2 at 2ms only", nf.Restarts)
	}
}

// demoInput is a run with an anomaly, a porcupine artifact, node info ops
// and node logs; hostile puts attacker-controlled strings everywhere a
// target or history file can put them.
func demoInput(t *testing.T, dir string, ops []history.Op, hostile bool) Input {
	t.Helper()
	node1 := "n1"
	if hostile {
		for i := range ops {
			if ops[i].IsClient() && i%7 == 0 {
				ops[i].Key, ops[i].Value, ops[i].Error = evilScript, evilImg, evilLink
			}
		}
		ops = append(ops, history.Op{Index: int64(len(ops)), Time: ops[len(ops)-1].Time, Type: history.Info,
			Process: history.Nuker, F: history.PrimariesF, Value: []string{evilScript}})
		ops = append(ops, history.Op{Index: int64(len(ops)), Time: ops[len(ops)-1].Time, Type: history.Info,
			Process: history.Nuker, F: history.ClockOffsetsF, Value: map[string]any{evilImg: 12}})
		node1 = evilImg
	}
	logs := map[string][]string{}
	for _, n := range []string{node1, "n2"} {
		rel := "nodes/" + n + "/db.log"
		if hostile {
			rel = "nodes/" + "n-hostile" + "/" + evilLink + ".log"
		}
		var b strings.Builder
		for i := range 300 {
			fmt.Fprintf(&b, "%s line %d %s\n", n, i, map[bool]string{true: evilScript + evilImg, false: "raft tick"}[hostile && i%10 == 0])
		}
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		logs[n] = append(logs[n], rel)
	}
	if err := os.WriteFile(filepath.Join(dir, "linearizability.html"), []byte("<html></html>"), 0o644); err != nil {
		t.Fatal(err)
	}
	title := "demo"
	if hostile {
		title = evilScript
	}
	read := opAt(ops, 0, history.Invoke, 1300*ms)
	return Input{
		Run: Run{Test: title, Target: "etcd", Workload: "register", Nodes: []string{node1, "n2", "n3"}, Faults: []string{"partition", "kill"}},
		Ops: ops,
		Results: []models.Result{{Checker: "linearizable", Model: "register", Verdict: models.Invalid,
			Artifacts: []string{"linearizability.html"},
			Anomalies: []models.Anomaly{{Kind: "nonlinearizable", Key: "x", Time: 1300 * ms, Ops: []int64{read, read + 1}, Explanation: "a stale read"}}}},
		NodeLogs: logs,
	}
}

func TestWriteViews(t *testing.T) {
	dir := t.TempDir()
	in := demoInput(t, dir, withNodeInfo(synth(3, 800, true)), false)
	if err := Write(filepath.Join(dir, "report.html"), in); err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	report := read("report.html")
	for _, want := range []string{
		`href="history.html#ops=`, `href="history.html#op=`, `<a href="linearizability.html">porcupine visualization</a>`,
		`<h2 id="nodes">Nodes</h2>`, `aria-label="node timeline"`, `aria-label="clock offsets"`,
		`<a href="nodes.html#node-n1">n1</a>`, "primary / leader", `<td class="n">1.800s</td><td>n2</td>`,
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	hv := read(HistoryViewFile)
	for _, want := range []string{`"chunks":1`, `"fs":["cas","clock-offsets","primaries","read","start-kill","start-partition"`, `#1: nonlinearizable on x"`} {
		if !strings.Contains(hv, want) {
			t.Errorf("history.html lacks %q", want)
		}
	}
	chunk := read("history/ops-0000.js")
	if !strings.HasPrefix(chunk, "faultlineHistory.chunk(0,{") {
		t.Errorf("chunk starts %q", chunk[:min(len(chunk), 40)])
	}
	nv := read(NodeLogsViewFile)
	for _, want := range []string{`id="node-n1"`, `"path":"nodes/n1/db.log"`, `n2 line 299 raft tick`} {
		if !strings.Contains(nv, want) {
			t.Errorf("nodes.html lacks %q", want)
		}
	}

	// Without node info ops there is no clock plot and roles are "not recorded";
	// rendering again replaces the data files.
	in.Ops = synth(3, 30, false)
	if err := Write(filepath.Join(dir, "report.html"), in); err != nil {
		t.Fatal(err)
	}
	report = read("report.html")
	if _, err := os.Stat(filepath.Join(dir, "history", "ops-0001.js")); err == nil {
		t.Error("a data file of the earlier rendering is left behind")
	}
	if strings.Contains(report, `aria-label="clock offsets"`) || !strings.Contains(report, "primary / leader (not recorded)") {
		t.Error("report of a history without node info shows clock offsets or roles")
	}
}

func TestWriteEmpty(t *testing.T) {
	dir := t.TempDir()
	if err := Write(filepath.Join(dir, "report.html"), Input{}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, HistoryViewFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"rows":0,"chunkRows":5000,"chunks":0,"firstInv":[],"firstT":[],"fs":[],"nodes":[]`) {
		t.Errorf("history view of an empty history: %s", b)
	}
}

// TestHostileViews: values from a target or a history file (keys, values,
// errors, node names, log lines, the test name) never become markup, script
// or links in the report, the history view, the node logs view or the
// timeline. The browser test in cmd/faultline runs the same pages.
func TestHostileViews(t *testing.T) {
	dir := t.TempDir()
	in := demoInput(t, dir, withNodeInfo(synth(3, 800, true)), true)
	if err := Write(filepath.Join(dir, "report.html"), in); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		scripts int // the page's own script elements
	}{
		{"report.html", 0},
		{HistoryViewFile, 2},
		{NodeLogsViewFile, 2},
		{TimelineViewFile, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(tc.name)))
			if err != nil {
				t.Fatal(err)
			}
			scripts := 0
			z := html.NewTokenizer(strings.NewReader(string(b)))
			for {
				tt := z.Next()
				if tt == html.ErrorToken {
					break
				}
				if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
					continue
				}
				tok := z.Token()
				switch tok.Data {
				case "script":
					scripts++
					for _, a := range tok.Attr {
						if a.Key == "src" {
							t.Errorf("script element loads %s", a.Val)
						}
					}
				case "img", "iframe", "object", "embed", "link", "base", "meta":
					if tok.Data != "meta" || slices.ContainsFunc(tok.Attr, func(a html.Attribute) bool { return a.Key == "http-equiv" }) {
						t.Errorf("element %s from a hostile value", tok)
					}
				}
				for _, a := range tok.Attr {
					if strings.HasPrefix(a.Key, "on") {
						t.Errorf("event handler attribute in %s", tok)
					}
					if u := strings.ToLower(strings.TrimSpace(a.Val)); (a.Key == "href" || a.Key == "src" || a.Key == "xlink:href") &&
						(strings.HasPrefix(u, "javascript:") || strings.HasPrefix(u, "data:")) {
						t.Errorf("%s leads to %s", a.Key, a.Val)
					}
				}
			}
			if scripts != tc.scripts {
				t.Errorf("%d script elements, want %d (data must be escaped)", scripts, tc.scripts)
			}
		})
	}
	// The history data cannot end a script or be read as markup: every <
	// and > of a value is JSON-escaped.
	chunks, _ := filepath.Glob(filepath.Join(dir, "history", "ops-*.js"))
	for _, c := range chunks {
		b, err := os.ReadFile(c)
		if err != nil {
			t.Fatal(err)
		}
		if strings.ContainsAny(string(b), "<>") {
			t.Errorf("%s has a raw < or >", filepath.Base(c))
		}
	}
	// The hostile strings are there, as text.
	report, _ := os.ReadFile(filepath.Join(dir, "report.html"))
	if !strings.Contains(string(report), "&lt;script&gt;window.__pwned=1&lt;/script&gt;") {
		t.Error("report.html does not show the hostile key as text")
	}
	chunk, _ := os.ReadFile(filepath.Join(dir, "history", "ops-0000.js"))
	if !strings.Contains(string(chunk), `\u003cscript\u003ewindow.__pwned=1\u003c/script\u003e`) {
		t.Error("the history data does not carry the hostile key, JSON-escaped")
	}
}

// TestReport1M renders the report and the history view of a generated
// history of a million ops and reports time and page weight (see
// docs/reports.md). The latency scatter stays sampled and small.
func TestReport1M(t *testing.T) {
	if testing.Short() {
		t.Skip("1M-op report skipped with -short")
	}
	ops := withNodeInfo(synth(4, 125000, true))
	dir := t.TempDir()
	in := Input{Run: Run{Test: "1M", Nodes: []string{"n1", "n2", "n3"}}, Ops: ops,
		Results: []models.Result{{Checker: "linearizable", Verdict: models.Invalid,
			Anomalies: []models.Anomaly{{Kind: "k", Ops: []int64{10, 11, 500000, 999999}}}}}}
	t0 := time.Now()
	if err := Write(filepath.Join(dir, "report.html"), in); err != nil {
		t.Fatal(err)
	}
	took := time.Since(t0)
	report, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	hv, _ := os.Stat(filepath.Join(dir, HistoryViewFile))
	tv, _ := os.Stat(filepath.Join(dir, TimelineViewFile))
	chunks, _ := filepath.Glob(filepath.Join(dir, "history", "ops-*.js"))
	var data, biggest int64
	for _, c := range chunks {
		fi, err := os.Stat(c)
		if err != nil {
			t.Fatal(err)
		}
		data += fi.Size()
		biggest = max(biggest, fi.Size())
	}
	var svgs []int
	for _, m := range regexp.MustCompile(`(?s)<svg.*?</svg>`).FindAllString(string(report), -1) {
		svgs = append(svgs, len(m))
	}
	t.Logf("%d ops: report.html %d bytes (SVGs %v), history.html %d bytes, timeline.html %d bytes, %d data files %d bytes (largest %d), written in %s",
		len(ops), len(report), svgs, hv.Size(), tv.Size(), len(chunks), data, biggest, took.Round(10*time.Millisecond))
	if len(report) > 1<<20 {
		t.Errorf("report.html is %d bytes at 1M ops, want under 1 MiB", len(report))
	}
	for _, n := range svgs {
		if n > 700<<10 {
			t.Errorf("an SVG of %d bytes: downsampling does not keep plots small", n)
		}
	}
	if hv.Size() > 64<<10 || tv.Size() > 64<<10 || biggest > 1<<20 {
		t.Errorf("history.html %d bytes, timeline.html %d, largest data file %d: pages must stay light", hv.Size(), tv.Size(), biggest)
	}
}
