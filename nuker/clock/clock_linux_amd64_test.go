package clock

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/nuker/clock/clocktest"
)

// needPtrace skips (loudly) or, under CI=true, fails when this process may
// not ptrace its children.
func needPtrace(t testing.TB) {
	t.Helper()
	var caps struct {
		hdr  unix.CapUserHeader
		data [2]unix.CapUserData
	}
	caps.hdr.Version = unix.LINUX_CAPABILITY_VERSION_3
	ok := unix.Capget(&caps.hdr, &caps.data[0]) == nil && caps.data[0].Effective&(1<<unix.CAP_SYS_PTRACE) != 0
	if ok {
		return
	}
	if testenv.InCI() {
		t.Fatalf("CI=true but this test process lacks CAP_SYS_PTRACE: clock injection tests must run as root in CI")
	}
	t.Skipf("SKIPPING %s: needs root (CAP_SYS_PTRACE) to ptrace the probe; run as root, and CI must", t.Name())
}

// probeBins are the probes, built once by TestMain.
type probeBins struct {
	dir   string
	goBin string
	cBin  string
	once  sync.Once
}

// probeBin builds (once per test binary) and returns the named probe.
func probeBin(t testing.TB, name string) string {
	t.Helper()
	probes.once.Do(func() {
		dir, err := os.MkdirTemp("", "faultline-clock-probes-")
		if err != nil {
			t.Fatal(err)
		}
		probes.dir = dir
		probes.goBin = clocktest.BuildGo(t, dir)
		probes.cBin = clocktest.BuildC(t, dir)
	})
	switch name {
	case "go":
		return probes.goBin
	case "c":
		if probes.cBin == "" {
			t.Skipf("SKIPPING %s: no C probe", t.Name())
		}
		return probes.cBin
	}
	t.Fatalf("unknown probe %q", name)
	return ""
}

// probes is written once, under its sync.Once, by the first test that
// needs a probe; TestMain removes its directory.
var probes probeBins

func TestMain(m *testing.M) {
	code := m.Run()
	if probes.dir != "" {
		os.RemoveAll(probes.dir)
	}
	os.Exit(code)
}

// probe is a running probe process.
type probe struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

// sample is one answer of a probe, all in nanoseconds except timeS.
type sample struct {
	wall, mono, coarse, gtod, timeS, maxGap, calls int64
	host                                           time.Time // the test's clock when it arrived
}

func startProbe(t testing.TB, bin string) *probe {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=4")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &probe{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	t.Cleanup(func() {
		in.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	p.query(t, "") // it is up and its threads are running
	time.Sleep(20 * time.Millisecond)
	return p
}

func (p *probe) query(t testing.TB, cmd string) sample {
	t.Helper()
	if _, err := fmt.Fprintln(p.in, cmd); err != nil {
		t.Fatalf("probe stdin: %v", err)
	}
	if !p.out.Scan() {
		t.Fatalf("probe died: %v (exit %v)", p.out.Err(), p.cmd.Wait())
	}
	host := time.Now()
	v, err := clocktest.Parse(p.out.Text())
	if err != nil {
		t.Fatal(err)
	}
	return sample{v.Wall, v.Mono, v.Coarse, v.Gtod, v.TimeS, v.MaxGap, v.Calls, host}
}

// skew is what the probe's clocks show against the test's own.
func (s sample) skew() (wall, coarse, gtod, timeS time.Duration) {
	h := s.host.UnixNano()
	return time.Duration(s.wall - h), time.Duration(s.coarse - h), time.Duration(s.gtod - h),
		time.Duration(s.timeS*1e9 - h)
}

// checkSkew asserts that every wall clock of the probe is offset by want
// (within tol; time() within a second), and that the host clock did not
// move: the test reads its own clock around the query.
func checkSkew(t *testing.T, p *probe, want, tol time.Duration) sample {
	t.Helper()
	before := time.Now()
	s := p.query(t, "")
	if d := s.host.Sub(before); d > 50*time.Millisecond {
		t.Logf("slow probe answer: %v", d)
	}
	wall, coarse, gtod, ts := s.skew()
	near := func(name string, got, lo, hi time.Duration) {
		if got < want-lo || got > want+hi {
			t.Errorf("%s skew %v, want %v (-%v, +%v)", name, got, want, lo, hi)
		}
	}
	near("CLOCK_REALTIME", wall, tol, tol)
	near("CLOCK_REALTIME_COARSE", coarse, tol+10*time.Millisecond, tol)
	near("gettimeofday", gtod, tol, tol)
	near("time", ts, time.Second+tol, tol) // seconds, truncated
	return s
}

