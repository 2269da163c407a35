package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/histtest"
	"github.com/faultline/faultline/internal/rundir"
	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/reports"
)

// invalidRun writes a run directory whose register history is not
// linearizable (a read of a value never written) and checks it once, as the
// run itself would have, so it holds the run's record.
func invalidRun(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	spec := DefaultSpec()
	spec.Test = "hostile"
	spec.Workload = "register"
	spec.Nemesis = nil
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, SpecFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	ops := histtest.Build(t,
		"0 invoke write 1 key=k node=n1", "0 ok write 1 key=k node=n1",
		"1 invoke read nil key=k node=n1", "1 ok read 2 key=k node=n1",
		"2 invoke read nil key=k node=n2", "2 ok read 1 key=k node=n2",
	)
	if err := history.WriteFile(filepath.Join(dir, HistoryFile), ops); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, NodesDir, "n1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, NodesDir, "n1", "etcd.log"), []byte("started\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// record checks dir as the end of a run does, writing its record.
func record(t *testing.T, dir string) Results {
	t.Helper()
	res, err := Check(context.Background(), dir, nil, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != models.Invalid {
		t.Fatalf("fixture verdict %s, want invalid (%s)", res.Verdict, res.Reason)
	}
	return res
}

func readResults(t *testing.T, path string) Results {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// victim is a file outside the run directory that a hostile run directory
// aims its links at.
type victim struct {
	path string
	body []byte
}

func newVictim(t *testing.T, name string) victim {
	t.Helper()
	v := victim{path: filepath.Join(t.TempDir(), name), body: []byte("SECRET victim content, do not touch\n")}
	if err := os.WriteFile(v.path, v.body, 0o600); err != nil {
		t.Fatal(err)
	}
	return v
}

func (v victim) untouched(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile(v.path)
	if err != nil {
		t.Fatalf("victim %s: %v", v.path, err)
	}
	if !bytes.Equal(b, v.body) {
		t.Errorf("victim %s was overwritten: %.80q", v.path, b)
	}
}

// TestCheckHostileRunDir is the adversarial corpus for run directories:
// each case plants something in a run directory that was checked once,
// checks it again, and asserts that nothing outside the directory was read
// into the report or written, and that refusals are clear errors.
func TestCheckHostileRunDir(t *testing.T) {
	tests := []struct {
		name  string
		plant func(t *testing.T, dir string, v victim)
		// wantErr, when set, is part of Check's error; else Check succeeds.
		// wantFresh is the same for a run without a record, which the check
		// writes at the top of the run directory.
		wantErr, wantFresh string
	}{
		{"results.json.tmp link", func(t *testing.T, dir string, v victim) {
			must(t, os.Symlink(v.path, filepath.Join(dir, ResultsFile+".tmp")))
		}, "", ""},
		{"linearizability.html link", func(t *testing.T, dir string, v victim) {
			must(t, os.RemoveAll(filepath.Join(dir, "linearizability.html")))
			must(t, os.Symlink(v.path, filepath.Join(dir, "linearizability.html")))
		}, "", ""},
		{"report.html link", func(t *testing.T, dir string, v victim) {
			must(t, os.RemoveAll(filepath.Join(dir, ReportFile)))
			must(t, os.Symlink(v.path, filepath.Join(dir, ReportFile)))
		}, "", ""},
		{"history dir link", func(t *testing.T, dir string, v victim) {
			must(t, os.RemoveAll(filepath.Join(dir, "history")))
			must(t, os.Symlink(filepath.Dir(v.path), filepath.Join(dir, "history")))
		}, "", ""},
		{"node log link to the victim", func(t *testing.T, dir string, v victim) {
			must(t, os.Symlink(v.path, filepath.Join(dir, NodesDir, "n1", "x.log")))
		}, "", ""},
		{"node log link to /etc/passwd", func(t *testing.T, dir string, v victim) {
			must(t, os.Symlink("/etc/passwd", filepath.Join(dir, NodesDir, "n1", "x.log")))
		}, "", ""},
		{"nodes dir link", func(t *testing.T, dir string, v victim) {
			must(t, os.RemoveAll(filepath.Join(dir, NodesDir)))
			must(t, os.Symlink(filepath.Dir(v.path), filepath.Join(dir, NodesDir)))
		}, "", ""},
		{"FIFO node log", func(t *testing.T, dir string, v victim) {
			must(t, syscall.Mkfifo(filepath.Join(dir, NodesDir, "n1", "fifo.log"), 0o644))
		}, "", ""},
		{"results.json is a directory", func(t *testing.T, dir string, v victim) {
			must(t, os.RemoveAll(filepath.Join(dir, ResultsFile)))
			must(t, os.Mkdir(filepath.Join(dir, ResultsFile), 0o755))
		}, "results.json", "results.json"},
		{"results.json link", func(t *testing.T, dir string, v victim) {
			must(t, os.RemoveAll(filepath.Join(dir, ResultsFile)))
			must(t, os.Symlink(v.path, filepath.Join(dir, ResultsFile)))
		}, "results.json", "results.json"},
		{"spec.json link", func(t *testing.T, dir string, v victim) {
			must(t, os.RemoveAll(filepath.Join(dir, SpecFile)))
			must(t, os.Symlink(v.path, filepath.Join(dir, SpecFile)))
		}, "spec.json", "spec.json"},
		{"history.jsonl FIFO", func(t *testing.T, dir string, v victim) {
			must(t, os.RemoveAll(filepath.Join(dir, HistoryFile)))
			must(t, syscall.Mkfifo(filepath.Join(dir, HistoryFile), 0o644))
		}, "history.jsonl", "history.jsonl"},
		{"report.html is a non-empty directory", func(t *testing.T, dir string, v victim) {
			must(t, os.RemoveAll(filepath.Join(dir, ReportFile)))
			must(t, os.MkdirAll(filepath.Join(dir, ReportFile, "x"), 0o755))
		}, "", "report.html"},
		{"checks dir link", func(t *testing.T, dir string, v victim) {
			must(t, os.Symlink(filepath.Dir(v.path), filepath.Join(dir, "checks")))
		}, "checks", ""},
	}
	for _, tt := range tests {
		for _, fresh := range []bool{false, true} {
			name := tt.name
			if fresh {
				name += " no record"
			}
			t.Run(name, func(t *testing.T) {
				dir := invalidRun(t)
				record(t, dir)
				if fresh {
					must(t, os.Remove(filepath.Join(dir, ResultsFile)))
				}
				v := newVictim(t, "victim.txt")
				tt.plant(t, dir, v)
				wantErr := tt.wantErr
				if fresh {
					wantErr = tt.wantFresh
				}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				_, err := Check(ctx, dir, nil, time.Minute, nil)
				switch {
				case wantErr == "" && err != nil:
					t.Errorf("Check: %v", err)
				case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
					t.Errorf("Check: err = %v, want an error naming %s", err, wantErr)
				}
				if fresh && err != nil {
					// A failed check wrote no record: results.json comes last.
					if fi, err := os.Lstat(filepath.Join(dir, ResultsFile)); err == nil && fi.Mode().IsRegular() {
						t.Error("results.json written although the check failed")
					}
				}
				if fresh && err == nil {
					// The record replaced whatever was planted by regular files.
					for _, f := range []string{ResultsFile, ReportFile, "linearizability.html", "nodes.html"} {
						if fi, err := os.Lstat(filepath.Join(dir, f)); err != nil || !fi.Mode().IsRegular() {
							t.Errorf("%s: not a regular file after the check (%v)", f, err)
						}
					}
				}
				if ctx.Err() != nil {
					t.Fatal("Check blocked (on a FIFO?)")
				}
				v.untouched(t)
				// The victim's directory gained no files (history chunks).
				ents, _ := os.ReadDir(filepath.Dir(v.path))
				if len(ents) != 1 {
					var names []string
					for _, e := range ents {
						names = append(names, e.Name())
					}
					t.Errorf("victim's directory holds %v, want only the victim", names)
				}
				// No page of the run shows the content of a file outside it.
				filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
					if err != nil || !d.Type().IsRegular() || !strings.HasSuffix(p, ".html") {
						return nil
					}
					b, _ := os.ReadFile(p)
					if bytes.Contains(b, []byte("SECRET victim")) || bytes.Contains(b, []byte("root:x:0:0")) {
						t.Errorf("%s shows a file from outside the run directory", p)
					}
					return nil
				})
				// No temporary or staging file is left behind.
				filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
					if err == nil && (strings.Contains(d.Name(), ".staging-") || strings.HasSuffix(d.Name(), ".tmp") && d.Type().IsRegular()) {
						t.Errorf("left behind: %s", p)
					}
					return nil
				})
			})
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestRecheckKeepsVerdict: neither a re-check with another model nor an
// interrupted re-check changes the run's record (issue 12 item 6).
func TestRecheckKeepsVerdict(t *testing.T) {
	tests := []struct {
		name   string
		models []string
		cancel bool
	}{
		{"other model", []string{"sequential"}, false},
		{"interrupted", nil, true},
		{"same models again", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := invalidRun(t)
			record(t, dir)
			before, err := os.ReadFile(filepath.Join(dir, ResultsFile))
			must(t, err)
			ctx, cancel := context.WithCancel(context.Background())
			if tt.cancel {
				cancel()
			}
			defer cancel()
			// Cancelled before it starts, the check stops while it reads
			// the history, with an error and nothing written.
			_, err = Check(ctx, dir, tt.models, time.Minute, nil)
			if err != nil && !(tt.cancel && errors.Is(err, context.Canceled)) {
				t.Fatalf("Check: %v", err)
			}
			after, err := os.ReadFile(filepath.Join(dir, ResultsFile))
			must(t, err)
			if !bytes.Equal(before, after) {
				t.Errorf("results.json changed: verdict %s, was invalid", readResults(t, filepath.Join(dir, ResultsFile)).Verdict)
			}
		})
	}
}

// TestWriteOutputsFailureKeepsRecord: when the report cannot be written, or
// a file cannot be renamed into place, results.json stays the old one and
// nothing staged is left (issue 13 item 10).
func TestWriteOutputsFailureKeepsRecord(t *testing.T) {
	failingReport := func(src *rundir.Dir, out reports.Outputs, name, up string, in reports.Input) error {
		if err := out.WriteFile("nodes.html", []byte("half a report")); err != nil {
			return err
		}
		return errors.New("injected report failure")
	}
	tests := []struct {
		name   string
		plant  func(t *testing.T, dir string)
		report reportWriter
	}{
		{"report writer fails", func(*testing.T, string) {}, failingReport},
		{"report.html cannot be replaced", func(t *testing.T, dir string) {
			must(t, os.Remove(filepath.Join(dir, ReportFile)))
			must(t, os.MkdirAll(filepath.Join(dir, ReportFile, "x"), 0o755))
		}, reports.WriteTo},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := invalidRun(t)
			old := record(t, dir)
			tt.plant(t, dir)
			before, err := os.ReadFile(filepath.Join(dir, ResultsFile))
			must(t, err)
			nodesBefore, err := os.ReadFile(filepath.Join(dir, "nodes.html"))
			must(t, err)

			rd, err := rundir.Open(dir)
			must(t, err)
			defer rd.Close()
			st, err := rd.NewStage("")
			must(t, err)
			defer st.Abort()
			res := old
			res.Verdict, res.Reason = models.Valid, "a new verdict that must not land"
			var spec Spec
			must(t, readJSONIn(rd, SpecFile, &spec))
			ops := histtest.Build(t, "0 invoke write 1 key=k", "0 ok write 1 key=k")
			if err := writeOutputs(rd, st, spec, ops, res, tt.report); err == nil {
				t.Fatal("writeOutputs succeeded, want the injected failure")
			}
			after, err := os.ReadFile(filepath.Join(dir, ResultsFile))
			must(t, err)
			if !bytes.Equal(before, after) {
				t.Error("results.json changed although its report was not written")
			}
			if tt.report != nil && tt.name == "report writer fails" {
				nodesAfter, _ := os.ReadFile(filepath.Join(dir, "nodes.html"))
				if !bytes.Equal(nodesBefore, nodesAfter) {
					t.Error("nodes.html changed although the report failed")
				}
			}
			st.Abort()
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if strings.HasPrefix(e.Name(), ".staging-") {
					t.Errorf("staging directory %s left behind", e.Name())
				}
			}
		})
	}
}

