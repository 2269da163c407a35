package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline/faultline/harness"
	"github.com/faultline/faultline/models/history"
)

// TestValidationGaps: bad values are refused with exit 64 before Docker is
// touched (DOCKER_HOST points nowhere: reaching for it would exit 3), and
// every problem is reported, one "faultline:" line each (13.7).
func TestValidationGaps(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	tmp := t.TempDir()
	file := filepath.Join(tmp, "a-file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(tmp, "garbage.txt")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("not a history\n"), 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	suite := filepath.Join(tmp, "suite.yaml")
	if err := os.WriteFile(suite, []byte("tests:\n  - name: a\n    target: etcd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(tmp, "store")
	tests := []struct {
		name string
		args []string
		want []string // the lines of stderr, each after "faultline: "
	}{
		{"rate NaN", []string{"run", "--store", store, "--rate", "NaN"}, []string{"rate must be a finite number >= 0, got NaN"}},
		{"rate Inf", []string{"run", "--store", store, "--rate", "Inf"}, []string{"rate must be a finite number >= 0, got +Inf"}},
		{"negative ops-per-key", []string{"run", "--store", store, "--ops-per-key", "-1"}, []string{"ops-per-key must be >= 0, got -1"}},
		{"store is a file", []string{"run", "--store", file}, []string{"store " + file + " is not a directory"}},
		{"test named latest", []string{"run", "--store", store, "--test-name", "latest"}, []string{`test name "latest" is reserved: the store keeps a link of that name`}},
		{"absurd test count", []string{"run", "--store", store, "--test-count", "20000"}, []string{"--test-count must be 1..10000, got 20000"}},
		{"junit is a directory", []string{"run", "--store", store, "--junit", tmp}, []string{"--junit " + tmp + " is a directory"}},
		{"every problem", []string{"run", "--store", file, "--rate", "NaN", "--nodes", "0", "--test-name", "latest", "--nemesis", "meteor", "--test-count", "0"}, []string{
			`unknown fault "meteor" (known: partition, kill, pause, failover, clock, packet, member, power, delay, upgrade, disk-full, disk-error, slow-disk, corrupt)`,
			"nodes must be 1..100, got 0",
			"rate must be a finite number >= 0, got NaN",
			`test name "latest" is reserved: the store keeps a link of that name`,
			"store " + file + " is not a directory",
			"--test-count must be 1..10000, got 0",
		}},
		{"check negative timeout", []string{"check", "--timeout", "-5s", "--model", "cas-register", garbage}, []string{"--timeout must be >= 0, got -5s"}},
		{"check bogus format", []string{"check", "--format", "bogus", "--model", "cas-register", garbage}, []string{`--format "bogus": want auto, faultline, jepsen-edn or jepsen-log`}},
		{"check unknown model before parsing", []string{"check", "--model", "teapot", garbage}, []string{`unknown model "teapot"`}},
		{"check every problem", []string{"check", "--format", "bogus", "--timeout", "-1s", garbage}, []string{
			`--format "bogus": want auto, faultline, jepsen-edn or jepsen-log`,
			"--timeout must be >= 0, got -1s",
			"checking a history file needs --model (e.g. --model cas-register) or --workload",
		}},
		{"suite store is a file", []string{"suite", "--check-only", "--store", file, suite}, []string{suite + ":2: test a: store " + file + " is not a directory"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(append([]string{"faultline"}, tt.args...), &out, &errb)
			if code != ExitUsage {
				t.Errorf("exit %d, want 64; stderr:\n%s", code, errb.String())
			}
			var want []string
			for _, w := range tt.want {
				want = append(want, "faultline: "+w)
			}
			if got := strings.TrimSpace(errb.String()); !linesHavePrefixes(got, want) {
				t.Errorf("stderr\n%s\nwant lines starting\n%s", got, strings.Join(want, "\n"))
			}
			if entries, _ := os.ReadDir(store); len(entries) > 0 {
				t.Errorf("a refused run stored %v", entries)
			}
		})
	}
}

// linesHavePrefixes reports whether got has one line per prefix, each
// starting with it.
func linesHavePrefixes(got string, prefixes []string) bool {
	lines := strings.Split(got, "\n")
	if len(lines) != len(prefixes) {
		return false
	}
	for i, p := range prefixes {
		if !strings.HasPrefix(lines[i], p) {
			return false
		}
	}
	return true
}

// TestCheckWriteFailure: `faultline check` that cannot write its outputs
// is a harness failure (exit 3), not a usage error; a bad run directory
// stays a usage error (64).
func TestCheckWriteFailure(t *testing.T) {
	spec := harness.DefaultSpec()
	spec.Test = "w"
	dir := writeStoredRun(t, spec, []history.Op{
		{Time: 0, Type: history.Invoke, Process: 0, F: "write", Key: "1", Value: 1},
		{Time: 10, Type: history.OK, Process: 0, F: "write", Key: "1", Value: 1},
	})
	// report.html is a non-empty directory: the report cannot be written
	// (even as root).
	if err := os.MkdirAll(filepath.Join(dir, harness.ReportFile, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"faultline", "check", dir}, &out, &errb); code != ExitHarness {
		t.Errorf("write failure: exit %d, want 3; stderr %s", code, errb.String())
	}
	// A run directory without a history is bad input.
	empty := t.TempDir()
	errb.Reset()
	if code := run([]string{"faultline", "check", empty}, &out, &errb); code != ExitUsage {
		t.Errorf("not a run directory: exit %d, want 64; stderr %s", code, errb.String())
	}
}

// TestReplayHostileSpec: a stored spec.json is input like the flags: a
// replay of a run whose spec names the test "latest" is refused with exit
// 64 before Docker is touched.
func TestReplayHostileSpec(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	dir := t.TempDir()
	spec := harness.DefaultSpec()
	spec.Test, spec.OpsPerKey = "latest", -1
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, harness.SpecFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	var hb bytes.Buffer
	if _, err := history.NewWriter(&hb); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, harness.HistoryFile), hb.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	store := t.TempDir()
	var out, errb bytes.Buffer
	code := run([]string{"faultline", "run", "--store", store, "--replay", dir}, &out, &errb)
	want := []string{"faultline: ops-per-key must be >= 0, got -1", `faultline: test name "latest" is reserved`}
	if code != ExitUsage || !linesHavePrefixes(strings.TrimSpace(errb.String()), want) {
		t.Errorf("exit %d, stderr:\n%s\nwant 64 and lines starting\n%s", code, errb.String(), strings.Join(want, "\n"))
	}
}