func TestInjectSetUndo(t *testing.T) {
	needPtrace(t)
	for _, tc := range []struct {
		probe   string
		syscall bool
	}{
		{"go", false},
		{"c", false},
		{"c", true},
	} {
		name := tc.probe
		if tc.syscall {
			name += "-syscall"
		}
		t.Run(name, func(t *testing.T) {
			p := startProbe(t, probeBin(t, tc.probe))
			pid := p.cmd.Process.Pid
			ctx := context.Background()
			tol := 20 * time.Millisecond
			checkSkew(t, p, 0, tol)

			t0 := time.Now()
			h, err := Inject(ctx, pid, &Options{Offset: time.Hour, Syscall: tc.syscall})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("inject took %v", time.Since(t0))
			for fn, mode := range h.Modes() {
				t.Logf("%s: %s", fn, mode)
				if tc.syscall != (mode == ModeSyscall) {
					t.Errorf("%s mode %s", fn, mode)
				}
			}
			before := p.query(t, "reset-gap")
			checkSkew(t, p, time.Hour, tol)
			for _, off := range []time.Duration{-30 * time.Second, 1500 * time.Millisecond, -999 * time.Millisecond, 90 * time.Minute, 0, -3 * time.Millisecond} {
				if err := h.Set(off); err != nil {
					t.Fatal(err)
				}
				checkSkew(t, p, off, tol)
			}
			st, err := Read(pid)
			if err != nil || !st.Patched || st.Effective != -3*time.Millisecond {
				t.Errorf("Read = %+v, %v", st, err)
			}
			t0 = time.Now()
			if err := h.Undo(ctx); err != nil {
				t.Fatal(err)
			}
			t.Logf("undo took %v", time.Since(t0))
			checkSkew(t, p, 0, tol)
			st, err = Read(pid)
			if err != nil || st.Patched || !st.Injected || st.Effective != 0 {
				t.Errorf("Read after undo = %+v, %v", st, err)
			}
			// A second injector finds the pages and re-uses them.
			h2, err := Find(pid)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Inject(ctx, pid, &Options{Offset: -time.Minute}); err != nil {
				t.Fatal(err)
			}
			checkSkew(t, p, -time.Minute, tol)
			if err := h2.Undo(ctx); err != nil {
				t.Fatal(err)
			}
			after := checkSkew(t, p, 0, tol)
			// Monotonic never jumped: the largest gap between two readings
			// of the busy threads stays small (a stop of all threads for
			// injection is a few ms; the probe sleeps 1 ms per 1000 calls).
			if after.maxGap < 0 {
				t.Errorf("monotonic clock went backwards")
			}
			if g := time.Duration(after.maxGap); g > 500*time.Millisecond {
				t.Errorf("monotonic clock jumped by %v", g)
			}
			if after.mono < before.mono {
				t.Errorf("monotonic went back across the faults: %d then %d", before.mono, after.mono)
			}
			// The busy threads go on (they count in batches of 1000 calls,
			// which take ~10 ms with syscall stubs: give them time).
			for deadline := time.Now().Add(2 * time.Second); after.calls <= before.calls && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
				after = p.query(t, "")
			}
			if after.calls <= before.calls {
				t.Errorf("busy threads stopped calling the clock: %d then %d calls", before.calls, after.calls)
			}
			t.Logf("max monotonic gap %v, %d clock calls", time.Duration(after.maxGap), after.calls)
		})
	}
}

// TestCycles injects, sets and undoes hundreds of times while the probe's
// threads call the clock: the probe must survive and end unskewed.
func TestCycles(t *testing.T) {
	needPtrace(t)
	cycles := 300
	if testing.Short() {
		cycles = 50
	}
	for _, name := range []string{"go", "c"} {
		t.Run(name, func(t *testing.T) {
			p := startProbe(t, probeBin(t, name))
			pid := p.cmd.Process.Pid
			ctx := context.Background()
			start := time.Now()
			var injectMax time.Duration
			for i := 0; i < cycles; i++ {
				off := time.Duration(i%7-3) * time.Second
				t0 := time.Now()
				h, err := Inject(ctx, pid, &Options{Offset: off})
				if err != nil {
					t.Fatalf("cycle %d: %v", i, err)
				}
				injectMax = max(injectMax, time.Since(t0))
				if err := h.Set(off + time.Millisecond); err != nil {
					t.Fatalf("cycle %d: %v", i, err)
				}
				if i%25 == 0 {
					checkSkew(t, p, off+time.Millisecond, 20*time.Millisecond)
				}
				if err := h.Undo(ctx); err != nil {
					t.Fatalf("cycle %d: %v", i, err)
				}
			}
			s := checkSkew(t, p, 0, 20*time.Millisecond)
			if s.maxGap < 0 {
				t.Errorf("monotonic clock went backwards")
			}
			t.Logf("%d inject/set/undo cycles in %v (slowest inject %v), probe alive, %d clock calls", cycles, time.Since(start).Round(time.Millisecond), injectMax, s.calls)
		})
	}
}

