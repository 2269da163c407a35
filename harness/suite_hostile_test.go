package harness

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/targets/catalog"
)

// hostileChild is set in the environment of a test binary re-run under a
// memory limit by runGuarded.
const hostileChild = "FAULTLINE_HOSTILE_CHILD"

// runGuarded re-runs the test named test in a child process limited to
// 2 GiB of address space and 60 s, so that a regression (a suite expanded
// before it is refused) fails as "out of memory" in the child instead of
// exhausting the machine. It returns the child's output.
func runGuarded(t *testing.T, test string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+test+"$", "-test.v")
	cmd.Env = append(os.Environ(), hostileChild+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("guarded child %s: %v\n%s\n...\n%s", test, err, firstLines(string(out), 10), lastLines(string(out), 25))
	}
	return string(out)
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// limitMemory caps the address space of this (child) process.
func limitMemory(t *testing.T) {
	lim := &syscall.Rlimit{Cur: 2 << 30, Max: 2 << 30}
	if err := syscall.Setrlimit(syscall.RLIMIT_AS, lim); err != nil {
		t.Fatalf("setrlimit: %v", err)
	}
}

// TestLoadSuiteMatrixBombGuarded: a 10-line suite whose matrix is 10^8
// tests is refused from its axis sizes, before any test is built (13.2).
// The work runs in a child process with 2 GiB of address space.
func TestLoadSuiteMatrixBombGuarded(t *testing.T) {
	if os.Getenv(hostileChild) == "" {
		out := runGuarded(t, "TestLoadSuiteMatrixBombGuarded")
		if !strings.Contains(out, "REFUSED OK") {
			t.Fatalf("child did not refuse the suite:\n%s", lastLines(out, 15))
		}
		return
	}
	limitMemory(t)
	for _, f := range []string{"matrix-too-big.yaml", "matrix-unknown-keys.yaml", "matrix-overflow.yaml"} {
		t0 := time.Now()
		_, err := LoadSuite(filepath.Join("testdata", "hostile", f), DefaultSpec(), catalog.Default())
		if err == nil {
			t.Fatalf("%s: accepted", f)
		}
		if d := time.Since(t0); d > 2*time.Second {
			t.Errorf("%s: refused after %s", f, d)
		}
		t.Logf("%s: %v", f, err)
	}
	fmt.Println("REFUSED OK")
}

// TestLoadSuiteAnchors: anchors, aliases and merge keys give the same
// tests as the suite spelled out (13.3).
func TestLoadSuiteAnchors(t *testing.T) {
	load := func(name string) []SuiteTest {
		t.Helper()
		s, err := LoadSuite(filepath.Join("testdata", "suites", name), DefaultSpec(), catalog.Default())
		if err != nil {
			t.Fatal(err)
		}
		for i := range s.Tests {
			s.Tests[i].Line = 0
		}
		return s.Tests
	}
	got, want := load("anchors.yaml"), load("spelled-out.yaml")
	if len(got) != 5 {
		t.Errorf("%d tests, want 5", len(got))
	}
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("anchored suite differs from the spelled-out one:\n got %+v\nwant %+v", got, want)
	}
}

// TestLoadSuiteAliasLines: an unknown key or a bad value reached through
// an alias or a merge is reported at the line where it is written.
func TestLoadSuiteAliasLines(t *testing.T) {
	p := writeSuite(t, `x-bad: &bad
  time-limit: soon
tests:
  - <<: *bad
    name: a
    target: etcd
`)
	_, err := LoadSuite(p, DefaultSpec(), catalog.Default())
	if err == nil || !strings.Contains(err.Error(), "suite.yaml:2: ") {
		t.Errorf("err %v, want it at line 2", err)
	}
}

