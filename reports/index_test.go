package reports

import (
	"encoding/json"
	"html"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/models"
)

// fixtureRun describes a run directory to write into a test store.
type fixtureRun struct {
	rel     string
	spec    any    // marshalled to spec.json unless nil
	results any    // marshalled to results.json unless nil
	raw     string // written as results.json when set (corrupt files)
	report  bool   // write a report.html
}

// fixtureSpec is a spec.json as the harness writes it.
func fixtureSpec(test, target string, opts map[string]string, faults ...string) map[string]any {
	return map[string]any{
		"test": test, "target": target, "target_version": "v1.0.0", "target_opts": opts,
		"workload": "register", "nemesis": faults, "nemesis_interval": "3s", "nodes": 5,
		"concurrency": 10, "time_limit": "1m0s", "seed": 7,
	}
}

// fixtureResults is a results.json as the harness writes it.
func fixtureResults(test string, v models.Verdict, reason string, ops int, started time.Time, run map[string]any) map[string]any {
	if run == nil {
		run = map[string]any{}
	}
	run["started"] = started
	run["duration"] = "47.6s"
	run["target_version"] = "v1.0.0"
	stats := Summary{
		Ops:      ops,
		Outcomes: Counts{OK: ops - 10, Fail: 8, Info: 2},
		Overall:  Phase{Name: "overall", Throughput: 262.9, Completed: Counts{OK: ops - 10, Fail: 8, Info: 2}, Latency: Latency{N: ops, P50: 14 * time.Millisecond, P95: 60 * time.Millisecond, P99: 152 * time.Millisecond}},
		Healthy:  Phase{Name: "healthy", Throughput: 300, Completed: Counts{OK: 90, Fail: 10}, Latency: Latency{P99: 100 * time.Millisecond}},
		Faults:   []Phase{{Name: "partition", Windows: 2, Throughput: 150, Completed: Counts{OK: 40, Fail: 60}, Latency: Latency{P99: 2 * time.Second}}},
	}
	return map[string]any{
		"format": "faultline-results", "version": 1, "test": test, "verdict": v, "reason": reason,
		"results": []models.Result{{Checker: "linearizable", Model: "cas-register", Verdict: v, Reason: reason}},
		"stats":   stats, "run": run,
	}
}

