package reports

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/rundir"
	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// synth is a synthetic register history: workers clients doing perWorker
// ops each, 2ms apiece with 8ms think time, except that ops overlapping a
// fault window take 8ms and writes in it fail. Worker 1's 20th op times
// out (info, 500ms) and the worker goes on as a new process. One partition
// of n1 from n2, n3 runs from 1s to 2s. A big history also has a kill
// window every 10s and log-normally jittered latencies.
func synth(workers, perWorker int, big bool) []history.Op {
	rng := rand.New(rand.NewPCG(1, 2))
	type win struct{ s, e int64 }
	wins := []win{{1000 * ms, 2000 * ms}}
	var ops []history.Op
	ops = append(ops,
		history.Op{Time: 1000 * ms, Type: history.Invoke, Process: history.Nuker, F: "start-partition"},
		history.Op{Time: 1000*ms + ms/2, Type: history.Info, Process: history.Nuker, F: "start-partition",
			Nodes: []string{"n1", "n2", "n3"}, Value: map[string][]string{"n1": {"n2", "n3"}, "n2": {"n1"}, "n3": {"n1"}}},
		history.Op{Time: 2000*ms - ms/2, Type: history.Invoke, Process: history.Nuker, F: "stop-partition"},
		history.Op{Time: 2000 * ms, Type: history.Info, Process: history.Nuker, F: "stop-partition", Nodes: []string{"n1", "n2", "n3"}},
	)
	if big {
		for s := int64(5000) * ms; s < int64(perWorker)*10*ms; s += 10000 * ms {
			wins = append(wins, win{s, s + 2000*ms})
			node := fmt.Sprintf("n%d", 1+(s/(10000*ms))%3)
			ops = append(ops,
				history.Op{Time: s, Type: history.Invoke, Process: history.Nuker, F: "start-kill"},
				history.Op{Time: s + ms, Type: history.Info, Process: history.Nuker, F: "start-kill", Nodes: []string{node}},
				history.Op{Time: s + 2000*ms - ms, Type: history.Invoke, Process: history.Nuker, F: "stop-kill"},
				history.Op{Time: s + 2000*ms, Type: history.Info, Process: history.Nuker, F: "stop-kill", Nodes: []string{node}},
			)
		}
	}
	inFault := func(s, e int64) bool {
		return slices.ContainsFunc(wins, func(w win) bool { return s <= w.e && e >= w.s })
	}
	fs := []string{"read", "write", "cas"}
	for w := range workers {
		p := w
		t := int64(w) * ms
		for k := range perWorker {
			f := fs[k%3]
			node := fmt.Sprintf("n%d", 1+(w+k)%3)
			inv := history.Op{Time: t, Type: history.Invoke, Process: history.Process(p), F: f, Key: "x", Node: node}
			if f == "write" {
				inv.Value = k
			}
			comp := inv
			comp.Type = history.OK
			l := 2 * ms
			if inFault(t, t+l) {
				l = 8 * ms
				if f == "write" {
					comp.Type, comp.Error = history.Fail, "no leader"
				}
			}
			if big {
				l = int64(float64(l) * math.Exp(0.6*rng.NormFloat64()))
			}
			if w == 1 && k == 20 {
				l = 500 * ms
				comp.Type, comp.Error = history.Info, "timeout"
			}
			if f == "read" && comp.Type == history.OK {
				comp.Value = k - 2
			}
			comp.Time = t + l
			ops = append(ops, inv, comp)
			if comp.Type == history.Info {
				p += workers
			}
			t += l + 8*ms
		}
	}
	slices.SortStableFunc(ops, func(a, b history.Op) int {
		switch {
		case a.Time < b.Time:
			return -1
		case a.Time > b.Time:
			return 1
		}
		return 0
	})
	for i := range ops {
		ops[i].Index = int64(i)
	}
	return ops
}