// TestLoadSuiteLimits: a suite file too large, or nested too deep, is
// refused with one line before it is decoded.
func TestLoadSuiteLimits(t *testing.T) {
	big := "tests:\n  - name: a\n    target: etcd\n#" + strings.Repeat("x", 2<<20) + "\n"
	deep := "tests:\n  - name: a\n    target: etcd\n    target-opts: " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "\n"
	for name, text := range map[string]string{"big": big, "deep": deep} {
		_, err := LoadSuite(writeSuite(t, text), DefaultSpec(), catalog.Default())
		if err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: err %v, want a one-line refusal", name, err)
		}
	}
}

// TestHostileSuites: every hostile suite of testdata/hostile is refused
// with exactly this error, before anything runs.
// It runs in a child process under a memory limit (see runGuarded).
func TestHostileSuites(t *testing.T) {
	if os.Getenv(hostileChild) == "" {
		runGuarded(t, "TestHostileSuites")
		return
	}
	limitMemory(t)
	long := strings.Repeat("a", 300)
	tests := map[string]string{
		"matrix-unknown-keys.yaml":   unknownKeys("matrix-unknown-keys.yaml", 3, "abcdefgh"),
		"matrix-too-big.yaml":        `:2: matrix expands to 100000000 tests; a suite may have at most 1000`,
		"matrix-overflow.yaml":       `:3: matrix expands to more than 18446744073709551615 tests; a suite may have at most 1000`,
		"matrices-add-up.yaml":       `:7: matrix expands to 600 tests, 1200 in the suite; a suite may have at most 1000`,
		"repeat-runs.yaml":           `:2: matrix makes 20000 runs (20 tests x repeat 1000); a suite may make at most 10000`,
		"billion-laughs.yaml":        `:5: aliases expand the suite to more than 100000 YAML nodes`,
		"alias-cycle.yaml":           `:5: anchor "t" contains itself`,
		"test-named-latest.yaml":     `:4: test latest: test name "latest" is reserved: the store keeps a link of that name`,
		"test-named-index.yaml":      `:2: test Index.HTML: test name "Index.HTML" is reserved: the store keeps a file of that name`,
		"test-name-too-long.yaml":    `:2: test ` + long + `: test name is 300 bytes; at most 200`,
		"rate-nan.yaml":              `:2: test nan: rate must be a finite number >= 0, got NaN`,
		"two-documents.yaml":         `:4: a suite file holds one YAML document`,
		"duplicate-key.yaml":         `:4: mapping key "target" already defined at line 3`,
		"unknown-key-via-merge.yaml": `:3: unknown key "colour"`,
		"many-problems.yaml": `:2: test a: nodes must be 1..100, got 0
many-problems.yaml:2: test a: rate must be a finite number >= 0, got +Inf
many-problems.yaml:2: test a: ops-per-key must be >= 0, got -1
many-problems.yaml:7: test b: unknown target "oracle" (known: [etcd maelstrom minio nats postgres redis zookeeper])
many-problems.yaml:9: test latest: test name "latest" is reserved: the store keeps a link of that name`,
	}
	entries, err := os.ReadDir(filepath.Join("testdata", "hostile"))
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		files = append(files, e.Name())
	}
	for name := range tests {
		if !slices.Contains(files, name) {
			t.Errorf("testdata/hostile/%s is missing", name)
		}
	}
	for _, name := range files {
		t.Run(name, func(t *testing.T) {
			want, ok := tests[name]
			if !ok {
				t.Fatalf("no expected error for testdata/hostile/%s", name)
			}
			done := make(chan error, 1)
			go func() {
				_, err := LoadSuite(filepath.Join("testdata", "hostile", name), DefaultSpec(), catalog.Default())
				done <- err
			}()
			select {
			case err := <-done:
				got := "<nil>"
				if err != nil {
					got = strings.ReplaceAll(err.Error(), filepath.Join("testdata", "hostile")+string(filepath.Separator), "")
				}
				if got != name+want {
					t.Errorf("error\n got %s\nwant %s", got, name+want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("not refused within 10 s")
			}
		})
	}
}

// TestSpecValidateNames: test names that collide with the store's layout
// or that no file system takes are refused (13.4).
func TestSpecValidateNames(t *testing.T) {
	ok := []string{"etcd-register", "a", "A.b_c+d-e", strings.Repeat("x", 200), "latest-etcd", "index"}
	bad := map[string]string{
		"latest":                 `test name "latest" is reserved`,
		"LATEST":                 `test name "LATEST" is reserved`,
		"index.html":             `test name "index.html" is reserved`,
		"compare.html":           `reserved`,
		"favicon.ico":            `reserved`,
		".hidden":                `test name ".hidden": use letters`,
		"..":                     `test name "..": use letters`,
		"a/b":                    `test name "a/b": use letters`,
		`a\b`:                    `use letters`,
		"a\x00b":                 `test name "a\x00b": use letters`,
		"a\x1b]0;pwned\x07":      `use letters`,
		"a\nb":                   `use letters`,
		strings.Repeat("x", 201): `test name is 201 bytes; at most 200`,
	}
	for _, name := range ok {
		s := DefaultSpec()
		s.Test = name
		if err := s.Validate(); err != nil {
			t.Errorf("%q refused: %v", name, err)
		}
	}
	for name, want := range bad {
		s := DefaultSpec()
		s.Test = name
		err := s.Validate()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err %v, want %q", name, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: error is not one line: %q", name, err)
		}
	}
}

