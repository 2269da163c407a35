package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/faultline/faultline/harness"
	"github.com/faultline/faultline/models/history"
)

// runDir writes a stored run of the register workload: spec.json and
// history.jsonl holding ops.
func runDir(t *testing.T, ops []history.Op) string {
	t.Helper()
	return workloadRunDir(t, "register", ops)
}

// workloadRunDir writes a stored run of workload: spec.json and
// history.jsonl holding ops.
func workloadRunDir(t *testing.T, workload string, ops []history.Op) string {
	t.Helper()
	spec := harness.DefaultSpec()
	spec.Test, spec.Workload = "export", workload
	return writeStoredRun(t, spec, ops)
}

// registerOps is a two-key register history with a partition; with
// stale, key 2's last read returns the value overwritten before it began.
func registerOps(stale bool) []history.Op {
	last := int64(2)
	if stale {
		last = 1
	}
	return []history.Op{
		{Time: 0, Type: history.Invoke, Process: 0, F: "write", Key: "1", Value: 1, Node: "n1"},
		{Time: 1, Type: history.Invoke, Process: 1, F: "write", Key: "2", Value: 1, Node: "n2"},
		{Time: 2, Type: history.OK, Process: 0, F: "write", Key: "1", Value: 1, Node: "n1"},
		{Time: 3, Type: history.OK, Process: 1, F: "write", Key: "2", Value: 1, Node: "n2"},
		{Time: 4, Type: history.Invoke, Process: history.Nuker, F: "start-partition"},
		{Time: 5, Type: history.Info, Process: history.Nuker, F: "start-partition", Nodes: []string{"n1"}, Value: "isolated n1"},
		{Time: 6, Type: history.Invoke, Process: 1, F: "cas", Key: "2", Value: []int64{1, 2}, Node: "n2"},
		{Time: 7, Type: history.OK, Process: 1, F: "cas", Key: "2", Value: []int64{1, 2}, Node: "n2"},
		{Time: 8, Type: history.Invoke, Process: 0, F: "write", Key: "1", Value: 3, Node: "n1"},
		{Time: 9, Type: history.Info, Process: 0, F: "write", Key: "1", Value: 3, Node: "n1", Error: "timeout"},
		{Time: 10, Type: history.Invoke, Process: history.Nuker, F: "stop-partition"},
		{Time: 11, Type: history.Info, Process: history.Nuker, F: "stop-partition"},
		{Time: 12, Type: history.Invoke, Process: 2, F: "read", Key: "2", Node: "n3"},
		{Time: 13, Type: history.OK, Process: 2, F: "read", Key: "2", Value: last, Node: "n3"},
		{Time: 14, Type: history.Invoke, Process: 2, F: "read", Key: "1", Node: "n3"},
		{Time: 15, Type: history.OK, Process: 2, F: "read", Key: "1", Value: 3, Node: "n3"},
	}
}

// TestExportThenCheck: a stored run exported to EDN and checked with
// `check --format jepsen-edn --model cas-register` gets the verdict (and
// exit code) `check RUN_DIR` gives, valid and invalid; with --independent,
// the kv model agrees too.
func TestExportThenCheck(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stale bool
		code  int
	}{{"valid", false, ExitValid}, {"stale read", true, ExitInvalid}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := runDir(t, registerOps(tc.stale))
			var out, errb bytes.Buffer
			code := run([]string{"faultline", "check", dir}, &out, &errb)
			if code != tc.code {
				t.Fatalf("check RUN_DIR: exit %d, want %d\n%s%s", code, tc.code, out.String(), errb.String())
			}
			verdict := verdictLine(t, out.String())
			for _, v := range []struct {
				flags []string
				model string
			}{{nil, "cas-register"}, {[]string{"--independent"}, "kv"}} {
				edn := filepath.Join(t.TempDir(), "out.edn")
				out.Reset()
				errb.Reset()
				args := append([]string{"faultline", "export", dir, "-o", edn}, v.flags...)
				if code := run(args, &out, &errb); code != 0 {
					t.Fatalf("export %v: exit %d\n%s%s", v.flags, code, out.String(), errb.String())
				}
				if !strings.Contains(errb.String(), "wrote 16 ops to "+edn) {
					t.Errorf("export said %q", errb.String())
				}
				out.Reset()
				errb.Reset()
				code := run([]string{"faultline", "check", "--format", "jepsen-edn", "--model", v.model, edn}, &out, &errb)
				if code != tc.code {
					t.Errorf("check --model %s of the export: exit %d, want %d\n%s%s", v.model, code, tc.code, out.String(), errb.String())
				}
				if got := verdictLine(t, out.String()); got != verdict {
					t.Errorf("check --model %s of the export says %q, check RUN_DIR %q", v.model, got, verdict)
				}
			}
		})
	}
}

