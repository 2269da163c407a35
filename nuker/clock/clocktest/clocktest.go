// Package clocktest builds the probe programs the clock injector's tests
// skew: a static Go program and a static C program (gcc -static, so it runs
// in any container) that report their wall and monotonic clocks, either
// answering a line on stdin or, run as "probe loop FILE", rewriting FILE
// every 5 ms. Busy threads call the clock functions all the time, so an
// injection meets threads inside them. Each answer is one line:
//
//	wall_ns mono_ns coarse_ns gettimeofday_ns time_s max_monotonic_gap_ns calls
package clocktest

import (
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/faultline/faultline/internal/testenv"
)

//go:embed goprobe.go.txt
var goProbe string

//go:embed cprobe.c.txt
var cProbe string

// BuildGo builds the Go probe (CGO_ENABLED=0) into dir and returns its path.
func BuildGo(t testing.TB, dir string) string {
	t.Helper()
	src := filepath.Join(dir, "goprobe-src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(goProbe), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module goprobe\n\ngo 1.22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "goprobe")
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-mod=mod")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build Go probe: %v\n%s", err, b)
	}
	return out
}

// BuildC builds the C probe statically into dir and returns its path; it
// skips the test (fails it under CI=true) when gcc cannot.
func BuildC(t testing.TB, dir string) string {
	t.Helper()
	src := filepath.Join(dir, "cprobe.c")
	if err := os.WriteFile(src, []byte(cProbe), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "cprobe")
	gcc, err := exec.LookPath("gcc")
	if err == nil {
		var b []byte
		if b, err = exec.Command(gcc, "-static", "-O2", "-pthread", "-o", out, src).CombinedOutput(); err != nil {
			err = fmt.Errorf("%v\n%s", err, b)
		}
	}
	if err != nil {
		if testenv.InCI() {
			t.Fatalf("build C probe with gcc -static: %v", err)
		}
		t.Skipf("SKIPPING %s: cannot build the C probe with gcc -static: %v", t.Name(), err)
	}
	return out
}

// Sample is one answer of a probe, in nanoseconds except TimeS.
type Sample struct {
	Wall, Mono, Coarse, Gtod, TimeS, MaxGap, Calls int64
}

// Parse reads one answer line.
func Parse(line string) (Sample, error) {
	f := strings.Fields(line)
	if len(f) != 7 {
		return Sample{}, fmt.Errorf("probe said %q", line)
	}
	v := make([]int64, 7)
	for i := range f {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return Sample{}, fmt.Errorf("probe said %q", line)
		}
		v[i] = n
	}
	return Sample{v[0], v[1], v[2], v[3], v[4], v[5], v[6]}, nil
}