func TestNotAProcess(t *testing.T) {
	needPtrace(t)
	if _, err := Inject(context.Background(), 1<<30, nil); err == nil {
		t.Fatal("Inject into a missing process succeeded")
	}
	if _, err := Read(1 << 30); err == nil {
		t.Fatal("Read of a missing process succeeded")
	}
}

// TestCancelled checks that a cancelled context leaves nothing patched.
func TestCancelled(t *testing.T) {
	needPtrace(t)
	p := startProbe(t, probeBin(t, "go"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Inject(ctx, p.cmd.Process.Pid, &Options{Offset: time.Hour}); err == nil {
		t.Fatal("Inject with a cancelled context succeeded")
	}
	checkSkew(t, p, 0, 20*time.Millisecond)
}

// BenchmarkTimeNow measures time.Now() inside a static Go probe process, as
// the probe measures itself: without redirection, with the trampoline stub
// and with the syscall stub. The figure is the "target-ns/call" metric.
func BenchmarkTimeNow(b *testing.B) {
	needPtrace(b)
	for _, tc := range []struct {
		name string
		opts *Options
	}{
		{"plain", nil},
		{"trampoline", &Options{Offset: time.Hour}},
		{"syscall", &Options{Offset: time.Hour, Syscall: true}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			bin := probeBin(b, "go")
			b.Setenv("PROBE_IDLE", "1")
			p := startProbe(b, bin)
			if tc.opts != nil {
				if _, err := Inject(context.Background(), p.cmd.Process.Pid, tc.opts); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			if _, err := fmt.Fprintf(p.in, "bench %d\n", b.N); err != nil {
				b.Fatal(err)
			}
			if !p.out.Scan() {
				b.Fatal("probe died")
			}
			b.StopTimer()
			f := strings.Fields(p.out.Text())
			ns, err := strconv.ParseFloat(f[0], 64)
			if err != nil {
				b.Fatalf("probe said %q", p.out.Text())
			}
			b.ReportMetric(ns, "target-ns/call")
		})
	}
}

// TestInjectAcrossExec: a process that execs while the injector looks at
// it (the preflight's `sleep 30 &` may still be the forked shell) shows
// partial maps or, to a memory file opened before the exec, EOF; Inject
// looks again instead of failing.
func TestInjectAcrossExec(t *testing.T) {
	needPtrace(t)
	// start runs a shell that execs sleep once told to, and waits until
	// the shell is ready (its vDSO mapped).
	start := func(t *testing.T) (int, io.Writer, mapping) {
		cmd := exec.Command("sh", "-c", "read x; exec sleep 30")
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		pid := cmd.Process.Pid
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			maps, err := readMaps(pid)
			if err != nil {
				t.Fatal(err)
			}
			if vdso, ok := findMapping(maps, "[vdso]"); ok {
				return pid, stdin, vdso
			}
			if time.Now().After(deadline) {
				t.Fatalf("no vDSO in the shell's maps: %+v", maps)
			}
		}
	}
	pid, stdin, vdso := start(t)
	mem, err := openMem(pid, os.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	stdin.Write([]byte("go\n"))
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		if exe, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe"); strings.HasSuffix(exe, "/sleep") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the shell did not exec sleep")
		}
	}
	if _, err := vdsoFuncs(mem, vdso); !errors.Is(err, io.EOF) {
		t.Fatalf("reading the memory of before the exec: %v, want EOF", err)
	}
	// Inject at once after telling each shell to exec: whatever state of
	// the exec it meets, it injects (into the shell, whose exec then drops
	// the stub, or into sleep) and never fails for the race.
	for i := range 20 {
		pid, stdin, _ := start(t)
		stdin.Write([]byte("go\n"))
		if _, err := Inject(context.Background(), pid, &Options{Offset: time.Second}); err != nil {
			t.Fatalf("process %d: inject across the exec: %v", i, err)
		}
	}
}