// writeStore writes runs into a new temporary store and returns its path.
func writeStore(t *testing.T, runs []fixtureRun) string {
	t.Helper()
	store := t.TempDir()
	for _, r := range runs {
		dir := filepath.Join(store, filepath.FromSlash(r.rel))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		write := func(name string, b []byte) {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for name, v := range map[string]any{"spec.json": r.spec, "results.json": r.results} {
			if v == nil {
				continue
			}
			b, err := json.MarshalIndent(v, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			write(name, b)
		}
		if r.raw != "" {
			write("results.json", []byte(r.raw))
		}
		if r.report {
			write("report.html", []byte("<!DOCTYPE html><title>report</title>"))
		}
	}
	return store
}

var t0 = time.Date(2026, 11, 24, 2, 50, 40, 0, time.UTC)

// standardStore has a valid, an invalid, an unknown, an interrupted run and
// broken directories of several kinds, plus store/latest and stray entries.
func standardStore(t *testing.T) string {
	t.Helper()
	store := writeStore(t, []fixtureRun{
		{rel: "reg/20261124T025040Z", spec: fixtureSpec("reg", "etcd", map[string]string{"read": "linearizable"}, "partition"),
			results: fixtureResults("reg", models.Valid, "", 9808, t0, nil), report: true},
		{rel: "reg/20261124T035040Z", spec: fixtureSpec("reg", "etcd", nil, "partition", "kill"),
			results: fixtureResults("reg", models.Invalid, "62 of 66 keys are not linearizable", 13447, t0.Add(time.Hour), nil), report: true},
		{rel: "missing/20261124T045040Z", spec: fixtureSpec("missing", "etcd", nil, "kill"),
			results: fixtureResults("missing", models.Unknown, "", 0, t0.Add(2*time.Hour), map[string]any{"harness_error": "no such release v9"}), report: true},
		{rel: "int/20261124T055040Z", spec: fixtureSpec("int", "etcd", nil, "pause"),
			results: fixtureResults("int", models.Unknown, "the run was interrupted", 8416, t0.Add(3*time.Hour), map[string]any{"interrupted": true}), report: true},
		{rel: "corrupt/20261124T065040Z", spec: fixtureSpec("corrupt", "etcd", nil), raw: "{not json"},
		{rel: "partial/20261124T075040Z", spec: fixtureSpec("partial", "etcd", nil)},
		{rel: "future/20261124T085040Z", spec: fixtureSpec("future", "etcd", nil), raw: `{"format":"faultline-results","version":99}`},
		{rel: "empty/20261124T095040Z"},
		{rel: ".hidden/20261124T095040Z"},
	})
	if err := os.Symlink("reg/20261124T035040Z", filepath.Join(store, "latest")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(store, "stray.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	return store
}

func TestIndex(t *testing.T) {
	store := standardStore(t)
	entries, err := Index(store)
	if err != nil {
		t.Fatal(err)
	}
	byRel := map[string]RunEntry{}
	for _, e := range entries {
		if _, dup := byRel[e.Rel]; dup {
			t.Errorf("run %s listed twice", e.Rel)
		}
		byRel[e.Rel] = e
	}
	if len(entries) != 8 {
		t.Errorf("got %d entries, want 8 (latest and hidden skipped): %v", len(entries), byRel)
	}
	tests := []struct {
		rel         string
		verdict     models.Verdict
		ops         int
		interrupted bool
		problem     string // substring of Problem; "" = no problem
		report      bool
	}{
		{"reg/20261124T025040Z", models.Valid, 9808, false, "", true},
		{"reg/20261124T035040Z", models.Invalid, 13447, false, "", true},
		{"missing/20261124T045040Z", models.Unknown, 0, false, "", true},
		{"int/20261124T055040Z", models.Unknown, 8416, true, "", true},
		{"corrupt/20261124T065040Z", "", 0, false, "results.json", false},
		{"partial/20261124T075040Z", "", 0, false, "no results.json", false},
		{"future/20261124T085040Z", "", 0, false, "unknown format", false},
		{"empty/20261124T095040Z", "", 0, false, "spec.json", false},
	}
	for _, tc := range tests {
		t.Run(tc.rel, func(t *testing.T) {
			e, ok := byRel[tc.rel]
			if !ok {
				t.Fatalf("run not listed")
			}
			if e.Verdict != tc.verdict || e.Stats.Ops != tc.ops || e.Interrupted != tc.interrupted || e.HasReport != tc.report {
				t.Errorf("got verdict %q ops %d interrupted %v report %v, want %q %d %v %v",
					e.Verdict, e.Stats.Ops, e.Interrupted, e.HasReport, tc.verdict, tc.ops, tc.interrupted, tc.report)
			}
			if (tc.problem == "") != (e.Problem == "") || !strings.Contains(e.Problem, tc.problem) {
				t.Errorf("problem %q, want one containing %q", e.Problem, tc.problem)
			}
			if e.Started.IsZero() {
				t.Errorf("no start time (not even from the directory name)")
			}
		})
	}
	if e := byRel["reg/20261124T025040Z"]; e.Target != "etcd" || e.TargetVersion != "v1.0.0" || e.Workload != "register" ||
		strings.Join(e.Faults, ",") != "partition" || e.Duration != 47600*time.Millisecond || e.Stats.Overall.Latency.P99 != 152*time.Millisecond {
		t.Errorf("valid run read wrong: %+v", e)
	}
	if e := byRel["missing/20261124T045040Z"]; e.HarnessError != "no such release v9" {
		t.Errorf("harness error %q", e.HarnessError)
	}
	for i := 1; i < len(entries); i++ {
		if entries[i].Started.After(entries[i-1].Started) {
			t.Errorf("not newest first: %s before %s", entries[i-1].Rel, entries[i].Rel)
		}
	}
	if _, err := Index(filepath.Join(store, "nope")); err == nil {
		t.Error("Index of a missing store: no error")
	}
}

func TestWriteIndex(t *testing.T) {
	store := standardStore(t)
	// A later check of a run, written beside its record.
	if err := os.MkdirAll(filepath.Join(store, "reg", "20261124T025040Z", "checks", "20261207T033000Z-sequential"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteIndex(store); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(store, IndexFile))
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for _, want := range []string{
		`href="./reg/20261124T025040Z/report.html"`, // link to each report
		`value="reg/20261124T035040Z"`,              // compare checkbox
		"62 of 66 keys are not linearizable",        // reason
		"interrupted",                               // interrupted run marked
		"no such release v9",                        // harness error as reason
		"Unreadable run directories", "corrupt/20261124T065040Z", "partial/20261124T075040Z",
		"faultline serve --store DIR", // static page says compare needs serve
		"read=linearizable",           // target options
		"13447", "262.9/s", "152ms", "47.6s", "2026-11-24 03:50:40Z",
		`checked again: <a href="./reg/20261124T025040Z/checks/20261207T033000Z-sequential/report.html">20261207T033000Z-sequential</a>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("index lacks %q", want)
		}
	}
	for _, bad := range []string{"http://", "https://", "<link", "src="} {
		if strings.Contains(page, bad) {
			t.Errorf("index is not self-contained: has %q", bad)
		}
	}
	served, err := RenderIndex(nil, IndexOptions{Served: true})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(served), "static-note") || !strings.Contains(string(served), "No runs") {
		t.Errorf("served empty index wrong:\n%s", served)
	}
}

func TestCompare(t *testing.T) {
	store := standardStore(t)
	tests := []struct {
		name, a, b string
		want       []string
		wantErr    bool
	}{
		{name: "valid vs invalid", a: "reg/20261124T025040Z", b: "reg/20261124T035040Z",
			want: []string{"reg/20261124T025040Z", "reg/20261124T035040Z", "badge valid", "badge invalid",
				"62 of 66 keys are not linearizable", "linearizable / cas-register", "healthy", "partition",
				"262.9", "152ms", "2s", "9808", "13447", "37.1%", `href="./reg/20261124T035040Z/report.html"`}},
		{name: "latest symlink", a: "latest", b: "int/20261124T055040Z", want: []string{"62 of 66", "interrupted"}},
		{name: "broken run", a: "corrupt/20261124T065040Z", b: "reg/20261124T025040Z", want: []string{"unreadable", "results.json"}},
		{name: "missing run", a: "reg/nope", b: "reg/20261124T025040Z", wantErr: true},
		{name: "traversal", a: "../etc", b: "reg/20261124T025040Z", wantErr: true},
		{name: "absolute", a: "/etc", b: "reg/20261124T025040Z", wantErr: true},
		{name: "store root", a: ".", b: "reg/20261124T025040Z", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Compare(store, tc.a, tc.b)
			if tc.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("compare page lacks %q", w)
				}
			}
		})
	}
}

// TestEscaping writes a run whose names, options and checker text are
// hostile and checks that the index and comparison show them as text only.
func TestEscaping(t *testing.T) {
	evil := `<script>alert("x")</script>'"`
	store := writeStore(t, []fixtureRun{
		{rel: "javascript:alert(1)/20261124T025040Z",
			spec: fixtureSpec(evil, `javascript:alert(2)`, map[string]string{"<script>k": `"><script>alert(3)</script>`}, "<img src=x onerror=alert(4)>"),
			results: func() map[string]any {
				r := fixtureResults(evil, models.Invalid, "reason "+evil, 10, t0, nil)
				r["results"] = []models.Result{{Checker: evil, Verdict: models.Invalid, Reason: evil,
					Anomalies: []models.Anomaly{{Kind: evil, Explanation: evil}}}}
				return r
			}(), report: true},
		{rel: "ok/20261124T035040Z", spec: fixtureSpec("ok", "etcd", nil), results: fixtureResults("ok", models.Valid, "", 10, t0.Add(time.Hour), nil)},
	})
	if err := WriteIndex(store); err != nil {
		t.Fatal(err)
	}
	index, err := os.ReadFile(filepath.Join(store, IndexFile))
	if err != nil {
		t.Fatal(err)
	}
	cmp, err := Compare(store, "javascript:alert(1)/20261124T025040Z", "ok/20261124T035040Z")
	if err != nil {
		t.Fatal(err)
	}
	href := regexp.MustCompile(`(?i)href\s*=\s*"([^"]*)"`)
	for _, tc := range []struct {
		name    string
		page    string
		scripts int // the page's own <script> elements
	}{{"index", string(index), 1}, {"compare", string(cmp), 0}} {
		t.Run(tc.name, func(t *testing.T) {
			lower := strings.ToLower(tc.page)
			if n := strings.Count(lower, "<script"); n != tc.scripts {
				t.Errorf("%d <script elements, want %d (data must be escaped)", n, tc.scripts)
			}
			if strings.Contains(lower, "<img") {
				t.Errorf("raw <img from data")
			}
			if !strings.Contains(tc.page, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
				t.Errorf("the hostile test name is not shown escaped")
			}
			for _, m := range href.FindAllStringSubmatch(tc.page, -1) {
				u := strings.ToLower(strings.TrimSpace(html.UnescapeString(m[1])))
				if strings.HasPrefix(u, "javascript:") || strings.Contains(u, "<") || strings.Contains(u, `"`) {
					t.Errorf("unsafe href %q", m[1])
				}
			}
		})
	}
	if !strings.Contains(string(index), `href="./javascript:alert%281%29/20261124T025040Z/report.html"`) &&
		!strings.Contains(string(index), `href="./javascript:alert(1)/20261124T025040Z/report.html"`) {
		t.Errorf("report link of the hostile directory missing or not relative:\n%s", href.FindAllString(string(index), -1))
	}
}