// opAt returns the index of the first op of process p with type typ at or
// after time t.
func opAt(ops []history.Op, p history.Process, typ history.Type, t int64) int64 {
	for _, op := range ops {
		if op.Process == p && op.Type == typ && op.Time >= t {
			return op.Index
		}
	}
	return -1
}

// runDir makes a run directory with node logs and a linearizability.html.
func runDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	var log strings.Builder
	for i := 1; i <= 120; i++ {
		fmt.Fprintf(&log, "n1 log line %d <tag>\n", i)
	}
	if err := os.MkdirAll(filepath.Join(dir, "nodes", "n1"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"nodes/n1/etcd.log":       log.String(),
		"nodes/n1/short.log":      "only line\n",
		"linearizability.html":    "<html></html>",
		"history.jsonl":           "",
		"nodes/n1/empty.log":      "",
		"nodes/n1/weird name.log": "x\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(name)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestWrite(t *testing.T) {
	ops := synth(3, 200, false)
	// The anomaly: a read during the partition and the write before it.
	read := opAt(ops, 0, history.Invoke, 1300*ms)
	write := opAt(ops, 2, history.OK, 900*ms)
	run := Run{
		Test: "etcd-register-partition", Target: "etcd", TargetVersion: "v3.5.17",
		TargetOpts: map[string]string{"serializable": "true"}, Workload: "register",
		Faults: []string{"partition"}, Nodes: []string{"n1", "n2", "n3"}, Concurrency: 3, Seed: 42,
		Started: time.Date(2025, 11, 24, 10, 0, 0, 0, time.UTC), Duration: 4 * time.Second,
	}
	linear := models.Result{Checker: "linearizable", Model: "cas-register", Verdict: models.Valid, DurationNS: 1e6,
		Stats: map[string]int64{"keys": 1}, Artifacts: []string{"linearizability.html"}}
	invalid := linear
	invalid.Verdict = models.Invalid
	invalid.Reason = "no linearization"
	invalid.Anomalies = []models.Anomaly{{
		Kind: "stale-read", Key: "x", Ops: []int64{read, write, read + 1, 99999},
		Explanation: "A read returned a value older than a write that completed before it began.",
		Time:        ops[write].Time,
	}}
	unknown := linear
	unknown.Verdict = models.Unknown
	unknown.Reason = "timed out <after 10s>"

	tests := []struct {
		name     string
		run      func(Run) Run
		results  []models.Result
		banner   string
		contains []string
		absent   []string
	}{
		{
			name:    "invalid",
			results: []models.Result{invalid},
			banner:  `<header class="banner invalid">`,
			contains: []string{
				"linearizable (cas-register): invalid, 1 anomaly (stale-read): no linearization",
				"stale-read",
				"A read returned a value older than a write that completed before it began.",
				"Faults active then: <strong>partition n1 n2 n3 1.000s–2.000s</strong>",
				"Ops not in the history: #99999",
			},
		},
		{
			name:     "valid",
			results:  []models.Result{linear},
			banner:   `<header class="banner valid">`,
			contains: []string{"1 of 1 checker valid."},
			absent:   []string{"Faults active then"},
		},
		{
			name: "interrupted with harness error",
			run: func(r Run) Run {
				r.Interrupted, r.HarnessError = true, "docker: <connection refused>"
				return r
			},
			results: []models.Result{unknown},
			banner:  `<header class="banner unknown">`,
			contains: []string{
				`<span class="tag">interrupted</span>`,
				"Harness error: docker: &lt;connection refused&gt;",
				"timed out &lt;after 10s&gt;",
			},
			absent: []string{"<connection refused>"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := runDir(t)
			r := run
			if tt.run != nil {
				r = tt.run(r)
			}
			in := Input{
				Run: r, Ops: ops, Results: tt.results,
				NodeLogs: map[string][]string{
					"n1": {"nodes/n1/etcd.log", "nodes/n1/short.log", "nodes/n1/empty.log", "nodes/n1/weird name.log"},
					"n2": {"nodes/n2/etcd.log"},
				},
				Artifacts: []string{"linearizability.html", "elle/"},
			}
			path := filepath.Join(dir, "report.html")
			if err := Write(path, in); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			html := string(b)
			if os.Getenv("FAULTLINE_REPORT_OUT") != "" {
				os.WriteFile(filepath.Join(os.Getenv("FAULTLINE_REPORT_OUT"), tt.name+".html"), b, 0o644)
			}
			common := []string{
				tt.banner,
				"etcd-register-partition", "v3.5.17", "serializable=true",
				"n1, n2, n3", "42",
				// Op counts: 100 of each f; writes in the partition fail;
				// one write times out.
				"<td>read</td>", "<td>write</td>", "<td>cas</td>",
				// The fault timeline.
				`<td class="n">1.000s</td><td class="n">2.000s</td><td class="n">1s</td>`,
				`{&#34;n1&#34;:[&#34;n2&#34;,&#34;n3&#34;]`,
				// Phase rows with their percentiles (healthy 2ms, partition 8ms).
				`<td class="n">2ms</td><td class="n">2ms</td><td class="n">2ms</td><td class="n">2ms</td>`,
				`<td class="n">8ms</td><td class="n">8ms</td><td class="n">8ms</td><td class="n">8ms</td>`,
				"<svg", "Latency (invocation to completion)", "Throughput: completions per second",
				// Logs: the last 50 lines, escaped; missing files noted.
				`href="nodes/n1/etcd.log"`, "n1 log line 120 &lt;tag&gt;", "last 50 lines",
				`href="nodes/n2/etcd.log">nodes/n2/etcd.log</a> <span class="muted">(missing)`,
				`href="nodes/n1/weird%20name.log"`,
				// Artifacts.
				`<a href="linearizability.html">linearizability.html</a>`,
				`<a href="elle/">elle/</a> <span class="muted">(missing)</span>`,
				`<a href="history.jsonl">`,
			}
			for _, s := range append(common, tt.contains...) {
				if !strings.Contains(html, s) {
					t.Errorf("report lacks %q", s)
				}
			}
			for _, s := range append([]string{"n1 log line 70 ", "ZgotmplZ", "<script", "<link", "@import"}, tt.absent...) {
				if strings.Contains(html, s) {
					t.Errorf("report contains %q", s)
				}
			}
			// Self-contained: nothing refers to the network.
			if m := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`).FindString(html); m != "" {
				t.Errorf("report refers to an external resource: %q", m)
			}
			if m := regexp.MustCompile(`(?i)(src|href)\s*=\s*"(https?:|//)`).FindString(html); m != "" {
				t.Errorf("report loads an external resource: %q", m)
			}
			// Atomic write: no temporary file left behind.
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if strings.HasSuffix(e.Name(), ".tmp") {
					t.Errorf("temporary file %s left behind", e.Name())
				}
			}
		})
	}
}