// TestCheckWritesBeside: a re-check says where it wrote, its report links
// the run's own files from there, and an interrupted one is marked.
func TestCheckWritesBeside(t *testing.T) {
	dir := invalidRun(t)
	record(t, dir)
	res, err := Check(context.Background(), dir, []string{"sequential"}, time.Minute, nil)
	must(t, err)
	if res.Check == nil || !strings.HasPrefix(res.Check.Dir, ChecksDir+"/") || !strings.HasSuffix(res.Check.Dir, "-sequential") {
		t.Fatalf("Check = %+v, want a directory checks/<stamp>-sequential", res.Check)
	}
	got := readResults(t, filepath.Join(dir, res.Check.Dir, ResultsFile))
	if got.Check == nil || got.Check.Dir != res.Check.Dir || len(got.Results) != 1 || got.Results[0].Checker != res.Results[0].Checker {
		t.Errorf("the re-check's results.json = %+v", got.Check)
	}
	html, err := os.ReadFile(filepath.Join(dir, res.Check.Dir, ReportFile))
	must(t, err)
	if !bytes.Contains(html, []byte(`href="../../nodes/n1/etcd.log"`)) {
		t.Error("the re-check's report does not link the run's node log as ../../nodes/n1/etcd.log")
	}

	// Interrupted while reading, the check writes nothing (an interruption
	// while checking is written beside, marked: TestInterruptedRecheckKeepsVerdict).
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err = Check(ctx, dir, nil, time.Minute, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("re-check cancelled before it read: err %v, want context.Canceled", err)
	}
	if readResults(t, filepath.Join(dir, ResultsFile)).Verdict != models.Invalid {
		t.Error("the record lost its invalid verdict")
	}
}

// TestCheckCompletesMissingRecord: a run whose controller died has no
// results.json; a complete check with its own models writes the record.
func TestCheckCompletesMissingRecord(t *testing.T) {
	dir := invalidRun(t)
	res, err := Check(context.Background(), dir, nil, time.Minute, nil)
	must(t, err)
	if res.Check == nil || res.Check.Dir != "" {
		t.Fatalf("Check = %+v, want the record", res.Check)
	}
	if readResults(t, filepath.Join(dir, ResultsFile)).Verdict != models.Invalid {
		t.Error("no invalid record written")
	}
}

// TestReplaySpecRefusesLinks: run --replay reads the run directory like
// check does: a history linked from elsewhere is refused.
func TestReplaySpecRefusesLinks(t *testing.T) {
	dir := invalidRun(t)
	if _, err := ReplaySpec(dir); err != nil {
		t.Fatalf("ReplaySpec of a plain run: %v", err)
	}
	other := filepath.Join(t.TempDir(), "history.jsonl")
	must(t, os.Rename(filepath.Join(dir, HistoryFile), other))
	must(t, os.Symlink(other, filepath.Join(dir, HistoryFile)))
	if _, err := ReplaySpec(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("ReplaySpec with a linked history: err = %v, want refused", err)
	}
}
