// Package injectcmd is the clock injector's command line, faultline-clock:
// it skews the wall clock of running processes by redirecting their vDSO
// clock functions (package nuker/clock). Both the faultline binary (when
// invoked as faultline-clock or as "faultline __clock-injector") and the
// standalone command nuker/clock/cmd/faultline-clock run Main, so an
// installed faultline carries its own injector: the Docker runtime copies
// it into a helper container sharing the target container's PID namespace.
//
//	faultline-clock set   --pid 123 --offset 3s     inject (or reuse) and set the offset
//	faultline-clock reset --pid 123                 back to the true clock
//	faultline-clock read  --pid 123                 what each process sees now
//	faultline-clock strobe --pid 123 --offset 0 --offset2 2s --period 50ms --duration 10s
//	                                                flip between two offsets, then back to --offset
//	faultline-clock probe                           print Banner: the binary runs here
//
// A strobe runs in the foreground until its duration ends or it gets
// SIGTERM; it records its pid in /run/faultline-clock/strobe.pid, and set
// and reset end a running strobe first, so the last command wins. It picks
// up processes that appear later (a restarted daemon) once a second.
//
// --pidfile GLOB (repeatable) names processes by pid files instead, e.g.
// /proc/1/root/run/faultline/*.pid from a helper container; pid files that
// name no live process are skipped. --tree adds every descendant of the
// named processes (a daemon's workers forked before the skew). One JSON object per process is written
// to stdout; the exit status is 1 when any process failed.
//
// The ptrace requests of one injection must all come from one OS thread;
// package clock locks its goroutine to its thread for that, so Main works
// inside a bigger program too, as long as nothing else in the process
// traces the same processes.
package injectcmd

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/faultline/faultline/nuker/clock"
)

