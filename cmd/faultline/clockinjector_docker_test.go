package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/harness/docker/dockerenv"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/models/history"
)

// buildInstalled builds faultline as `go install` does for a user
// (-trimpath, cgo as the environment has it: dynamically linked when gcc
// is present) and copies the binary to a directory of its own, away from
// any source tree, as a copied binary would be.
func buildInstalled(ctx context.Context, t *testing.T) string {
	t.Helper()
	built := filepath.Join(t.TempDir(), "faultline")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", built, ".")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build -trimpath: %v\n%s", err, b)
	}
	bin := filepath.Join(t.TempDir(), "faultline")
	data, err := os.ReadFile(built)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// awayEnv is the environment of a user with faultline installed: no
// FAULTLINE_* settings (so no $FAULTLINE_CLOCK_INJECTOR), and a fresh HOME,
// Go path and module cache, so neither a cached injector nor faultline's
// sources in a module cache can help.
func awayEnv(t *testing.T) []string {
	t.Helper()
	home := t.TempDir()
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "FAULTLINE_"), strings.HasPrefix(k, "XDG_"),
			k == "HOME", k == "GOPATH", k == "GOMODCACHE", k == "GOFLAGS", k == "GOCACHE", k == "PWD":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+home, "GOPATH="+filepath.Join(home, "go"),
		"GOMODCACHE="+filepath.Join(home, "go", "pkg", "mod"), "GOCACHE="+filepath.Join(home, "go-build"))
}

// TestInstalledBinaryInjectsClockFaults: a faultline built with -trimpath,
// copied elsewhere and run from / with no source tree, module cache or
// cached injector reachable, skews the clocks of a real 3-node etcd
// cluster and undoes it: exit 0, every clock fault start and stop
// succeeded, the offsets read during a fault are not zero and the last
// ones are. (Before faultline carried its injector, this run ended with
// exit 3 and every clock operation failed: "faultline's source tree is not
// here".)
func TestInstalledBinaryInjectsClockFaults(t *testing.T) {
	dockerenv.NeedDocker(t)
	if testenv.Short() {
		t.Skip("SKIPPING: a 3-node etcd run (-short)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	bin := buildInstalled(ctx, t)
	store := t.TempDir()
	// Every step a skew, held until its stop: with the kind drawn at
	// random, a run of resets and strobes caught at their zero phase now
	// and then showed no offset at all (one CI run in many).
	cmd := exec.CommandContext(ctx, bin, "run", "--target", "etcd", "--nemesis", "clock", "--schedule", "mix:clock/skew",
		"--nemesis-interval", "3s", "--time-limit", "30s", "--nodes", "3", "--seed", "5", "--store", store)
	cmd.Dir = "/"
	cmd.Env = awayEnv(t)
	out, err := cmd.CombinedOutput()
	code := 0
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		code = exitErr.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	t.Logf("faultline run: exit %d\n%s", code, out)
	files, _ := filepath.Glob(filepath.Join(store, "*", "*", "history.jsonl"))
	if len(files) != 1 {
		t.Fatalf("want one run's history in %s, found %v", store, files)
	}
	f, err := os.Open(files[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type op struct {
		Type    string          `json:"type"`
		Process any             `json:"process"`
		F       string          `json:"f"`
		Value   json.RawMessage `json:"value"`
		Error   string          `json:"error"`
	}
	count := map[string]int{}
	var lastOffsets map[string]float64
	skewSeen := false
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var o op
		if json.Unmarshal(sc.Bytes(), &o) != nil || o.Process != "nuker" || o.Type != "info" {
			continue
		}
		switch o.F {
		case "start-clock", "stop-clock", "clock-offsets":
		default:
			continue
		}
		if o.Error != "" {
			count[o.F+" failed"]++
			// On a loaded machine an injection may be cut short by the end
			// of the run, or a Docker call may time out; the old failure
			// (no injector away from the source tree) is neither.
			if strings.HasPrefix(o.Error, history.CutShort) || strings.Contains(o.Error, "context deadline exceeded") {
				t.Logf("%s did not finish in time: %s", o.F, o.Error)
			} else {
				t.Errorf("%s failed: %s", o.F, o.Error)
			}
			continue
		}
		count[o.F+" ok"]++
		if o.F == "clock-offsets" {
			lastOffsets = nil
			if err := json.Unmarshal(o.Value, &lastOffsets); err != nil {
				t.Fatalf("clock-offsets value %s: %v", o.Value, err)
			}
			for _, ms := range lastOffsets {
				skewSeen = skewSeen || ms != 0
			}
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	t.Logf("nuker clock operations: %v; last offsets %v", count, lastOffsets)
	if code != 0 {
		t.Errorf("exit %d, want 0 (valid)", code)
	}
	if count["start-clock ok"] == 0 || count["stop-clock ok"] == 0 {
		t.Errorf("want clock faults started and stopped, got %v", count)
	}
	if !skewSeen {
		t.Error("no node's clock was ever seen skewed")
	}
	if len(lastOffsets) != 3 {
		t.Errorf("last clock offsets %v, want all 3 nodes", lastOffsets)
	}
	for n, ms := range lastOffsets {
		if ms != 0 {
			t.Errorf("%s's clock still %v ms off at the end", n, ms)
		}
	}
}

// TestNoClockInjectorFailsFirst: when no usable clock injector is found, a
// clock run stops before anything is stored or started, with exit 3 and
// one line naming what to fix. (Before, it started the cluster and every
// clock operation failed, run after run.)
func TestNoClockInjectorFailsFirst(t *testing.T) {
	dockerenv.NeedDocker(t)
	store := t.TempDir()
	t.Setenv("FAULTLINE_CLOCK_INJECTOR", "/etc/hostname") // not an executable
	var stdout, stderr strings.Builder
	start := time.Now()
	code := run([]string{"faultline", "run", "--target", "etcd", "--nemesis", "clock", "--time-limit", "5s", "--store", store}, &stdout, &stderr)
	took := time.Since(start)
	msg := strings.TrimSpace(stderr.String())
	if code != ExitHarness || strings.Count(msg, "\n") != 0 || !strings.Contains(msg, "FAULTLINE_CLOCK_INJECTOR") || !strings.Contains(msg, "not an ELF executable") {
		t.Errorf("exit %d, stderr %q; want exit %d and one line about $FAULTLINE_CLOCK_INJECTOR", code, msg, ExitHarness)
	}
	if ents, _ := os.ReadDir(store); len(ents) > 0 {
		t.Errorf("the store holds %d entries, want none: the run must stop before anything starts", len(ents))
	}
	t.Logf("exit %d after %s: %s", code, took.Round(time.Millisecond), msg)
}