// verdictLine returns the VALID/INVALID/UNKNOWN word check printed.
func verdictLine(t *testing.T, out string) string {
	t.Helper()
	for _, f := range strings.Fields(out) {
		switch strings.Trim(f, ":.,") {
		case "VALID", "INVALID", "UNKNOWN":
			return strings.Trim(f, ":.,")
		}
	}
	t.Fatalf("no verdict in:\n%s", out)
	return ""
}

// TestExportOutput: stdout by default and with -o -, a file written whole,
// a FIFO written into, a planted symlink refused (its target untouched),
// other formats converted; bad input exits 64 with one line, a failed
// write 3.
func TestExportOutput(t *testing.T) {
	dir := runDir(t, registerOps(false))
	tmp := t.TempDir()
	var stdout bytes.Buffer
	if code := run([]string{"faultline", "export", dir}, &stdout, &bytes.Buffer{}); code != 0 {
		t.Fatalf("export to stdout: exit %d", code)
	}
	if !strings.HasPrefix(stdout.String(), "[{:type :invoke, :f :write, :value 1, :key \"1\", :time 0, :process 0, :index 0, :node \"n1\"}\n") {
		t.Errorf("stdout starts %q", stdout.String()[:min(120, stdout.Len())])
	}
	var dash bytes.Buffer
	if code := run([]string{"faultline", "export", "-o", "-", dir}, &dash, &bytes.Buffer{}); code != 0 || dash.String() != stdout.String() {
		t.Errorf("-o -: exit %d, output differs from the default's", code)
	}

	// A symlink planted where the export goes: refused, never followed.
	victim := filepath.Join(tmp, "victim")
	os.WriteFile(victim, []byte("keep me"), 0o600)
	planted := filepath.Join(tmp, "planted.edn")
	if err := os.Symlink(victim, planted); err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	if code := run([]string{"faultline", "export", dir, "-o", planted}, &bytes.Buffer{}, &errb); code != ExitHarness || !strings.Contains(errb.String(), "symlink") {
		t.Errorf("export onto a symlink: exit %d, stderr %q; want 3 and a word on the symlink", code, errb.String())
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep me" {
		t.Errorf("the symlink's target was written: %q", b)
	}
	if fi, err := os.Lstat(planted); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("%s is no longer the symlink (%v)", planted, err)
	}

	// A regular file is replaced whole.
	file := filepath.Join(tmp, "out.edn")
	os.WriteFile(file, []byte("old"), 0o644)
	if code := run([]string{"faultline", "export", dir, "-o", file}, &bytes.Buffer{}, &bytes.Buffer{}); code != 0 {
		t.Fatalf("export over a file: exit %d", code)
	}
	if b, _ := os.ReadFile(file); string(b) != stdout.String() {
		t.Errorf("the file holds something else than stdout's export")
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 3 {
		t.Errorf("temporary files left behind: %v", ents)
	}

	// A FIFO (or a device such as /dev/null) is written into, not replaced.
	fifo := filepath.Join(tmp, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte)
	go func() {
		b, _ := os.ReadFile(fifo)
		got <- b
	}()
	if code := run([]string{"faultline", "export", dir, "-o", fifo}, &bytes.Buffer{}, &bytes.Buffer{}); code != 0 {
		t.Fatalf("export into a FIFO: exit %d", code)
	}
	if b := <-got; string(b) != stdout.String() {
		t.Errorf("the FIFO carried %d bytes, want the %d of the export", len(b), stdout.Len())
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("%s is no longer a FIFO (%v)", fifo, err)
	}
	os.Remove(fifo)

	// An EDN history exported again is the same history (but for the
	// fault's :nodes, which ReadEDN does not read).
	again := filepath.Join(tmp, "again.edn")
	if code := run([]string{"faultline", "export", file, "-o", again}, &bytes.Buffer{}, &bytes.Buffer{}); code != 0 {
		t.Fatalf("export of an export: exit %d", code)
	}
	if b, _ := os.ReadFile(again); string(b) != strings.Replace(stdout.String(), `, :nodes ["n1"]`, "", 1) {
		t.Errorf("export of the export differs:\n%s", b)
	}

	garbage := filepath.Join(tmp, "garbage.txt")
	os.WriteFile(garbage, []byte("not a history\n"), 0o644)
	notRun := t.TempDir()
	readOnly := filepath.Join(t.TempDir(), "ro")
	os.Mkdir(readOnly, 0o500)
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no argument", []string{"export"}, ExitUsage, "one RUN_DIR"},
		{"two arguments", []string{"export", dir, dir}, ExitUsage, "one RUN_DIR"},
		{"missing", []string{"export", "/nonexistent/run"}, ExitUsage, "no such file"},
		{"not a run dir", []string{"export", notRun}, ExitUsage, "not a run directory"},
		{"not a history", []string{"export", garbage}, ExitUsage, "not a history"},
		{"output is a directory", []string{"export", dir, "-o", tmp}, ExitHarness, "is a directory"},
		{"output dir missing", []string{"export", dir, "-o", "/nonexistent/dir/out.edn"}, ExitHarness, "out.edn"},
		{"output dir read-only", []string{"export", dir, "-o", filepath.Join(readOnly, "out.edn")}, ExitHarness, "permission denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "output dir read-only" && os.Geteuid() == 0 {
				t.Skip("root writes into read-only directories")
			}
			var out, errb bytes.Buffer
			code := run(append([]string{"faultline"}, tc.args...), &out, &errb)
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s%s", code, tc.code, out.String(), errb.String())
			}
			msg := strings.TrimSpace(errb.String())
			if !strings.Contains(msg, tc.msg) || strings.Contains(msg, "\n") {
				t.Errorf("stderr %q: want one line with %q", msg, tc.msg)
			}
		})
	}
}