// TestSpecValidateGaps: values that used to pass validation (13.7), and
// every problem of a spec is reported, one line each.
func TestSpecValidateGaps(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	badLatest := t.TempDir()
	if err := os.Mkdir(filepath.Join(badLatest, "latest"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(*Spec)
		want string
	}{
		{"rate NaN", func(s *Spec) { s.Rate = math.NaN() }, "rate must be a finite number >= 0, got NaN"},
		{"rate +Inf", func(s *Spec) { s.Rate = math.Inf(1) }, "rate must be a finite number >= 0, got +Inf"},
		{"rate -1", func(s *Spec) { s.Rate = -1 }, "rate must be a finite number >= 0, got -1"},
		{"ops-per-key", func(s *Spec) { s.OpsPerKey = -1 }, "ops-per-key must be >= 0, got -1"},
		{"store is a file", func(s *Spec) { s.Store = file }, "is not a directory"},
		{"store under a file", func(s *Spec) { s.Store = filepath.Join(file, "store") }, "is not a directory"},
		{"store/latest not a link", func(s *Spec) { s.Store = badLatest }, "latest is not a link"},
		{"negative recovery wait", func(s *Spec) { s.RecoveryWait = -1 }, "recovery wait must be >= 0"},
		{"nodes -1", func(s *Spec) { s.Nodes = -1 }, "nodes must be 1..100, got -1"},
		{"time limit 0", func(s *Spec) { s.TimeLimit = 0 }, "time limit must be > 0"},
		{"time limit absurd", func(s *Spec) { s.TimeLimit = Duration(1000 * time.Hour) }, "time limit must be at most"},
	}
	for _, tt := range tests {
		s := DefaultSpec()
		s.Store = t.TempDir()
		tt.edit(&s)
		err := s.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want %q", tt.name, err, tt.want)
		}
	}
	// All problems, one line each.
	s := DefaultSpec()
	s.Store = file
	s.Rate, s.OpsPerKey, s.Nodes, s.Test = math.NaN(), -1, 0, "latest"
	err := s.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 5 {
		t.Errorf("want 5 lines, one per problem, got %d:\n%s", len(lines), err)
	}
}

// unknownKeys is the refusal of the one-letter keys of name, one line each
// from line first on, the first without its file name (as the table has it).
func unknownKeys(name string, first int, keys string) string {
	var lines []string
	for i, k := range keys {
		lines = append(lines, fmt.Sprintf("%s:%d: unknown key %q", name, first+i, string(k)))
	}
	return strings.TrimPrefix(strings.Join(lines, "\n"), name)
}
