package reports

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/faultline/faultline/internal/rundir"
	"github.com/faultline/faultline/models"
)

//go:embed templates/index.html.tmpl templates/compare.html.tmpl
var storeTemplates embed.FS

// Store file names the index reads. They mirror the harness's names; the
// harness imports this package, so they cannot be shared.
const (
	storeSpecFile    = "spec.json"
	storeResultsFile = "results.json"
	storeReportFile  = "report.html"
	// IndexFile is the name of the index page at the store's root.
	IndexFile = "index.html"
	// storeLatest is the symlink to the newest run, skipped by the index.
	storeLatest = "latest"
)

// resultsFormat and resultsVersion identify the results.json this package
// understands.
const (
	resultsFormat  = "faultline-results"
	resultsVersion = 1
)

// RunEntry is one run directory of a store, as the index lists it.
type RunEntry struct {
	// Rel is the run directory relative to the store, slash-separated:
	// "<test>/<timestamp>".
	Rel string
	// Test, Target, TargetVersion, TargetOpts, Workload and Faults come
	// from spec.json (the test name and version fall back to results.json).
	Test          string
	Target        string
	TargetVersion string
	TargetOpts    map[string]string
	Workload      string
	Faults        []string
	Seed          int64
	// Verdict and Reason come from results.json; Verdict is empty when the
	// run has no readable results.
	Verdict models.Verdict
	Reason  string
	// Results are the checkers' results.
	Results []models.Result
	// Stats are the run's op statistics.
	Stats Summary
	// Started is when the run began (from results.json, else the directory
	// name); Duration how long it took.
	Started  time.Time
	Duration time.Duration
	// Interrupted and HarnessError say how the run ended.
	Interrupted  bool
	HarnessError string
	// HasReport is set when the run directory holds report.html.
	HasReport bool
	// Checks are the later checks of the run (faultline check DIR), each
	// a directory under checks/ relative to the run directory, oldest first.
	Checks []string
	// Problem, when not empty, says why the directory could not be read
	// completely (missing or corrupt spec.json or results.json, unknown
	// results format); the other fields hold what could be read.
	Problem string
}

// Broken reports whether the entry has no usable results.
func (e RunEntry) Broken() bool { return e.Verdict == "" }

// storedSpec is the part of spec.json the index shows.
type storedSpec struct {
	Test          string            `json:"test"`
	Target        string            `json:"target"`
	TargetVersion string            `json:"target_version"`
	TargetOpts    map[string]string `json:"target_opts"`
	Workload      string            `json:"workload"`
	Nemesis       []string          `json:"nemesis"`
	Seed          int64             `json:"seed"`
}

// storedResults is the part of results.json the index and comparison show.
type storedResults struct {
	Format  string          `json:"format"`
	Version int             `json:"version"`
	Test    string          `json:"test"`
	Verdict models.Verdict  `json:"verdict"`
	Reason  string          `json:"reason"`
	Results []models.Result `json:"results"`
	Stats   Summary         `json:"stats"`
	Run     struct {
		Started        time.Time         `json:"started"`
		Duration       jsonDuration      `json:"duration"`
		TargetVersion  string            `json:"target_version"`
		TargetSettings map[string]string `json:"target_settings"`
		Interrupted    bool              `json:"interrupted"`
		HarnessError   string            `json:"harness_error"`
		Seed           int64             `json:"seed"`
	} `json:"run"`
}

// jsonDuration reads a duration written as "1m0s" or as nanoseconds.
type jsonDuration time.Duration

// UnmarshalJSON accepts a duration string or a number of nanoseconds.
func (d *jsonDuration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: %w", s, err)
		}
		*d = jsonDuration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("duration %s: want a string like \"10s\" or nanoseconds", b)
	}
	*d = jsonDuration(n)
	return nil
}

// Index lists every run directory store/<test>/<run>/, newest first. A run
// directory that cannot be read completely is listed with Problem set and
// never makes Index fail; only an unreadable store does. Symlinks (such as
// store/latest) and hidden entries are skipped, so each run appears once.
func Index(store string) ([]RunEntry, error) {
	root, err := os.OpenRoot(store)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	defer root.Close()
	return indexFS(root.FS())
}

