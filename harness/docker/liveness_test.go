package docker

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/faultline/faultline/harness/docker/dockerenv"
)

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		name, in  string
		start     uint64
		state     byte
		wantError bool
	}{
		{"plain", "42 (faultline) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 9 0 123456 0 0", 123456, 'S', false},
		{"name with spaces and parens", "42 (a) b (c) Z 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 9 0 77 0 0", 77, 'Z', false},
		{"truncated", "42 (x) S 1 2 3", 0, 0, true},
		{"no name", "42 x S", 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := parseProcStat([]byte(tt.in))
			if (err != nil) != tt.wantError {
				t.Fatalf("error %v, want error %v", err, tt.wantError)
			}
			if st.start != tt.start || st.state != tt.state {
				t.Errorf("got start %d state %c, want %d %c", st.start, st.state, tt.start, tt.state)
			}
		})
	}
}

// TestSelfIsLive: this process, as recorded by RunLabels, is live; the
// same labels with another start time (a reused pid) are stale.
func TestSelfIsLive(t *testing.T) {
	self, err := Self()
	if err != nil {
		t.Fatalf("Self: %v", err)
	}
	l := RunLabels("r-1")
	if got := classify(l, self, readProcStat); got.State != Live {
		t.Fatalf("this process: %v, want live", got)
	}
	l[LabelPIDStart] = strconv.FormatUint(self.PIDStart+1, 10)
	if got := classify(l, self, readProcStat); got.State != Stale {
		t.Fatalf("reused pid: %v, want stale", got)
	}
}

func TestClassify(t *testing.T) {
	self := Controller{Host: "h", Machine: "m", Boot: "b", PIDNS: "pid:[1]", PID: 10, PIDStart: 500}
	procs := map[int]procStat{10: {500, 'S'}, 20: {600, 'R'}, 30: {700, 'Z'}}
	read := func(pid int) (procStat, error) {
		if st, ok := procs[pid]; ok {
			return st, nil
		}
		return procStat{}, fmt.Errorf("process %d: %w", pid, os.ErrNotExist)
	}
	ctl := func(pid int, start uint64, edit func(m map[string]string)) map[string]string {
		c := self
		c.PID, c.PIDStart = pid, start
		m := c.Labels()
		m[LabelRun] = "run"
		if edit != nil {
			edit(m)
		}
		return m
	}
	tests := []struct {
		name   string
		labels map[string]string
		want   State
	}{
		{"controller runs", ctl(20, 600, nil), Live},
		{"controller is us", ctl(10, 500, nil), Live},
		{"pid gone", ctl(99, 600, nil), Stale},
		{"pid reused", ctl(20, 601, nil), Stale},
		{"controller a zombie", ctl(30, 700, nil), Stale},
		{"machine rebooted", ctl(20, 600, func(m map[string]string) { m[LabelBoot] = "old" }), Stale},
		{"other host", ctl(99, 1, func(m map[string]string) { m[LabelHost] = "elsewhere" }), Unknown},
		{"same host name, other machine id", ctl(99, 1, func(m map[string]string) { m[LabelMachine] = "m2" }), Unknown},
		{"other pid namespace", ctl(99, 1, func(m map[string]string) { m[LabelPIDNS] = "pid:[2]" }), Unknown},
		{"no boot id recorded", ctl(99, 1, func(m map[string]string) { delete(m, LabelBoot) }), Unknown},
		{"no start time recorded", ctl(99, 1, func(m map[string]string) { delete(m, LabelPIDStart) }), Unknown},
		{"garbage pid", ctl(99, 1, func(m map[string]string) { m[LabelPID] = "x" }), Unknown},
		{"older faultline, pid gone", map[string]string{LabelRun: "20260101-abcdef-99"}, Stale},
		{"older faultline, pid runs", map[string]string{LabelRun: "20260101-abcdef-20"}, Unknown},
		{"older faultline, pid a zombie", map[string]string{LabelRun: "20260101-abcdef-30"}, Stale},
		{"older faultline, timestamp not pid", map[string]string{LabelRun: "test-cluster-1765000000000000000"}, Unknown},
		{"older faultline, no pid", map[string]string{LabelRun: "test-images"}, Unknown},
		{"older faultline, empty run id", map[string]string{LabelRun: ""}, Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classify(tt.labels, self, read)
			if got.State != tt.want {
				t.Errorf("%v (%s), want %v", got.State, got.Reason, tt.want)
			}
			if got.Reason == "" {
				t.Error("no reason given")
			}
		})
	}
}

