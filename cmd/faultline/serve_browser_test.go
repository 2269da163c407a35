package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/faultline/faultline/harness"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/models/history"
)

// Hostile strings a target or a history file could carry.
const (
	evilKey   = `<script>window.__pwned=1</script>`
	evilValue = `"><img src=x onerror="window.__pwned=2">`
	evilError = `javascript:window.__pwned=3`
)

// browserRun stores a run of the register workload without Docker: a
// generated history (3 clients on keys "x" and a hostile key, a partition,
// a kill, primaries and clock offsets), node logs with hostile lines, then
// harness.Check runs the real checkers and writes results.json, report.html,
// the history and node logs views and porcupine's visualization. stale
// makes one read return an old value (an invalid run).
func browserRun(t *testing.T, store, test, stamp string, stale bool) string {
	t.Helper()
	dir := filepath.Join(store, test, stamp)
	if err := os.MkdirAll(filepath.Join(dir, "nodes"), 0o755); err != nil {
		t.Fatal(err)
	}
	spec := harness.DefaultSpec()
	spec.Test, spec.Nodes, spec.Concurrency, spec.Nemesis = test, 3, 3, []string{"partition", "kill"}
	spec.Store = store
	start, err := time.Parse(time.RFC3339, "2026-11-24T03:00:00Z")
	if err != nil {
		t.Fatal(err)
	}
	if stale {
		start = start.Add(time.Hour)
	}
	prev := harness.Results{Run: harness.RunInfo{Started: start, Duration: harness.Duration(6 * time.Second),
		Nodes: []string{"n1", "n2", "n3"}, TargetVersion: "3.6"}}
	for name, v := range map[string]any{harness.SpecFile: spec, harness.ResultsFile: prev} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	const ms = int64(time.Millisecond)
	var ops []history.Op
	nuker := func(at int64, typ history.Type, fn string, v any, nodes ...string) {
		ops = append(ops, history.Op{Time: at, Type: typ, Process: history.Nuker, F: fn, Value: v, Nodes: nodes})
	}
	nuker(0, history.Info, history.PrimariesF, []string{"n1"})
	nuker(1000*ms, history.Invoke, "start-partition", nil)
	nuker(1001*ms, history.Info, "start-partition", map[string][]string{"n1": {"n2", "n3"}}, "n1", "n2", "n3")
	nuker(1500*ms, history.Info, history.PrimariesF, []string{"n2"})
	nuker(1600*ms, history.Info, history.ClockOffsetsF, map[string]int{"n1": 0, "n2": -120, "n3": 300})
	nuker(2500*ms, history.Invoke, "stop-partition", nil)
	nuker(2501*ms, history.Info, "stop-partition", []string{"n1", "n2", "n3"}, "n1", "n2", "n3")
	nuker(3000*ms, history.Invoke, "start-kill", nil)
	nuker(3001*ms, history.Info, "start-kill", []string{"n3"}, "n3")
	nuker(3200*ms, history.Info, history.ClockOffsetsF, map[string]int{"n2": 0, "n3": 0})
	nuker(4000*ms, history.Invoke, "stop-kill", nil)
	nuker(4001*ms, history.Info, "stop-kill", []string{"n3"}, "n3")
	// Clients take turns, so the history is linearizable unless stale.
	last := map[string]int{}
	t0 := int64(5 * ms)
	for i := range 1200 {
		p := history.Process(i % 3)
		key := "x"
		if i%5 == 0 {
			key = evilKey
		}
		node := fmt.Sprintf("n%d", 1+i%3)
		inv := history.Op{Time: t0, Type: history.Invoke, Process: p, F: "read", Key: key, Node: node}
		done := inv
		done.Time, done.Type = t0+3*ms, history.OK
		switch {
		case i%4 == 1:
			inv.F, done.F, inv.Value, done.Value = "write", "write", i, i
			last[key] = i
		case i%97 == 0:
			done.Type, done.Error = history.Fail, evilError
		default:
			done.Value = last[key]
			if stale && i == 600 {
				done.Value = last[key] - 4
			}
		}
		ops = append(ops, inv, done)
		t0 += 5 * ms
	}
	writeHistoryFile(t, dir, ops)
	for _, n := range []string{"n1", "n2", "n3"} {
		var b strings.Builder
		for i := range 400 {
			fmt.Fprintf(&b, "2026-11-24T03:00:%02d %s raft: tick %d", i%60, n, i)
			if i%50 == 0 {
				b.WriteString(" " + evilKey + evilValue)
			}
			b.WriteByte('\n')
		}
		if err := os.MkdirAll(filepath.Join(dir, "nodes", n), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "nodes", n, "etcd.log"), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := harness.Check(context.Background(), dir, nil, time.Minute, nil); err != nil {
		t.Fatal(err)
	}
	return test + "/" + stamp
}

func sortByTime(ops []history.Op) {
	for i := 1; i < len(ops); i++ {
		for j := i; j > 0 && ops[j].Time < ops[j-1].Time; j-- {
			ops[j], ops[j-1] = ops[j-1], ops[j]
		}
	}
}

// TestBrowser loads the pages `faultline serve` serves (the index, a report,
// its history view and node logs view, a comparison) in headless Chromium
// on 127.0.0.1, checks their key elements, that the console has no errors
// and that no hostile value ran as script. FAULTLINE_SCREENSHOTS=DIR writes
// screenshots there (docs/img for the docs).
func TestBrowser(t *testing.T) {
	chromium := testenv.NeedChromium(t)
	began := time.Now()
	store := t.TempDir()
	valid := browserRun(t, store, "etcd-register", "20261124T030000Z", false)
	invalid := browserRun(t, store, "etcd-register-stale", "20261124T040000Z", true)
	pictures := picturesRun(t, store, "postgres-list-append", "20261124T060000Z")
	big, bigMid := bigRun(t, store, "etcd-register-big", "20261124T070000Z")
	t.Logf("four runs stored and three checked in %s", time.Since(began).Round(time.Millisecond))
	// A run directory from elsewhere whose report was altered to read the
	// store and run a planted script.
	tampered := browserRun(t, store, "etcd-register-tampered", "20261124T050000Z", false)
	if err := os.WriteFile(filepath.Join(store, tampered, "report.html"), []byte(`<!DOCTYPE html><title>t</title><script>
window.__tampered = String(window.origin);
fetch("/" + `+"`"+`${location.pathname.split("/")[1]}`+"`"+` + "/").then(() => { document.title = "read the store"; }, () => { document.title = "blocked"; });
var s = document.createElement("script"); s.src = "evil.js"; document.head.appendChild(s);
</script>`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(store, tampered, "evil.js"), []byte("window.__pwned = 4;"), 0o644); err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serveStore(sctx, ln, store) }()
	defer func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	base := "http://" + ln.Addr().String()

	shots := os.Getenv("FAULTLINE_SCREENSHOTS")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900),
		// Nothing but the server on 127.0.0.1 may be reached.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.Flag("proxy-server", "direct://"),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	ctx, cancelTime := context.WithTimeout(ctx, 90*time.Second)
	defer cancelTime()

	t0 := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	t.Logf("chromium started in %s", time.Since(t0).Round(time.Millisecond))
	var mu sync.Mutex
	var problems []string
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
				mu.Lock()
				problems = append(problems, m.String())
				mu.Unlock()
			}
		}
	}()

	run := func(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatal(err)
		}
	}
	eval := func(t *testing.T, expr string) bool {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v
	}
	count := func(t *testing.T, sel string) int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int]("document.querySelectorAll("+jsString(sel)+").length"))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	text := func(t *testing.T, expr string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v
	}
	shot := func(t *testing.T, name string) {
		t.Helper()
		if shots == "" {
			return
		}
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(shots, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// typeIn sets an input's value at once and fires the input event the
	// page listens to (typing key by key would filter at every key).
	typeIn := func(sel, v string) chromedp.Action[chromedp.Void] {
		return chromedp.Evaluate[chromedp.Void]("(() => { const el = document.querySelector(" + jsString(sel) + "); el.value = " +
			jsString(v) + "; el.dispatchEvent(new Event('input', {bubbles: true})); })()")
	}
	ready := chromedp.WaitVisible(chromedp.CSS(`body[data-ready="yes"]`))
	wait := func(expr string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(10*time.Second))
	}

	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"index", func(t *testing.T) {
			run(t, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("table")))
			body := text(t, "document.body.innerText")
			for _, want := range []string{"etcd-register-stale", "invalid", "valid"} {
				if !strings.Contains(body, want) {
					t.Errorf("index lacks %q", want)
				}
			}
			if n := count(t, "tbody tr"); n < 2 {
				t.Errorf("index shows %d rows, want the 2 runs", n)
			}
			shot(t, "index.png")
		}},
		{"report", func(t *testing.T) {
			run(t, chromedp.Navigate(base+"/"+invalid+"/report.html"), chromedp.WaitVisible(chromedp.CSS("header.banner")))
			if b := text(t, `document.querySelector("header.banner h1").textContent`); !strings.Contains(strings.ToLower(b), "invalid") {
				t.Errorf("banner %q, want invalid", b)
			}
			if count(t, `.anomaly a[href^="history.html#ops="]`) == 0 {
				t.Error("no anomaly links to its ops in the history view")
			}
			if count(t, `.anomaly a[href="linearizability.html"]`) == 0 {
				t.Error("no anomaly links to the porcupine visualization")
			}
			if n := count(t, `svg[aria-label="node timeline"], svg[aria-label="clock offsets"]`); n != 2 {
				t.Errorf("%d node timeline and clock plots, want 2", n)
			}
			run(t, chromedp.ScrollIntoView(chromedp.CSS("#nodes")))
		}},
		{"history view from an anomaly", func(t *testing.T) {
			run(t, chromedp.Click(chromedp.CSS(`.anomaly a[href^="history.html#ops="]`)), ready)
			if count(t, "#ops tbody tr.anomaly") == 0 {
				t.Error("the anomaly's history view highlights no anomaly op")
			}
			run(t, chromedp.Navigate(base+"/"+invalid+"/history.html"), ready)
			if n := count(t, "#ops tbody tr"); n != 200 {
				t.Errorf("first page has %d rows, want 200", n)
			}
			run(t,
				typeIn(`#filters input[name=process]`, "1"),
				typeIn(`#filters input[name=key]`, "x"),
				wait(`document.getElementById("status").textContent.includes("matching")`))
			if !eval(t, `Array.from(document.querySelectorAll("#ops tbody tr")).every(r => r.cells[1].textContent === "1" && r.cells[3].textContent === "x") && document.querySelectorAll("#ops tbody tr").length > 0`) {
				t.Error("the process and key filters show other rows, or none")
			}
			shot(t, "history-filter.png")
		}},
		{"hostile keys in the history view", func(t *testing.T) {
			run(t, chromedp.Navigate(base+"/"+valid+"/history.html"), ready,
				typeIn(`#filters input[name=key]`, evilKey),
				wait(`document.getElementById("status").textContent.includes("matching")`))
			if !eval(t, `document.querySelector("#ops tbody tr td.mono").textContent === `+jsString(evilKey)) {
				t.Error("the hostile key is not shown as text")
			}
		}},
		{"node logs", func(t *testing.T) {
			run(t, chromedp.Navigate(base+"/"+invalid+"/nodes.html#node-n2"), ready,
				typeIn(`#search input[name=q]`, "tick 12"),
				wait(`document.getElementById("count").textContent !== ""`))
			// tick 12 and ticks 120-129, on n2 only.
			c := text(t, `document.getElementById("count").textContent`)
			visible := count(t, "section.node:not([hidden])")
			if !strings.HasPrefix(c, "11 matching") || visible != 1 {
				t.Errorf("search count %q with %d nodes shown, want 11 matching lines on n2", c, visible)
			}
		}},
		{"porcupine visualization", func(t *testing.T) {
			// Its inline script draws the history into #canvas.
			run(t, chromedp.Navigate(base+"/"+invalid+"/linearizability.html"),
				wait(`document.querySelectorAll("#canvas svg *").length > 10`))
		}},
		{"stored pages are sandboxed", func(t *testing.T) {
			run(t, chromedp.Navigate(base+"/"+tampered+"/report.html"), wait(`document.title === "blocked" || document.title === "read the store"`))
			if o := text(t, "String(window.__tampered)"); o != "null" {
				t.Errorf("a stored page runs in origin %q, want an opaque one (null)", o)
			}
			if title := text(t, "document.title"); title != "blocked" {
				t.Errorf("a stored page could fetch from the store: %q", title)
			}
			time.Sleep(200 * time.Millisecond) // evil.js would have loaded
			mu.Lock()
			problems = nil // the blocked fetch and script are reported on the console
			mu.Unlock()
			run(t, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("table")))
			if o := text(t, "String(window.origin)"); o != base {
				t.Errorf("the index runs in origin %q, want %s", o, base)
			}
		}},
		{"pictures at 1400 px", func(t *testing.T) {
			run(t, chromedp.EmulateViewport(1400, 1000), chromedp.Navigate(base+"/"+pictures+"/report.html"), chromedp.WaitVisible(chromedp.CSS("header.banner")))
			defer run(t, chromedp.EmulateViewport(1280, 900))
			// size returns an element's rendered width and height, and the
			// smallest rendered height of a text in it (legibility).
			size := func(sel string) (w, h, minText float64) {
				v, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`(() => { const el = document.querySelector(`+jsString(sel)+`); if (!el) return [0, 0, 0];
					const r = el.getBoundingClientRect(); let m = 1e9;
					for (const tx of el.querySelectorAll("text")) { const h = tx.getBoundingClientRect().height; if (h > 0) m = Math.min(m, h); }
					return [r.width, r.height, m]; })()`))
				if err != nil {
					t.Fatal(err)
				}
				return v[0], v[1], v[2]
			}
			if n := count(t, `.anomaly svg.cycle`); n != 1 {
				t.Fatalf("%d cycle diagrams, want 1", n)
			}
			if n, e := count(t, `svg.cycle a.txn[href^="history.html#op="]`), count(t, `svg.cycle g.edge[data-rel="rw"] polygon.head`); n != 15 || e != 15 {
				t.Errorf("cycle diagram has %d linked transactions and %d rw arrows, want 15 and 15", n, e)
			}
			cw, ch, cm := size(`svg.cycle`)
			if cw < 300 || cw > 1000 || ch < 300 || cm < 9 {
				t.Errorf("cycle diagram %.0f×%.0f px, smallest text %.1f px", cw, ch, cm)
			}
			// Maps: each partition window in the fault table, and the
			// halves partition again in the anomaly's faults.
			if n, a := count(t, `table svg.pmap`), count(t, `.faults-active svg.pmap`); n != 2 || a != 1 {
				t.Errorf("%d partition maps in the fault table and %d in the anomaly, want 2 and 1", n, a)
			}
			if n := count(t, `svg.pmap g.oneway polygon.head`); n != 1 {
				t.Errorf("%d one-way arrows, want 1", n)
			}
			pw, ph, pm := size(`svg.pmap`)
			if pw < 100 || ph < 100 || pm < 9 {
				t.Errorf("partition map %.0f×%.0f px, smallest text %.1f px", pw, ph, pm)
			}
			// The timeline: a band per window and node, as wide as the
			// latency plot (the same time axis, see reports.TestFaultTimeline).
			if n := count(t, `svg.timeline a.band[href^="history.html#op="]`); n != 3+2+1+2 {
				t.Errorf("%d fault bands, want 8", n)
			}
			tw, th, tm := size(`svg.timeline`)
			lw, _, _ := size(`svg[aria-label="latency plot"]`)
			if tw < 1000 || tw != lw || th < 100 || tm < 10 {
				t.Errorf("timeline %.0f×%.0f px (latency plot %.0f wide), smallest text %.1f px", tw, th, lw, tm)
			}
			t.Logf("at 1400 px: cycle %.0f×%.0f (text ≥ %.1f px), partition map %.0f×%.0f (text ≥ %.1f px), timeline %.0f×%.0f (text ≥ %.1f px), latency plot %.0f wide",
				cw, ch, cm, pw, ph, pm, tw, th, tm, lw)
			for _, s := range []struct{ sel, name string }{{".anomaly", "pictures-cycle.png"}, {"svg.timeline", "pictures-timeline.png"}} {
				run(t, chromedp.ScrollIntoView(chromedp.CSS(s.sel)))
				shot(t, s.name)
			}
			// A band opens the history view at its fault's start.
			run(t, chromedp.Click(chromedp.CSS(`svg.timeline a.band[data-kind="kill"]`)), ready)
			if !eval(t, `location.hash.startsWith("#op=") && document.querySelectorAll("#ops tbody tr.target").length === 1`) {
				t.Errorf("a kill band opened %q without its op outlined", text(t, "location.href"))
			}
		}},
		{"resource charts at 1400 px", func(t *testing.T) {
			run(t, chromedp.EmulateViewport(1400, 1000), chromedp.Navigate(base+"/"+pictures+"/report.html"), chromedp.WaitVisible(chromedp.CSS("#resources")))
			defer run(t, chromedp.EmulateViewport(1280, 900))
			// Per row: its width, height, smallest text height and chart
			// titles; then the latency plot's width.
			v, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(() => { const out = [];
				for (const el of document.querySelectorAll(".plot.resources svg")) { const r = el.getBoundingClientRect(); let m = 1e9, titles = 0;
					for (const tx of el.querySelectorAll("text")) { const h = tx.getBoundingClientRect().height; if (h > 0) m = Math.min(m, h); if (/CPU|memory|network|block/.test(tx.textContent)) titles++; }
					out.push(el.getAttribute("aria-label") + " " + Math.round(r.width) + " " + Math.round(r.height) + " " + m.toFixed(1) + " " + titles); }
				out.push(String(Math.round(document.querySelector('svg[aria-label="latency plot"]').getBoundingClientRect().width)));
				return out; })()`))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("at 1400 px (label, width, height, smallest text, titles): %v", v)
			if len(v) != 4 {
				t.Fatalf("%d resource rows, want 3", len(v)-1)
			}
			for i, row := range v[:3] {
				var of string
				var w, h, titles int
				var minText float64
				if _, err := fmt.Sscanf(row, "resources of %s %d %d %g %d", &of, &w, &h, &minText, &titles); err != nil {
					t.Fatalf("%q: %v", row, err)
				}
				if want := fmt.Sprintf("n%d", i+1); of != want || fmt.Sprint(w) != v[3] || h < 200 || minText < 9 || titles != 4 {
					t.Errorf("row %d: %q; want %s's 4 charts as wide as the latency plot (%s), at least 200 px high, text at least 9 px", i, row, want, v[3])
				}
			}
			run(t, chromedp.ScrollIntoView(chromedp.CSS("#resources")))
			shot(t, "pictures-resources.png")
		}},
		{"by operation type and per node", func(t *testing.T) {
			run(t, chromedp.EmulateViewport(1400, 1000), chromedp.Navigate(base+"/"+invalid+"/report.html"), chromedp.WaitVisible(chromedp.CSS("header.banner")))
			defer run(t, chromedp.EmulateViewport(1280, 900))
			if n := count(t, `svg[aria-label="latency by type"], svg[aria-label="throughput by type"]`); n != 2 {
				t.Errorf("%d plots by operation type, want 2", n)
			}
			// read and write, each a row and a legend entry.
			if n := count(t, `#by-type + .plot .legend .item, h3#by-type ~ .scroll table tr td:first-child .swatch`); n < 4 {
				t.Errorf("%d legend entries and rows by type, want read and write in both", n)
			}
			if !eval(t, `document.getElementById("dd-setup") !== null || document.body.innerText.includes("before the first op")`) {
				t.Error("no setup time in What ran")
			}
			run(t, chromedp.ScrollIntoView(chromedp.CSS("#by-type")))
			shot(t, "pictures-by-type.png")
			// The partition cut n1 off: n1 alone in the minority, n2 and
			// n3 in the majority, not all shaded alike.
			sides := text(t, `Array.from(document.querySelectorAll("table.per-node tr[data-node]")).map(r => r.dataset.node + "=" + r.querySelector("td.side-major, td.side-minor").textContent.split(" {")[0]).join(" ")`)
			if sides != "n1=minority n2=majority n3=majority" {
				t.Errorf("per-node sides %q", sides)
			}
			if !eval(t, `Array.from(document.querySelectorAll("table.per-node tr[data-node]")).every(r => Number(r.cells[1].textContent) > 300)`) {
				t.Error("a node's row counts no ops")
			}
			run(t, chromedp.ScrollIntoView(chromedp.CSS("#per-node")))
			shot(t, "pictures-per-node.png")
		}},
		{"timeline from an anomaly", func(t *testing.T) {
			run(t, chromedp.EmulateViewport(1400, 1000), chromedp.Navigate(base+"/"+invalid+"/report.html"), chromedp.WaitVisible(chromedp.CSS("header.banner")))
			defer run(t, chromedp.EmulateViewport(1280, 900))
			run(t, chromedp.Click(chromedp.CSS(`.anomaly a.timeline-link`)), ready)
			bars, marked := count(t, `#plot a.op rect`), count(t, `#plot a.op.hl`)
			if bars < 10 || bars > 500 || marked == 0 {
				t.Errorf("timeline draws %d ops, %d of the anomaly's", bars, marked)
			}
			if !eval(t, `document.querySelector("#plot svg").getBoundingClientRect().width >= 1000`) {
				t.Error("the timeline is narrower than 1000 px at 1400")
			}
			shot(t, "pictures-timeline-view.png")
			link := text(t, "location.href")
			// A bar opens the history view at its op.
			run(t, chromedp.Click(chromedp.CSS(`#plot a.op.hl`)), ready)
			if !eval(t, `location.pathname.endsWith("history.html") && document.querySelectorAll("#ops tbody tr.target").length === 1`) {
				t.Errorf("a timeline bar opened %q without its op outlined", text(t, "location.href"))
			}
			// Zooming in draws fewer.
			run(t, chromedp.Navigate(link), ready, chromedp.Click(chromedp.CSS(`button[data-act="in"]`)),
				wait(`document.body.dataset.ready === "yes" && document.querySelectorAll("#plot a.op rect").length < `+strconv.Itoa(bars)))
		}},
		{"timeline of a large history", func(t *testing.T) {
			// The whole run asked for: at most 5 of its 8 data files load
			// and at most 500 ops are drawn.
			run(t, chromedp.Navigate(base+"/"+big+"/timeline.html#from=0&to=20&span=0"), ready)
			bars := count(t, `#plot a.op rect`)
			files, err := chromedp.Run(ctx, chromedp.Evaluate[int](`performance.getEntriesByType("resource").filter(e => e.name.includes("/history/ops-")).length`))
			if err != nil {
				t.Fatal(err)
			}
			status := text(t, `document.getElementById("status").textContent`)
			// Narrowed around the middle, 10 s, not from one end.
			if bars == 0 || bars > 500 || files > 5 || !strings.Contains(status, "narrowed") || !strings.Contains(status, "from 9.") {
				t.Errorf("whole large run: %d ops drawn from %d data files, status %q", bars, files, status)
			}
			// An anomaly's link in the middle: its op drawn, outlined.
			run(t, chromedp.Navigate(base+"/"+big+"/timeline.html#from=10&to=10.002&at=10&ops="+strconv.FormatInt(bigMid, 10)), ready)
			if n := count(t, `#plot a.op.hl[data-inv="`+strconv.FormatInt(bigMid, 10)+`"]`); n != 1 || count(t, `#plot a.op rect`) > 500 {
				t.Errorf("the op at 10 s outlined %d times among %d ops", n, count(t, `#plot a.op rect`))
			}
			t.Logf("large history: %d ops drawn from %d data files (%s)", bars, files, status)
		}},
		{"node logs with fault marks", func(t *testing.T) {
			run(t, chromedp.Navigate(base+"/"+valid+"/nodes.html#node-n3"), ready)
			// n3: the partition (start, end) and its kill (start, end).
			marks := text(t, `Array.from(document.querySelectorAll("#node-n3 pre.log .mark")).map(m => m.textContent.trim().split("  ")[1]).join(" | ")`)
			want := "fault starts: partition: not heard by n1 | fault ends: partition | fault starts: kill | fault ends: kill (process restarted)"
			if marks != want {
				t.Errorf("n3's marks %q, want %q", marks, want)
			}
			if n := count(t, "#node-n1 pre.log .mark"); n != 2 {
				t.Errorf("n1 has %d marks, want the partition's 2", n)
			}
			shot(t, "pictures-node-marks.png")
			run(t, chromedp.Click(chromedp.CSS(`#search input[name=marks]`)), wait(`document.querySelectorAll("pre.log .mark").length === 0`))
		}},
		{"compare", func(t *testing.T) {
			run(t, chromedp.Navigate(base+"/compare?a="+valid+"&b="+invalid), chromedp.WaitVisible(chromedp.CSS("table")))
			body := text(t, "document.body.innerText")
			if !strings.Contains(body, "etcd-register-stale") || !strings.Contains(body, "invalid") {
				t.Errorf("comparison lacks the runs or verdicts: %.300s", body)
			}
			shot(t, "compare.png")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			problems = nil
			mu.Unlock()
			t1 := time.Now()
			tc.run(t)
			if eval(t, "window.__pwned !== undefined") {
				t.Error("a hostile value ran as script")
			}
			time.Sleep(50 * time.Millisecond) // let the console catch up
			mu.Lock()
			defer mu.Unlock()
			for _, p := range problems {
				t.Errorf("console: %s", p)
			}
			t.Logf("%s in %s", tc.name, time.Since(t1).Round(time.Millisecond))
		})
	}
	t.Logf("browser test took %s", time.Since(began).Round(time.Millisecond))
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// writeHistoryFile writes ops, sorted by time, as dir's history.jsonl of a
// run that finished.
func writeHistoryFile(t *testing.T, dir string, ops []history.Op) {
	t.Helper()
	sortByTime(ops)
	if err := history.WriteFile(filepath.Join(dir, harness.HistoryFile), ops); err != nil {
		t.Fatal(err)
	}
}