// indexFS lists the runs of the store fsys.
func indexFS(fsys fs.FS) ([]RunEntry, error) {
	tests, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read store: %w", err)
	}
	var out []RunEntry
	for _, t := range tests {
		if !t.IsDir() || strings.HasPrefix(t.Name(), ".") {
			continue
		}
		runs, err := fs.ReadDir(fsys, t.Name())
		if err != nil {
			out = append(out, RunEntry{Rel: t.Name(), Test: t.Name(), Problem: fmt.Sprintf("read test directory: %v", err)})
			continue
		}
		for _, r := range runs {
			if !r.IsDir() || strings.HasPrefix(r.Name(), ".") {
				continue
			}
			out = append(out, readRun(fsys, path.Join(t.Name(), r.Name())))
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Started.Equal(out[j].Started) {
			return out[i].Started.After(out[j].Started)
		}
		return out[i].Rel < out[j].Rel
	})
	return out, nil
}

// readRun reads the run directory rel of fsys; what cannot be read is
// described in the entry's Problem.
func readRun(fsys fs.FS, rel string) RunEntry {
	e := RunEntry{Rel: rel, Test: path.Dir(rel)}
	if e.Test == "." {
		e.Test = rel
	}
	var problems []string
	var sp storedSpec
	if err := readStoredJSON(fsys, path.Join(rel, storeSpecFile), &sp); err != nil {
		problems = append(problems, err.Error())
	} else {
		if sp.Test != "" {
			e.Test = sp.Test
		}
		e.Target, e.TargetVersion, e.TargetOpts = sp.Target, sp.TargetVersion, sp.TargetOpts
		e.Workload, e.Faults, e.Seed = sp.Workload, sp.Nemesis, sp.Seed
	}
	var res storedResults
	switch err := readStoredJSON(fsys, path.Join(rel, storeResultsFile), &res); {
	case errors.Is(err, fs.ErrNotExist):
		problems = append(problems, "no results.json (the run is still going or did not finish)")
	case err != nil:
		problems = append(problems, err.Error())
	case res.Format != resultsFormat || res.Version != resultsVersion:
		problems = append(problems, fmt.Sprintf("results.json: unknown format %q version %d", res.Format, res.Version))
	default:
		if res.Test != "" && e.Test == path.Dir(rel) {
			e.Test = res.Test
		}
		e.Verdict, e.Reason, e.Results, e.Stats = res.Verdict, res.Reason, res.Results, res.Stats
		if e.Verdict == "" {
			e.Verdict = models.Unknown
		}
		e.Started, e.Duration = res.Run.Started, time.Duration(res.Run.Duration)
		if res.Run.TargetVersion != "" {
			e.TargetVersion = res.Run.TargetVersion
		}
		if e.Seed == 0 {
			e.Seed = res.Run.Seed
		}
		e.Interrupted, e.HarnessError = res.Run.Interrupted, res.Run.HarnessError
	}
	if e.Started.IsZero() {
		// Directories are named by their UTC start, possibly with "-N".
		name, _, _ := strings.Cut(path.Base(rel), "-")
		if t, err := time.Parse("20060102T150405Z", name); err == nil {
			e.Started = t
		}
	}
	if fi, err := fs.Stat(fsys, path.Join(rel, storeReportFile)); err == nil && fi.Mode().IsRegular() {
		e.HasReport = true
	}
	if cs, err := fs.ReadDir(fsys, path.Join(rel, "checks")); err == nil {
		for _, c := range cs {
			if c.IsDir() && !strings.HasPrefix(c.Name(), ".") {
				e.Checks = append(e.Checks, path.Join("checks", c.Name()))
			}
		}
	}
	e.Problem = strings.Join(problems, "; ")
	return e
}

// readStoredJSON decodes the JSON file name of fsys into v.
func readStoredJSON(fsys fs.FS, name string, v any) error {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return fmt.Errorf("read %s: %w", path.Base(name), err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path.Base(name), err)
	}
	return nil
}

// IndexOptions adjust how the index page is rendered.
type IndexOptions struct {
	// Served is set when the page is served by `faultline serve`, where the
	// comparison page exists; the static store/index.html says that
	// comparing needs the server.
	Served bool
}

// WriteIndex writes store/index.html, the list of every run in the store,
// atomically. The page is self-contained: inline CSS and a little inline
// script for filtering and sorting; without script it still lists every run.
func WriteIndex(store string) error {
	entries, err := Index(store)
	if err != nil {
		return err
	}
	html, err := RenderIndex(entries, IndexOptions{})
	if err != nil {
		return err
	}
	return rundir.WriteFileAtomic(filepath.Join(store, IndexFile), html, 0o644)
}

// indexPage is the index template's data.
type indexPage struct {
	Served    bool
	Generated string
	Runs      []indexRow
	Broken    []indexRow
	Counts    []kv
}