// result is one process's line of output.
type result struct {
	PID int `json:"pid"`
	// Source is the pid file the pid came from, if any.
	Source string `json:"source,omitempty"`
	clock.Status
	Took  string `json:"took,omitempty"`
	Error string `json:"error,omitempty"`
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// Name is the injector's command name. A faultline binary invoked under
// this name (argv[0]) acts as the injector.
const Name = "faultline-clock"

// Subcommand makes a faultline binary act as the injector: "faultline
// __clock-injector set --pid 1 --offset 3s". It is not listed in faultline's
// help: users have no reason to call it.
const Subcommand = "__clock-injector"

// Banner is what "probe" prints: proof that a copied binary runs where it
// was copied and is the injector.
const Banner = "faultline-clock injector ok"

// Main runs the injector with args (without the program name) and returns
// its exit status: 0 when every process was handled, 1 when one failed, 2
// for bad usage.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) < 1 {
		fmt.Fprintln(stderr, "usage: faultline-clock set|reset|read|strobe|probe [--pid N]... [--pidfile GLOB]... [--offset D] [--syscall]")
		return 2
	}
	cmd := args[0]
	if cmd == "probe" {
		fmt.Fprintln(stdout, Banner)
		return 0
	}
	fs := flag.NewFlagSet("faultline-clock "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var pids, pidfiles listFlag
	fs.Var(&pids, "pid", "process id (repeatable, or comma-separated)")
	fs.Var(&pidfiles, "pidfile", "glob of pid files (repeatable)")
	offset := fs.Duration("offset", 0, "offset to add to the wall clock (set), e.g. 3s, -90m, 250ms")
	tree := fs.Bool("tree", false, "also act on every descendant of the named processes")
	useSyscall := fs.Bool("syscall", false, "make stubs call the kernel instead of the vDSO code (slow; for comparison)")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long (set, reset, read)")
	offset2 := fs.Duration("offset2", 0, "strobe: the other offset")
	period := fs.Duration("period", 100*time.Millisecond, "strobe: time between flips")
	duration := fs.Duration("duration", 10*time.Second, "strobe: how long to flip")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	switch cmd {
	case "set", "reset", "read", "strobe":
	default:
		fmt.Fprintf(stderr, "faultline-clock: unknown command %q (set, reset, read, strobe, probe)\n", cmd)
		return 2
	}
	if cmd == "set" || cmd == "reset" || cmd == "strobe" {
		if err := endStrobe(); err != nil {
			fmt.Fprintln(stderr, "faultline-clock:", err)
			return 1
		}
	}
	if cmd == "strobe" {
		return strobe(stdout, stderr, pids, pidfiles, *tree, *offset, *offset2, *period, *duration)
	}
	targets, err := resolve(pids, pidfiles)
	if err != nil {
		fmt.Fprintln(stderr, "faultline-clock:", err)
		return 2
	}
	if *tree {
		targets = withDescendants(targets)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	enc := json.NewEncoder(stdout)
	status := 0
	for _, t := range targets {
		start := time.Now()
		r := result{PID: t.pid, Source: t.source}
		err := act(ctx, cmd, t.pid, *offset, *useSyscall)
		if err == nil {
			r.Status, err = clock.Read(t.pid)
		}
		if err != nil && t.child && gone(t.pid) {
			continue // a short-lived child (a PostgreSQL backend) ended meanwhile
		}
		r.PID = t.pid
		r.Took = time.Since(start).Round(time.Microsecond).String()
		if err != nil {
			r.Error = err.Error()
			status = 1
		}
		_ = enc.Encode(r)
	}
	return status
}

func act(ctx context.Context, cmd string, pid int, offset time.Duration, useSyscall bool) error {
	switch cmd {
	case "set":
		h, err := clock.Find(pid)
		if err == nil {
			// Fast path: already redirected, only the page changes.
			if st, rerr := clock.Read(pid); rerr == nil && st.Patched {
				return h.Set(offset)
			}
		}
		_, err = clock.Inject(ctx, pid, &clock.Options{Offset: offset, Syscall: useSyscall})
		return err
	case "reset":
		h, err := clock.Find(pid)
		if errors.Is(err, clock.ErrNotInjected) {
			return nil // never skewed
		}
		if err != nil {
			return err
		}
		return h.Undo(ctx)
	}
	return nil
}

type target struct {
	pid    int
	source string
	child  bool // found by --tree, not named
}

// gone says whether pid has exited (or is a zombie): then a failure to
// act on it is no failure, when it was only found as a descendant.
func gone(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := strings.LastIndexByte(string(stat), ')')
	f := strings.Fields(string(stat[i+1:]))
	return i < 0 || len(f) == 0 || f[0] == "Z" || f[0] == "X"
}

// resolve turns --pid and --pidfile into processes, each once.
func resolve(pids, pidfiles []string) ([]target, error) {
	var out []target
	seen := map[int]bool{}
	add := func(pid int, src string) {
		if !seen[pid] {
			seen[pid] = true
			out = append(out, target{pid: pid, source: src})
		}
	}
	for _, p := range pids {
		for _, s := range strings.Split(p, ",") {
			pid, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || pid <= 0 {
				return nil, fmt.Errorf("bad pid %q", s)
			}
			add(pid, "")
		}
	}
	for _, g := range pidfiles {
		files, err := filepath.Glob(g)
		if err != nil {
			return nil, fmt.Errorf("pid file glob %q: %w", g, err)
		}
		slices.Sort(files)
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
			if err != nil || pid <= 0 {
				continue
			}
			if _, err := os.Stat("/proc/" + strconv.Itoa(pid) + "/task"); err != nil {
				continue // stale pid file: the daemon is down
			}
			add(pid, f)
		}
	}
	if len(pids) == 0 && len(pidfiles) == 0 {
		return nil, errors.New("name processes with --pid or --pidfile")
	}
	return out, nil
}

// withDescendants adds the live descendants of targets, found through the
// parent pid in /proc/PID/stat.
func withDescendants(targets []target) []target {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return targets
	}
	children := map[int][]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 2 || f[0] == "Z" {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil {
			children[ppid] = append(children[ppid], pid)
		}
	}
	seen := map[int]bool{}
	for _, t := range targets {
		seen[t.pid] = true
	}
	out := slices.Clone(targets)
	for i := 0; i < len(out); i++ {
		for _, c := range children[out[i].pid] {
			if !seen[c] {
				seen[c] = true
				out = append(out, target{pid: c, source: fmt.Sprintf("child of %d", out[i].pid), child: true})
			}
		}
	}
	return out
}

// strobeDir holds the pid file of a running strobe.
const strobeDir = "/run/faultline-clock"