func TestSynthStats(t *testing.T) {
	s := Stats(synth(3, 200, false))
	if s.Ops != 600 {
		t.Errorf("ops = %d, want 600", s.Ops)
	}
	if s.Outcomes.Info != 1 || s.Outcomes.Pending != 0 {
		t.Errorf("outcomes = %+v, want 1 info, none pending", s.Outcomes)
	}
	if got := s.Outcomes.OK + s.Outcomes.Fail + s.Outcomes.Info; got != 600 {
		t.Errorf("completed = %d, want 600", got)
	}
	check := func(name string, l Latency, p50, p99, mx time.Duration) {
		t.Helper()
		if l.P50 != p50 || l.P99 != p99 || l.Max != mx {
			t.Errorf("%s latency = %+v, want p50 %v p99 %v max %v", name, l, p50, p99, mx)
		}
	}
	check("overall", s.Overall.Latency, 2*time.Millisecond, 8*time.Millisecond, 8*time.Millisecond)
	check("healthy", s.Healthy.Latency, 2*time.Millisecond, 2*time.Millisecond, 2*time.Millisecond)
	check("info", s.Overall.InfoLatency, 500*time.Millisecond, 500*time.Millisecond, 500*time.Millisecond)
	if len(s.Faults) != 1 || s.Faults[0].Name != "partition" {
		t.Fatalf("faults = %+v, want one partition phase", s.Faults)
	}
	p := s.Faults[0]
	check("partition", p.Latency, 8*time.Millisecond, 8*time.Millisecond, 8*time.Millisecond)
	if p.Time != time.Second {
		t.Errorf("partition time = %v, want 1s", p.Time)
	}
	// About 3 workers × 1 op per 16ms in the partition, 1 per 10ms outside
	// (less at the end, where worker 1 runs on alone after its timeout).
	if p.Throughput < 150 || p.Throughput > 200 {
		t.Errorf("partition throughput = %.1f, want ≈187", p.Throughput)
	}
	if s.Healthy.Throughput < 200 || s.Healthy.Throughput > 310 {
		t.Errorf("healthy throughput = %.1f, want 200 to 300", s.Healthy.Throughput)
	}
	if p.Completed.Fail == 0 || p.Completed.Fail != s.Outcomes.Fail {
		t.Errorf("partition fails = %d, all fails = %d; want all fails in the partition", p.Completed.Fail, s.Outcomes.Fail)
	}
}

