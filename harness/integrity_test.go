package harness

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// storeHistory writes a run directory as Run would have left it, with the
// history lines given (after the header) verbatim.
func storeHistory(t *testing.T, lines string) string {
	t.Helper()
	dir := t.TempDir()
	spec := DefaultSpec()
	spec.Test, spec.Nemesis = "integrity", nil
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, SpecFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	hist := `{"format":"faultline-history","version":2}` + "\n" + lines
	if err := os.WriteFile(filepath.Join(dir, HistoryFile), []byte(hist), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Register ops on key 1: process 0 writes 1, process 1 reads it.
const registerLines = `{"index":0,"time":1,"type":"invoke","process":0,"f":"write","key":"1","value":1}
{"index":1,"time":2,"type":"ok","process":0,"f":"write","key":"1","value":1}
{"index":2,"time":3,"type":"invoke","process":1,"f":"read","key":"1","value":null}
{"index":3,"time":4,"type":"ok","process":1,"f":"read","key":"1","value":1}
`

const endLine = `{"end":{"ops":4,"interrupted":false}}` + "\n"

// TestCheckIncompleteRun: a run directory whose history has no end record
// (the controller was killed) is an incomplete run: unknown, with the
// reason, unless the prefix is asked for; a torn last line is reported.
func TestCheckIncompleteRun(t *testing.T) {
	quiet := func(string, ...any) {}
	for _, c := range []struct {
		name    string
		lines   string
		prefix  bool
		verdict models.Verdict
		reason  string
		torn    bool
	}{
		{name: "complete", lines: registerLines + endLine, verdict: models.Valid},
		{name: "no end record", lines: registerLines, verdict: models.Unknown,
			reason: "the run never finished: history has no end record (controller killed?)"},
		{name: "torn last line", lines: registerLines + `{"index":4,"time":5,"type":"inv`, verdict: models.Unknown,
			reason: "history has no end record", torn: true},
		{name: "torn end record", lines: registerLines + `{"end":{"ops":4,"inter`, verdict: models.Unknown,
			reason: "history has no end record", torn: true},
		{name: "prefix asked for", lines: registerLines, prefix: true, verdict: models.Valid},
		{name: "prefix, torn", lines: registerLines + `{"index":4,"ti`, prefix: true, verdict: models.Valid, torn: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := storeHistory(t, c.lines)
			check := Check
			if c.prefix {
				check = CheckPrefix
			}
			res, err := check(context.Background(), dir, nil, time.Minute, quiet)
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != c.verdict || !strings.Contains(res.Reason, c.reason) {
				t.Errorf("verdict %s, reason %q; want %s with %q", res.Verdict, res.Reason, c.verdict, c.reason)
			}
			// A prefix judgement is written beside the run's record.
			out := dir
			if res.Check != nil && res.Check.Dir != "" {
				out = filepath.Join(dir, res.Check.Dir)
			}
			var stored Results
			if err := readJSON(filepath.Join(out, ResultsFile), &stored); err != nil {
				t.Fatal(err)
			}
			h := stored.History
			if h == nil {
				t.Fatal("results.json has no history section")
			}
			if h.Complete != (c.name == "complete") || h.Prefix != c.prefix {
				t.Errorf("history complete %v prefix %v", h.Complete, h.Prefix)
			}
			if (h.TornLine != nil) != c.torn {
				t.Errorf("torn line %+v, want torn %v", h.TornLine, c.torn)
			}
			if c.torn && (h.TornLine.Line != 6 || len(h.Warnings) == 0) {
				t.Errorf("torn line %+v, warnings %q; want line 6 and a warning", h.TornLine, h.Warnings)
			}
			report, err := os.ReadFile(filepath.Join(out, ReportFile))
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"end record", "prefix"} {
				if c.name != "complete" && (want != "prefix" || c.prefix) && !strings.Contains(string(report), want) {
					t.Errorf("report does not mention %q", want)
				}
			}
		})
	}
}

// TestCheckHistoryAssumptions: what pairing cannot judge makes the verdict
// unknown; what it can set aside is counted in results (12.5).
func TestCheckHistoryAssumptions(t *testing.T) {
	hdr := `{"format":"faultline-history","version":2}` + "\n"
	for _, c := range []struct {
		name          string
		lines         string
		verdict       models.Verdict
		reason        string
		ignored       map[string]int
		indeterminate map[string]int
	}{
		{name: "clean", lines: registerLines + endLine, verdict: models.Valid},
		// The completion of a read paired with a write invocation: the
		// register checker took it for a write of 1 and found it valid.
		{name: "f differs", verdict: models.Unknown, reason: "completion's f differs from its invocation's",
			lines: `{"index":0,"time":1,"type":"invoke","process":0,"f":"write","key":"1","value":1}
{"index":1,"time":2,"type":"ok","process":0,"f":"read","key":"1","value":1}
` + endLineN(2)},
		{name: "completion without invocation", verdict: models.Valid,
			ignored: map[string]int{history.CompletionWithoutInvocation: 1},
			lines: `{"index":0,"time":1,"type":"ok","process":3,"f":"read","key":"1","value":7}
` + shift(registerLines, 1) + endLineN(5)},
		{name: "invoke while pending", verdict: models.Valid,
			indeterminate: map[string]int{history.InvokeWhilePending: 1},
			lines: `{"index":0,"time":1,"type":"invoke","process":0,"f":"write","key":"1","value":5}
` + shift(registerLines, 1) + endLineN(5)},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "history.jsonl")
			if err := os.WriteFile(path, []byte(hdr+c.lines), 0o644); err != nil {
				t.Fatal(err)
			}
			res, err := CheckHistory(context.Background(), path, "", []string{"cas-register"}, time.Minute, "")
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != c.verdict || !strings.Contains(res.Reason, c.reason) {
				t.Errorf("verdict %s, reason %q; want %s with %q", res.Verdict, res.Reason, c.verdict, c.reason)
			}
			h := res.History
			if h == nil {
				t.Fatal("no history section")
			}
			if !mapsEqual(h.Ignored, c.ignored) || !mapsEqual(h.Indeterminate, c.indeterminate) {
				t.Errorf("ignored %v indeterminate %v; want %v %v", h.Ignored, h.Indeterminate, c.ignored, c.indeterminate)
			}
		})
	}
}

func endLineN(n int) string {
	b, _ := json.Marshal(map[string]any{"end": map[string]any{"ops": n}})
	return string(b) + "\n"
}

// shift renumbers the "index" of each line by d.
func shift(lines string, d int) string {
	var out strings.Builder
	for _, l := range strings.SplitAfter(lines, "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			panic(err)
		}
		m["index"] = m["index"].(float64) + float64(d)
		b, _ := json.Marshal(m)
		out.Write(append(b, '\n'))
	}
	return out.String()
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
