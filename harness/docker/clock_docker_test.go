package docker

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/faultline/faultline/harness/docker/dockerenv"
	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/nuker/clock/clocktest"
	"github.com/faultline/faultline/targets/etcd"
)

// hostClocks reads this machine's CLOCK_REALTIME and CLOCK_MONOTONIC; the
// containers share the kernel, so their monotonic clock is the same.
func hostClocks(t *testing.T) (wall, mono int64) {
	t.Helper()
	var w, m unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_REALTIME, &w); err != nil {
		t.Fatal(err)
	}
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &m); err != nil {
		t.Fatal(err)
	}
	return w.Nano(), m.Nano()
}

// probeSkew reads the file a probe daemon rewrites every 5 ms and returns
// how far its wall clocks are from the host's at the moment of the reading
// (found through the shared monotonic clock), so exec latency does not
// blur the figure.
func probeSkew(ctx context.Context, t *testing.T, n node.Node, file string) (wall, gtod time.Duration, s clocktest.Sample) {
	t.Helper()
	res, err := n.Exec(ctx, "cat", file)
	if err != nil {
		t.Fatal(err)
	}
	s, err = clocktest.Parse(strings.TrimSpace(string(res.Stdout)))
	if err != nil {
		t.Fatal(err)
	}
	hw, hm := hostClocks(t)
	at := hw - (hm - s.Mono) // host wall time when the probe read its clocks
	return time.Duration(s.Wall - at), time.Duration(s.Gtod - at), s
}

// sampleSkews reads the probe's file count times, every period, in one
// exec on the node, and returns the wall clock skew of each reading.
func sampleSkews(ctx context.Context, t *testing.T, n node.Node, file string, count int, period time.Duration) []time.Duration {
	t.Helper()
	script := fmt.Sprintf("i=0; while [ $i -lt %d ]; do cat %s; i=$((i+1)); sleep %g; done", count, file, period.Seconds())
	res, err := n.Exec(ctx, "sh", "-c", script)
	if err != nil {
		t.Fatal(err)
	}
	hw, hm := hostClocks(t)
	var out []time.Duration
	for _, line := range strings.Split(strings.TrimSpace(string(res.Stdout)), "\n") {
		s, err := clocktest.Parse(line)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, time.Duration(s.Wall-(hw-(hm-s.Mono))))
	}
	return out
}