// TestHelperLabels: a clock helper is as live as its node.
func TestHelperLabels(t *testing.T) {
	self, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	node := RunLabels("r-1")
	node[LabelRecipe] = "abc" // from the image
	h := helperLabels(node, "clock-helper")
	if h[LabelRole] != "clock-helper" || h[LabelRun] != "r-1" || h[LabelRecipe] != "" {
		t.Errorf("helper labels %v", h)
	}
	if got := classify(h, self, readProcStat); got.State != Live {
		t.Errorf("helper of a live node: %v", got)
	}
}

// deadPID returns the pid of a process that has exited and been reaped.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if err := syscall.Kill(pid, 0); err == nil {
		t.Skipf("pid %d was reused at once", pid)
	}
	return pid
}

// TestCleanRunsKeepsLiveRuns plants labelled containers and networks of
// runs whose controller is live, gone (pid exited, or pid reused), from
// another machine, and from older faultline versions, and shows that
// clean removes exactly the stale ones, that a dry run removes nothing and
// that Force removes the rest. Every object carries a label unique to this
// test, and clean is limited to it: other runs on the engine are not
// touched.
func TestCleanRunsKeepsLiveRuns(t *testing.T) {
	cli := dockerenv.NeedDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	img, err := BaseImage(ctx, cli, nil, func(f string, a ...any) { t.Logf(f, a...) })
	if err != nil {
		t.Fatal(err)
	}
	unique := fmt.Sprintf("io.faultline.test=clean-%d-%d", os.Getpid(), time.Now().UnixNano())
	mark := func(m map[string]string) map[string]string {
		m["io.faultline.test"] = unique[len("io.faultline.test="):]
		return m
	}
	self, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	dead := deadPID(t)
	tag := fmt.Sprintf("%x", time.Now().UnixNano()&0xffffff)
	with := func(run string, edit func(m map[string]string)) (string, map[string]string) {
		m := RunLabels(run)
		if edit != nil {
			edit(m)
		}
		return run, mark(m)
	}
	type planted struct {
		run    string
		labels map[string]string
		want   State
	}
	var runs []planted
	add := func(want State, run string, labels map[string]string) {
		runs = append(runs, planted{run, labels, want})
	}
	r, l := with("t-live-"+tag, nil)
	add(Live, r, l)
	r, l = with("t-dead-"+tag, func(m map[string]string) { m[LabelPID] = strconv.Itoa(dead) })
	add(Stale, r, l)
	r, l = with("t-reused-"+tag, func(m map[string]string) { m[LabelPIDStart] = strconv.FormatUint(self.PIDStart+1, 10) })
	add(Stale, r, l)
	r, l = with("t-elsewhere-"+tag, func(m map[string]string) { m[LabelHost] = "some-other-host"; m[LabelPID] = strconv.Itoa(dead) })
	add(Unknown, r, l)
	add(Stale, fmt.Sprintf("t-old-%s-%d", tag, dead), mark(map[string]string{LabelRun: fmt.Sprintf("t-old-%s-%d", tag, dead)}))
	add(Unknown, fmt.Sprintf("t-old-%s-%d", tag, os.Getpid()), mark(map[string]string{LabelRun: fmt.Sprintf("t-old-%s-%d", tag, os.Getpid())}))

	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, p := range runs {
			if err := Clean(ctx, cli, p.run); err != nil {
				t.Error(err)
			}
		}
	})
	for _, p := range runs {
		plantRun(ctx, t, cli, img, p.run, p.labels)
	}

	objects := func() map[string]int {
		got := map[string]int{}
		for _, p := range runs {
			left, err := List(ctx, cli, p.run)
			if err != nil {
				t.Fatal(err)
			}
			got[p.run] = len(left)
		}
		return got
	}
	before := objects()
	for _, p := range runs {
		if before[p.run] != 3 {
			t.Fatalf("planted %d objects of %s, want 3", before[p.run], p.run)
		}
	}

	rep, err := CleanRuns(ctx, cli, CleanOptions{Label: unique, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := objects(); !maps.Equal(got, before) {
		t.Fatalf("a dry run removed objects: %v, before %v", got, before)
	}
	if len(rep.Removed) != 9 {
		t.Errorf("dry run would remove %d objects, want 9: %v", len(rep.Removed), rep.Removed)
	}

	rep, err = CleanRuns(ctx, cli, CleanOptions{Label: unique})
	if err != nil {
		t.Fatal(err)
	}
	after := objects()
	kept := map[string]State{}
	for _, k := range rep.Kept {
		kept[k.RunID] = k.Liveness.State
		t.Logf("kept %s: %v (%s)", k.RunID, k.Liveness.State, k.Liveness.Reason)
	}
	for _, p := range runs {
		switch {
		case p.want == Stale && after[p.run] != 0:
			t.Errorf("%s: stale run kept (%d objects left)", p.run, after[p.run])
		case p.want != Stale && after[p.run] != 3:
			t.Errorf("%s: %v run lost objects (%d of 3 left)", p.run, p.want, after[p.run])
		case p.want != Stale && kept[p.run] != p.want:
			t.Errorf("%s: kept as %v, want %v", p.run, kept[p.run], p.want)
		}
	}
	if len(rep.Removed) != 9 || len(rep.Kept) != 3 {
		t.Errorf("removed %d objects and kept %d runs, want 9 and 3", len(rep.Removed), len(rep.Kept))
	}

	// With Force, and limited to one run: only that run goes.
	live := runs[0].run
	if _, err := CleanRuns(ctx, cli, CleanOptions{Label: unique, RunID: live}); err != nil {
		t.Fatal(err)
	}
	if n := objects()[live]; n != 3 {
		t.Errorf("clean of the live run %s by id (no force) left %d of 3 objects", live, n)
	}
	if _, err := CleanRuns(ctx, cli, CleanOptions{Label: unique, RunID: live, Force: true}); err != nil {
		t.Fatal(err)
	}
	got := objects()
	if got[live] != 0 || got[runs[3].run] != 3 {
		t.Errorf("forced clean of %s: %v", live, got)
	}
	if _, err := CleanRuns(ctx, cli, CleanOptions{Label: unique, Force: true}); err != nil {
		t.Fatal(err)
	}
	if got := objects(); slices.ContainsFunc(slices.Collect(maps.Values(got)), func(n int) bool { return n != 0 }) {
		t.Errorf("forced clean left %v", got)
	}
}

// plantRun creates what a run leaves: a network and two containers (created,
// not started) with labels.
func plantRun(ctx context.Context, t *testing.T, cli *client.Client, img, run string, labels map[string]string) {
	t.Helper()
	if _, err := cli.NetworkCreate(ctx, "faultline-"+run, network.CreateOptions{Labels: labels}); err != nil {
		t.Fatalf("create network: %v", err)
	}
	for _, n := range []string{"n1", "n2"} {
		_, err := cli.ContainerCreate(ctx, &container.Config{Image: img, Cmd: []string{"true"}, Labels: labels},
			&container.HostConfig{NetworkMode: "none"}, nil, nil, "faultline-"+run+"-"+n)
		if err != nil {
			t.Fatalf("create container: %v", err)
		}
	}
}