// endStrobe stops a strobe started earlier (SIGTERM, then wait for it to
// put the base offset back), so a set or reset is not overwritten by it.
func endStrobe() error {
	data, err := os.ReadFile(filepath.Join(strobeDir, "strobe.pid"))
	if err != nil {
		return nil
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid == os.Getpid() {
		return nil
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || !strings.Contains(string(cmdline), "strobe") {
		return nil // gone, or the pid was reused
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return nil
	}
	for i := 0; i < 500; i++ {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid) + "/cmdline"); err != nil {
			return nil
		}
		if st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil && strings.Contains(string(st), ") Z") {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("strobe %d did not end", pid)
}

// injected is a process the strobe's finder injected, or failed to.
type injected struct {
	pid int
	h   *clock.Handle
	err string
}

// findAndInject injects, about once a second until ctx ends, every target
// process not injected yet, at the offset in cur, and sends each on found.
// A process that failed is tried again on the next round.
func findAndInject(ctx context.Context, pids, pidfiles []string, tree bool, cur *atomic.Int64, found chan<- injected) {
	seen := map[int]bool{}
	for {
		targets, err := resolve(pids, pidfiles)
		if err == nil && tree {
			targets = withDescendants(targets)
		}
		for _, t := range targets {
			if seen[t.pid] || ctx.Err() != nil {
				continue
			}
			ictx, icancel := context.WithTimeout(context.Background(), 10*time.Second)
			h, err := clock.Inject(ictx, t.pid, &clock.Options{Offset: time.Duration(cur.Load())})
			icancel()
			in := injected{pid: t.pid, h: h}
			switch {
			case err != nil && t.child && gone(t.pid):
				seen[t.pid] = true
				continue
			case err != nil:
				in = injected{pid: t.pid, err: err.Error()}
			default:
				seen[t.pid] = true
			}
			// An injected process must reach the strobe loop (to be
			// undone) even when the strobe has just ended.
			found <- in
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// strobe flips the targets between a and b every period for d, then sets
// a again (or resets when a is zero). It answers like set, once at the end.
func strobe(stdout, stderr io.Writer, pids, pidfiles []string, tree bool, a, b, period, d time.Duration) int {
	if period <= 0 || d <= 0 {
		fmt.Fprintln(stderr, "faultline-clock: strobe needs a positive --period and --duration")
		return 2
	}
	if err := os.MkdirAll(strobeDir, 0o755); err == nil {
		_ = os.WriteFile(filepath.Join(strobeDir, "strobe.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644)
		defer os.Remove(filepath.Join(strobeDir, "strobe.pid"))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	// Injecting a process takes a ptrace stop of all its threads (up to
	// seconds on a loaded machine), so new processes are found and
	// injected by a goroutine: the flips never wait for it.
	var cur atomic.Int64
	cur.Store(int64(a))
	found := make(chan injected)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		findAndInject(ctx, pids, pidfiles, tree, &cur, found)
	}()
	handles := map[int]*clock.Handle{}
	errs := map[int]string{}
	tick := time.NewTicker(period)
	defer tick.Stop()
	flips := 0
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case in := <-found:
			if in.err != "" {
				errs[in.pid] = in.err
				continue
			}
			delete(errs, in.pid)
			// It was injected at the offset current then; a flip may
			// have happened since.
			if err := in.h.Set(time.Duration(cur.Load())); err == nil {
				handles[in.pid] = in.h
			}
		case <-tick.C:
			next := a
			if time.Duration(cur.Load()) == a {
				next = b
			}
			cur.Store(int64(next))
			flips++
			for pid, h := range handles {
				if err := h.Set(next); err != nil {
					delete(handles, pid) // exited; the finder injects its successor
				}
			}
		}
	}
	// The finder may be sending one last handle: take it so it is undone.
	go func() { wg.Wait(); close(found) }()
	for in := range found {
		if in.err == "" {
			handles[in.pid] = in.h
		} else {
			errs[in.pid] = in.err
		}
	}
	// Back to the base offset, with a fresh context: the strobe's is done.
	fctx, fcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer fcancel()
	enc := json.NewEncoder(stdout)
	status := 0
	for pid, h := range handles {
		var err error
		if a == 0 {
			err = h.Undo(fctx)
		} else {
			err = h.Set(a)
		}
		r := result{PID: pid, Took: fmt.Sprintf("%d flips", flips)}
		if err == nil {
			r.Status, err = clock.Read(pid)
		}
		r.PID = pid
		if err != nil {
			r.Error = err.Error()
			status = 1
		}
		_ = enc.Encode(r)
	}
	for pid, e := range errs {
		_ = enc.Encode(result{PID: pid, Error: e})
		status = 1
	}
	return status
}