// TestClockSkewInContainers runs a static Go program and a static C program
// as daemons in a node container and skews them from the node's helper
// container: their wall clock moves by the offset within a few ms and comes
// back on reset, their monotonic clock never jumps, the host's clock does
// not move, they survive many set/reset cycles, the node container has no
// capability beyond NET_ADMIN, and cleaning the run removes the helper.
func TestClockSkewInContainers(t *testing.T) {
	cli := dockerenv.NeedDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bins := map[string]string{"goprobe": clocktest.BuildGo(t, dir), "cprobe": clocktest.BuildC(t, dir)}
	base, runID := startBaseNode(ctx, t, cli, "clock")
	var n node.Node = base
	for name, bin := range bins {
		data, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.WriteFile(ctx, "/usr/local/bin/"+name, data, 0o755); err != nil {
			t.Fatal(err)
		}
		d := node.Daemon{Name: name, Argv: []string{"/usr/local/bin/" + name, "loop", "/tmp/" + name + ".out"}}
		if err := d.Start(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	cn := n.(node.Clock)
	hw0, hm0 := hostClocks(t)

	check := func(want time.Duration) {
		t.Helper()
		time.Sleep(20 * time.Millisecond) // a fresh reading after the change
		for name := range bins {
			wall, gtod, s := probeSkew(ctx, t, n, "/tmp/"+name+".out")
			const tol = 5 * time.Millisecond
			if wall < want-tol || wall > want+tol {
				t.Errorf("%s: wall clock off by %v, want %v", name, wall, want)
			}
			if name == "cprobe" && (gtod < want-tol || gtod > want+tol) {
				t.Errorf("%s: gettimeofday off by %v, want %v", name, gtod, want)
			}
			if s.MaxGap < 0 || s.MaxGap > int64(500*time.Millisecond) {
				t.Errorf("%s: monotonic clock jumped (largest gap %v)", name, time.Duration(s.MaxGap))
			}
		}
		got, err := cn.ClockOffset(ctx)
		if err != nil || got != want {
			t.Errorf("ClockOffset = %v, %v; want %v", got, err, want)
		}
	}
	check(0)
	for _, off := range []time.Duration{90 * time.Second, -7 * time.Minute, 1500 * time.Millisecond, 0} {
		start := time.Now()
		if err := cn.SetClockOffset(ctx, off); err != nil {
			t.Fatal(err)
		}
		t.Logf("SetClockOffset(%v) took %v", off, time.Since(start).Round(time.Millisecond))
		check(off)
	}
	// Each change is an exec in the helper (tens to hundreds of ms on a
	// busy machine); the host-process tests in nuker/clock do hundreds.
	cycles := 30
	if testing.Short() {
		cycles = 10
	}
	start := time.Now()
	for i := 0; i < cycles; i++ {
		if err := cn.SetClockOffset(ctx, time.Duration(i%5+1)*time.Second); err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		if err := cn.SetClockOffset(ctx, 0); err != nil {
			t.Fatalf("cycle %d: reset: %v", i, err)
		}
	}
	t.Logf("%d inject/set/reset cycles on 2 daemons in %v", cycles, time.Since(start).Round(time.Millisecond))
	check(0)

	// A strobe flips between 0 and 2 s every 20 ms for 10 s, then leaves
	// the clocks at 0. One exec samples the probe's readings every 20 ms
	// for about 2 s inside the node (an exec per sample takes seconds on a
	// loaded machine), until both offsets have been seen.
	const strobeFor = 10 * time.Second
	strobeStart := time.Now()
	if err := n.(node.ClockStrober).StrobeClock(ctx, 0, 2*time.Second, 20*time.Millisecond, strobeFor); err != nil {
		t.Fatal(err)
	}
	seen := map[time.Duration]int{}
	for time.Since(strobeStart) < strobeFor && (seen[0] == 0 || seen[2*time.Second] == 0) {
		for _, wall := range sampleSkews(ctx, t, n, "/tmp/cprobe.out", 100, 20*time.Millisecond) {
			seen[wall.Round(time.Second)]++
		}
	}
	t.Logf("strobe: offsets seen %v in %v", seen, time.Since(strobeStart).Round(time.Millisecond))
	if seen[0] == 0 || seen[2*time.Second] == 0 || len(seen) != 2 {
		t.Errorf("strobe: offsets seen %v, want 0s and 2s", seen)
	}
	// The strobe ends by undoing the injection: no daemon stays patched.
	unpatched := func() bool {
		res, err := n.(*Node).clock().Run(ctx, "read", "--pidfile", clockPidfiles)
		if err != nil || len(res) == 0 {
			return false
		}
		for _, r := range res {
			if r.Error != "" || r.Patched {
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(strobeFor + 30*time.Second); !unpatched(); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the strobe did not undo its injection")
		}
	}
	check(0)
	for name := range bins {
		if ok, err := (node.Daemon{Name: name}).Running(ctx, n); err != nil || !ok {
			t.Errorf("%s not running after the cycles: %v", name, err)
		}
	}
	// The host clock did not move: wall minus monotonic is unchanged (up
	// to NTP slewing).
	hw1, hm1 := hostClocks(t)
	if d := time.Duration((hw1 - hm1) - (hw0 - hm0)); d < -50*time.Millisecond || d > 50*time.Millisecond {
		t.Errorf("host clock moved by %v", d)
	}
	// The node container gained nothing; the helper holds SYS_PTRACE only.
	insp, err := cli.ContainerInspect(ctx, n.(*Node).ContainerID())
	if err != nil {
		t.Fatal(err)
	}
	capIs := func(caps []string, want string) bool {
		return len(caps) == 1 && strings.TrimPrefix(caps[0], "CAP_") == want
	}
	if caps := insp.HostConfig.CapAdd; !capIs(caps, "NET_ADMIN") || insp.HostConfig.Privileged {
		t.Errorf("node container capabilities %v privileged %v", caps, insp.HostConfig.Privileged)
	}
	h, err := cli.ContainerInspect(ctx, strings.TrimPrefix(insp.Name, "/")+clockHelperSuffix)
	if err != nil {
		t.Fatal(err)
	}
	if caps := h.HostConfig.CapAdd; !capIs(caps, "SYS_PTRACE") || h.HostConfig.Privileged || h.Config.Labels[LabelRun] != runID {
		t.Errorf("helper: capabilities %v privileged %v labels %v", caps, h.HostConfig.Privileged, h.Config.Labels)
	}
	// The engine is on this machine: the injector is bind-mounted read-only,
	// not copied.
	if m := h.HostConfig.Mounts; len(m) != 1 || m[0].Target != clockInjectorPath || !m[0].ReadOnly || m[0].Type != "bind" {
		t.Errorf("helper mounts %+v, want the injector bind-mounted read-only at %s", m, clockInjectorPath)
	}
}

// TestClockSkewEtcd skews a real etcd node: the etcd process carries the
// offset, keeps serving, and gets the true clock back.
func TestClockSkewEtcd(t *testing.T) {
	cli := dockerenv.NeedDocker(t)
	if testenv.Short() {
		t.Skip("skipping etcd clock test in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	target, err := etcd.New("", nil)
	if err != nil {
		t.Fatal(err)
	}
	n := startOneNode(ctx, t, cli, "etcd", target)
	cn := n.(node.Clock)
	client, err := target.NewClient(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	rw := client.(interface {
		Write(context.Context, string, int64) error
		Read(context.Context, string) (int64, bool, error)
	})
	for i, off := range []time.Duration{2 * time.Minute, -45 * time.Second, 0} {
		if err := cn.SetClockOffset(ctx, off); err != nil {
			t.Fatal(err)
		}
		got, err := cn.ClockOffset(ctx)
		if err != nil || got != off {
			t.Errorf("etcd's clock offset %v, %v; want %v", got, err, off)
		}
		// etcd stamps its log lines with its wall clock: a fresh line
		// shows the skew (a write with a new key logs nothing, so make a
		// request etcd logs: none is needed for the offset check above).
		if err := rw.Write(ctx, "k", int64(i)); err != nil {
			t.Errorf("write under offset %v: %v", off, err)
		}
		if v, ok, err := rw.Read(ctx, "k"); err != nil || !ok || v != int64(i) {
			t.Errorf("read under offset %v: %d %v %v", off, v, ok, err)
		}
	}
	// The injector reports the etcd process unpatched after the reset.
	res, err := n.(*Node).clock().Run(ctx, "read", "--pidfile", clockPidfiles)
	if err != nil || len(res) == 0 || res[0].Patched || !res[0].Injected {
		t.Errorf("after reset: %+v %v", res, err)
	}
}