// TestExportThenCheckAsWorkload: a bank whose every read totals 90 of the
// 100 the workload put in is invalid to the run's own check, which knows
// the total; an export checked with --model bank alone cannot know it, so
// --workload bank judges the export as the run was judged: same verdict.
func TestExportThenCheckAsWorkload(t *testing.T) {
	bal := map[string]any{"0": 30, "1": 15, "2": 15, "3": 15, "4": 15}
	dir := workloadRunDir(t, "bank", []history.Op{
		{Time: 0, Type: history.Invoke, Process: 0, F: "read"},
		{Time: 1, Type: history.OK, Process: 0, F: "read", Value: bal},
		{Time: 2, Type: history.Invoke, Process: 1, F: "transfer", Value: map[string]any{"from": "0", "to": "1", "amount": 5}},
		{Time: 3, Type: history.OK, Process: 1, F: "transfer", Value: map[string]any{"from": "0", "to": "1", "amount": 5}},
		{Time: 4, Type: history.Invoke, Process: 0, F: "read"},
		{Time: 5, Type: history.OK, Process: 0, F: "read", Value: map[string]any{"0": 25, "1": 20, "2": 15, "3": 15, "4": 15}},
	})
	var out, errb bytes.Buffer
	if code := run([]string{"faultline", "check", dir}, &out, &errb); code != ExitInvalid {
		t.Fatalf("check RUN_DIR: exit %d, want %d\n%s%s", code, ExitInvalid, out.String(), errb.String())
	}
	edn := filepath.Join(t.TempDir(), "bank.edn")
	if code := run([]string{"faultline", "export", dir, "-o", edn}, &out, &errb); code != 0 {
		t.Fatalf("export: exit %d\n%s", code, errb.String())
	}
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"--workload", "bank"}, ExitInvalid},
		{[]string{"--workload", "bank", "--model", "bank"}, ExitInvalid},
		{[]string{"--model", "bank"}, ExitValid}, // the total is unknown: every read agrees
		{[]string{"--workload", "ledger"}, ExitUsage},
	} {
		out.Reset()
		errb.Reset()
		args := append(append([]string{"faultline", "check", "--format", "jepsen-edn"}, tc.args...), edn)
		if code := run(args, &out, &errb); code != tc.code {
			t.Errorf("check %v: exit %d, want %d\n%s%s", tc.args, code, tc.code, out.String(), errb.String())
		}
	}
}

// TestExportNotesAnIncompleteRun: the export of a run that did not
// complete says, in one line on stderr, that it carries the history only.
func TestExportNotesAnIncompleteRun(t *testing.T) {
	dir := runDir(t, registerOps(false))
	var errb bytes.Buffer
	if code := run([]string{"faultline", "export", dir}, &bytes.Buffer{}, &errb); code != 0 || errb.Len() != 0 {
		t.Fatalf("complete run: exit %d, stderr %q", code, errb.String())
	}
	b, err := json.Marshal(harness.Results{Run: harness.RunInfo{HarnessError: "heal: reset clocks: n1"}})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, harness.ResultsFile), b, 0o644)
	errb.Reset()
	if code := run([]string{"faultline", "export", dir}, &bytes.Buffer{}, &errb); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if msg := strings.TrimSpace(errb.String()); !strings.Contains(msg, "did not complete") || strings.Contains(msg, "\n") {
		t.Errorf("stderr %q: want one note that the run did not complete", msg)
	}
}