// indexRow is one run, formatted for display. The *Key fields are the
// machine-sortable values the script sorts by.
type indexRow struct {
	Rel, Href, Test, Target, Opts, Workload, Faults string
	Verdict, VerdictClass, Reason                   string
	Date, Duration, Ops, Throughput, P99            string
	DateKey, DurationKey, OpsKey                    int64
	ThroughputKey                                   string
	P99Key                                          int64
	Problem                                         string
	// Checks link the run's later checks: Name is the directory's name.
	Checks []indexCheck
}

type indexCheck struct{ Name, Href string }

// RenderIndex returns the index page listing entries (as returned by
// Index). Links are relative to the store's root, where the page lives.
func RenderIndex(entries []RunEntry, opt IndexOptions) ([]byte, error) {
	pg := indexPage{Served: opt.Served, Generated: time.Now().UTC().Format("2006-01-02 15:04:05Z")}
	counts := map[string]int{}
	for _, e := range entries {
		r := indexRow{
			Rel:          e.Rel,
			Test:         e.Test,
			Target:       joinNonEmpty(" ", e.Target, e.TargetVersion),
			Opts:         fmtOpts(e.TargetOpts),
			Workload:     e.Workload,
			Faults:       strings.Join(e.Faults, ", "),
			Verdict:      string(e.Verdict),
			VerdictClass: verdictClass(e.Verdict),
			Reason:       e.Reason,
			Problem:      e.Problem,
		}
		if e.HasReport {
			r.Href = runHref(e.Rel, storeReportFile)
		}
		for _, c := range e.Checks {
			r.Checks = append(r.Checks, indexCheck{Name: path.Base(c), Href: runHref(e.Rel+"/"+c, storeReportFile)})
		}
		if e.Interrupted {
			r.Verdict += " (interrupted)"
		}
		if e.HarnessError != "" && r.Reason == "" {
			r.Reason = e.HarnessError
		}
		if !e.Started.IsZero() {
			r.Date = e.Started.UTC().Format("2006-01-02 15:04:05Z")
			r.DateKey = e.Started.Unix()
		}
		if !e.Broken() {
			r.Duration, r.DurationKey = fmtDuration(e.Duration), int64(e.Duration)
			r.Ops, r.OpsKey = fmt.Sprint(e.Stats.Ops), int64(e.Stats.Ops)
			r.Throughput = fmt.Sprintf("%.1f/s", e.Stats.Overall.Throughput)
			r.ThroughputKey = fmt.Sprintf("%.3f", e.Stats.Overall.Throughput)
			r.P99, r.P99Key = fmtDuration(e.Stats.Overall.Latency.P99), int64(e.Stats.Overall.Latency.P99)
			pg.Runs = append(pg.Runs, r)
			counts[string(e.Verdict)]++
		} else {
			pg.Broken = append(pg.Broken, r)
		}
	}
	for _, v := range []models.Verdict{models.Valid, models.Invalid, models.Unknown} {
		pg.Counts = append(pg.Counts, kv{string(v), fmt.Sprint(counts[string(v)])})
	}
	if len(pg.Broken) > 0 {
		pg.Counts = append(pg.Counts, kv{"unreadable", fmt.Sprint(len(pg.Broken))})
	}
	return execStoreTemplate("index.html.tmpl", pg)
}

// execStoreTemplate renders one of the store page templates with data.
func execStoreTemplate(name string, data any) ([]byte, error) {
	t, err := template.New(name).ParseFS(storeTemplates, "templates/"+name)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", name, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	return b.Bytes(), nil
}

// runHref is a link, relative to the store's root, to file inside the run
// directory rel. Each segment is escaped and the link starts with "./", so
// that no test name can turn it into another scheme ("javascript:...").
func runHref(rel, file string) string {
	segs := strings.Split(rel, "/")
	if file != "" {
		segs = append(segs, file)
	}
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return "./" + strings.Join(segs, "/")
}

// fmtOpts formats target options as sorted "k=v" pairs.
func fmtOpts(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		keys[i] = k + "=" + m[k]
	}
	return strings.Join(keys, " ")
}

// joinNonEmpty joins the non-empty strings of parts with sep.
func joinNonEmpty(sep string, parts ...string) string {
	return strings.Join(slices.DeleteFunc(slices.Clone(parts), func(s string) bool { return s == "" }), sep)
}

// verdictClass is the CSS class of a verdict's badge.
func verdictClass(v models.Verdict) string {
	switch v {
	case models.Valid, models.Invalid, models.Unknown:
		return string(v)
	}
	return "broken"
}