func TestSampleOps(t *testing.T) {
	opers, _ := pairOps(synth(4, 10000, true))
	keep := sampleOps(opers, stride(seq(len(opers)), len(opers)), maxPoints)
	if len(keep) > maxPoints || len(keep) < maxPoints*9/10 {
		t.Errorf("kept %d of %d ops, want about %d", len(keep), len(opers), maxPoints)
	}
	var nonOK, kept int
	for _, o := range opers {
		if o.outcome != history.OK {
			nonOK++
		}
	}
	for _, i := range keep {
		if opers[i].outcome != history.OK {
			kept++
		}
	}
	if kept != min(nonOK, maxPoints/2) {
		t.Errorf("kept %d fail/info ops of %d, want all", kept, nonOK)
	}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func TestTailFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return name
	}
	src, err := rundir.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	long := strings.Repeat(strings.Repeat("x", 1000)+"\n", 1000) + "last\n"
	tests := []struct {
		name, body, wantEnd string
		n, wantLines        int
		wantSkipped         bool
	}{
		{"few", "a\nb\n", "a\nb", 5, 2, false},
		{"no newline", "a\nb", "a\nb", 5, 2, false},
		{"cut", "1\n2\n3\n4\n", "3\n4", 2, 2, true},
		{"empty", "", "", 5, 0, false},
		{"huge", long, "x\nlast", 3, 3, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tail, lines, skipped, err := tailFile(src, write(tt.name, tt.body), tt.n)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(tail, tt.wantEnd) || lines != tt.wantLines || skipped != tt.wantSkipped {
				t.Errorf("tail = %q…, %d lines, skipped %v; want …%q, %d, %v", tail[max(0, len(tail)-20):], lines, skipped, tt.wantEnd, tt.wantLines, tt.wantSkipped)
			}
		})
	}
	if _, _, _, err := tailFile(src, "nope", 5); !os.IsNotExist(err) {
		t.Errorf("missing file: err = %v, want not exist", err)
	}
}

// BenchmarkRender200k renders the report of a 200k-op history (100k client
// operations of 4 workers, a partition and kill windows every 10s).
func BenchmarkRender200k(b *testing.B) {
	ops := synth(4, 25000, true)
	dir := b.TempDir()
	var size int
	for b.Loop() {
		html, err := Render(dir, Input{Run: Run{Test: "bench"}, Ops: ops})
		if err != nil {
			b.Fatal(err)
		}
		size = len(html)
	}
	b.ReportMetric(float64(len(ops)), "ops")
	b.ReportMetric(float64(size)/1e6, "MB")
}

