package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/faultline/faultline/harness"
	"github.com/faultline/faultline/harness/docker"
	"github.com/faultline/faultline/harness/docker/dockerenv"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/models/history"
)

// childCmd is `faultline args...` as a process of its own (see
// TestBeFaultline), with its output left to the caller.
func childCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestBeFaultline$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), "FAULTLINE_BE_MAIN=1")
	return cmd
}

// runObjects counts the containers and networks labelled with runID.
func runObjects(ctx context.Context, t *testing.T, cli *client.Client, runID string) int {
	t.Helper()
	left, err := docker.List(ctx, cli, runID)
	if err != nil {
		t.Fatal(err)
	}
	return len(left)
}

// TestCleanKeepsLiveRun: `faultline clean --run ID` of a run whose
// controller (this test) is alive removes nothing and says the run is
// live; --force removes it. Before controllers were recorded, clean
// force-removed every labelled object.
func TestCleanKeepsLiveRun(t *testing.T) {
	cli := dockerenv.NeedDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	img, err := docker.BaseImage(ctx, cli, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	runID := fmt.Sprintf("t-clean-live-%x-%d", time.Now().UnixNano()&0xffffff, os.Getpid())
	labels := docker.RunLabels(runID)
	t.Cleanup(func() { _ = docker.Clean(context.Background(), cli, runID) })
	if _, err := cli.NetworkCreate(ctx, "faultline-"+runID, network.CreateOptions{Labels: labels}); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.ContainerCreate(ctx, &container.Config{Image: img, Cmd: []string{"true"}, Labels: labels},
		&container.HostConfig{NetworkMode: "none"}, nil, nil, "faultline-"+runID+"-n1"); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run([]string{"faultline", "clean", "--run", runID}, &out, &errb)
	if code != 0 {
		t.Fatalf("clean: exit %d: %s", code, errb.String())
	}
	if n := runObjects(ctx, t, cli, runID); n != 2 {
		t.Errorf("clean of a live run left %d of its 2 objects:\n%s", n, out.String())
	}
	if want := "kept live run " + runID; !strings.Contains(out.String(), want) {
		t.Errorf("clean output lacks %q:\n%s", want, out.String())
	}
	out.Reset()
	if code := run([]string{"faultline", "clean", "--run", runID, "--force"}, &out, &errb); code != 0 {
		t.Fatalf("clean --force: exit %d: %s", code, errb.String())
	}
	if n := runObjects(ctx, t, cli, runID); n != 0 {
		t.Errorf("clean --force left %d objects:\n%s", n, out.String())
	}
	if !strings.Contains(out.String(), "removed container faultline-"+runID+"-n1") {
		t.Errorf("clean --force output:\n%s", out.String())
	}
}

// TestTwoRunsAndClean: two etcd runs (3 nodes, 20 s, partitions and kills)
// on one engine at the same time, each in a faultline process of its own;
// while both are in their run phase a third process runs `faultline
// clean`. It removes nothing of theirs and lists both as live, and both
// runs finish valid.
//
// Off CI the engine may be shared with other people's runs, so the third
// process cleans with --dry-run (what it would remove must not touch the
// two runs) and then, for real, limited to each run by --run; under
// CI=true or FAULTLINE_TEST_CLEAN_ENGINE=1 it runs plain `faultline clean`.
func TestTwoRunsAndClean(t *testing.T) {
	cli := dockerenv.NeedDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	type runProc struct {
		cmd   *exec.Cmd
		store string
		out   bytes.Buffer
		id    string
		done  chan error
	}
	procs := make([]*runProc, 2)
	for i := range procs {
		p := &runProc{store: filepath.Join(t.TempDir(), "store"), done: make(chan error, 1)}
		p.cmd = childCmd("run", "--target", "etcd", "--nodes", "3", "--time-limit", "20s",
			"--nemesis", "partition,kill", "--nemesis-interval", "4s", "--recovery-wait", "3s",
			"--store", p.store, "--test-name", fmt.Sprintf("two-runs-%d", i))
		p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { p.done <- p.cmd.Wait() }()
		procs[i] = p
	}
	t.Cleanup(func() {
		for _, p := range procs {
			if p.cmd.ProcessState == nil {
				_ = p.cmd.Process.Kill()
				<-p.done
			}
			if p.id != "" {
				_ = docker.Clean(context.Background(), cli, p.id)
			}
		}
	})

	// Wait until both runs record operations: they are in their run phase.
	inRunPhase := func(p *runProc) bool {
		if p.id == "" {
			f := filters.NewArgs(filters.Arg("label", docker.LabelPID+"="+strconv.Itoa(p.cmd.Process.Pid)))
			cs, err := cli.ContainerList(ctx, container.ListOptions{Filters: f})
			if err != nil || len(cs) == 0 {
				return false
			}
			p.id = cs[0].Labels[docker.LabelRun]
		}
		ops, err := history.ReadFile(filepath.Join(p.store, "latest", harness.HistoryFile))
		return err == nil && len(ops) > 20
	}
	deadline := time.Now().Add(10 * time.Minute)
	for !(inRunPhase(procs[0]) && inRunPhase(procs[1])) {
		for i, p := range procs {
			select {
			case err := <-p.done:
				t.Fatalf("run %d ended before the clean: %v\n%s", i, err, p.out.String())
			default:
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the two runs never were in their run phase together")
		}
		time.Sleep(200 * time.Millisecond)
	}
	before := []int{runObjects(ctx, t, cli, procs[0].id), runObjects(ctx, t, cli, procs[1].id)}
	t.Logf("runs %s (%d objects) and %s (%d objects) are in their run phase", procs[0].id, before[0], procs[1].id, before[1])

	cleans := [][]string{{"clean", "--dry-run"}, {"clean", "--run", procs[0].id}, {"clean", "--run", procs[1].id}}
	if testenv.InCI() || os.Getenv("FAULTLINE_TEST_CLEAN_ENGINE") == "1" {
		cleans = [][]string{{"clean"}}
	}
	for _, args := range cleans {
		out, err := childCmd(args...).CombinedOutput()
		if err != nil {
			t.Fatalf("faultline %v: %v\n%s", args, err, out)
		}
		t.Logf("faultline %v:\n%s", args, out)
		for i, p := range procs {
			for _, line := range strings.Split(string(out), "\n") {
				if strings.Contains(line, "remove") && strings.Contains(line, p.id) {
					t.Errorf("run %d: %s", i, line)
				}
			}
			only := len(args) == 3 && args[1] == "--run"
			if (!only || args[2] == p.id) && !strings.Contains(string(out), "kept live run "+p.id+" ") {
				t.Errorf("faultline %v does not list run %d (%s) as live", args, i, p.id)
			}
		}
	}
	for i, p := range procs {
		if n := runObjects(ctx, t, cli, p.id); n != before[i] {
			t.Errorf("run %d had %d objects before the clean, %d after", i, before[i], n)
		}
	}
	for i, p := range procs {
		err := <-p.done
		out := p.out.String()
		if err != nil {
			t.Errorf("run %d: %v\n%s", i, err, out)
		} else {
			t.Logf("run %d: %s", i, lastLines(out, 6))
		}
		if n := runObjects(ctx, t, cli, p.id); n != 0 {
			t.Errorf("run %d left %d objects behind", i, n)
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