// BenchmarkStats200k computes the summary of the same history.
func BenchmarkStats200k(b *testing.B) {
	ops := synth(4, 25000, true)
	for b.Loop() {
		Stats(ops)
	}
}

func TestRenderEdgeCases(t *testing.T) {
	tests := []struct {
		name   string
		in     Input
		banner string
		want   string
	}{
		{"empty", Input{}, `<header class="banner unknown">`, "No checker ran."},
		{"nuker only, never healed", Input{Ops: hist(
			nk(0, history.Invoke, "start-pause"),
			nk(ms, history.Info, "start-pause", "n2"),
		), Verdict: models.Unknown}, `<header class="banner unknown">`, "<strong>not healed</strong>"},
		{"pending only", Input{Ops: hist(cl(0, history.Invoke, 0, "read")), Verdict: models.Valid}, `<header class="banner valid">`,
			`<td>read</td><td class="n">0</td><td class="n">0</td><td class="n">0</td><td class="n">1</td>`},
		{"instant ops", Input{Ops: hist(
			cl(0, history.Invoke, 0, "read"), cl(0, history.OK, 0, "read"),
			cl(0, history.Invoke, 1, "write"), cl(0, history.Fail, 1, "write"),
		), Results: []models.Result{{Checker: "c", Verdict: models.Invalid, Anomalies: []models.Anomaly{{Kind: "k", Ops: []int64{0, 1, 3}}}}}},
			`<header class="banner invalid">`, `<td class="n"><a href="history.html#op=2">2</a></td><td>1</td><td>write</td>`},
		{"sparse indexes", Input{Ops: []history.Op{
			{Index: 10, Time: 0, Type: history.Invoke, F: "read"},
			{Index: 12, Time: 5 * ms, Type: history.OK, F: "read", Value: 3},
		}, Results: []models.Result{{Checker: "c", Verdict: models.Invalid, Anomalies: []models.Anomaly{{Kind: "k", Ops: []int64{12}}}}}},
			`<header class="banner invalid">`, `<td class="n"><a href="history.html#op=10">10</a></td><td>0</td><td>read</td><td class="mono"></td><td class="mono">→ 3</td>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Render(t.TempDir(), tt.in)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range []string{tt.banner, tt.want} {
				if !strings.Contains(string(b), w) {
					t.Errorf("report lacks %q", w)
				}
			}
			if strings.Contains(string(b), "ZgotmplZ") {
				t.Error("report has a value html/template rejected")
			}
		})
	}
}

// TestRenderProperties: a checker's non-count findings (delivery guarantee,
// violated models, convergence time) appear next to its verdict.
func TestRenderProperties(t *testing.T) {
	in := Input{
		Verdict: models.Valid,
		Results: []models.Result{{Checker: "queue", Model: "queue", Verdict: models.Valid,
			Properties: map[string]string{"delivery": "at-least-once", "violates": "<none>"}}},
	}
	b, err := Render(t.TempDir(), in)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"delivery: <b>at-least-once</b>", "violates: <b>&lt;none&gt;</b>"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func TestClip(t *testing.T) {
	long := strings.Repeat("x", clipAt) + "<tail>" + strings.Repeat("y", 1000)
	tests := []struct {
		in         string
		want, lose string // substring wanted; substring that must not appear
	}{
		{"short <b>", "short &lt;b&gt;", "<details"},
		{long, `<details class="clip"><summary>… 1006 more characters</summary>&lt;tail&gt;`, "<tail>"},
	}
	for _, tt := range tests {
		got := string(clipHTML(tt.in))
		if !strings.Contains(got, tt.want) || strings.Contains(got, tt.lose) {
			t.Errorf("clipHTML(%.20q…) = %.200q…, want %q and not %q", tt.in, got, tt.want, tt.lose)
		}
	}
	if got := clipText(long); len([]rune(got)) > clipAt+40 || !strings.HasSuffix(got, "(1006 more characters)") {
		t.Errorf("clipText: %d runes, ends %q", len([]rune(got)), got[len(got)-30:])
	}
}
