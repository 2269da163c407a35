package clock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// threadStopTimeout bounds the wait for one thread to stop after
// PTRACE_INTERRUPT; a thread in uninterruptible sleep may take a while.
const threadStopTimeout = 5 * time.Second

// tracee is one seized thread.
type tracee struct {
	tid  int
	regs unix.PtraceRegs
	// sig is a signal the thread received while we held it; it is handed
	// back on detach so the process misses nothing.
	sig int
}

// session holds every thread of a process stopped under ptrace. All its
// methods must run on the OS thread that created it (ptrace requests are
// only accepted from the attaching thread): newSession locks the calling
// goroutine to its thread until detach.
type session struct {
	pid     int
	threads []*tracee
}

// newSession seizes and stops every thread of pid. Threads created while it
// works are caught by listing /proc/PID/task again until the list is
// stable. On error everything seized is detached again.
func newSession(ctx context.Context, pid int) (_ *session, err error) {
	runtime.LockOSThread()
	s := &session{pid: pid}
	defer func() {
		if err != nil {
			s.detach()
		}
	}()
	seen := map[int]bool{}
	for round := 0; ; round++ {
		tids, err := listThreads(pid)
		if err != nil {
			return nil, err
		}
		var fresh []int
		for _, tid := range tids {
			if !seen[tid] {
				fresh = append(fresh, tid)
			}
		}
		if len(fresh) == 0 {
			break
		}
		if round > 50 {
			return nil, fmt.Errorf("threads keep appearing in %d", pid)
		}
		for _, tid := range fresh {
			seen[tid] = true
			if err := unix.PtraceSeize(tid); err != nil {
				if errors.Is(err, unix.ESRCH) {
					continue // exited meanwhile
				}
				return nil, fmt.Errorf("PTRACE_SEIZE %d: %w", tid, err)
			}
			t := &tracee{tid: tid}
			s.threads = append(s.threads, t)
			if err := unix.PtraceInterrupt(tid); err != nil && !errors.Is(err, unix.ESRCH) {
				return nil, fmt.Errorf("PTRACE_INTERRUPT %d: %w", tid, err)
			}
		}
		for _, t := range slices.Clone(s.threads) {
			if !slices.Contains(fresh, t.tid) {
				continue
			}
			gone, err := s.waitStop(ctx, t)
			if err != nil {
				return nil, err
			}
			if gone {
				s.drop(t)
			}
		}
	}
	if len(s.threads) == 0 {
		return nil, fmt.Errorf("process %d has no threads left", pid)
	}
	for _, t := range s.threads {
		if err := unix.PtraceGetRegs(t.tid, &t.regs); err != nil {
			return nil, fmt.Errorf("PTRACE_GETREGS %d: %w", t.tid, err)
		}
	}
	return s, nil
}

func (s *session) drop(t *tracee) {
	s.threads = slices.DeleteFunc(s.threads, func(x *tracee) bool { return x == t })
}

// waitStop waits for t to stop and reports whether it exited instead. A
// signal-delivery stop counts as stopped; its signal is kept for detach.
func (s *session) waitStop(ctx context.Context, t *tracee) (gone bool, err error) {
	deadline := time.Now().Add(threadStopTimeout)
	for pause := 20 * time.Microsecond; ; pause = min(2*pause, 2*time.Millisecond) {
		var ws unix.WaitStatus
		wpid, err := unix.Wait4(t.tid, &ws, unix.WALL|unix.WNOHANG, nil)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ECHILD):
			return true, nil
		case err != nil:
			return false, fmt.Errorf("wait %d: %w", t.tid, err)
		case wpid == t.tid && (ws.Exited() || ws.Signaled()):
			return true, nil
		case wpid == t.tid && ws.Stopped():
			// An event stop (our interrupt, or a group stop) carries the
			// event in bits 16-23; anything else is a signal to hand back.
			if ev := (uint32(ws) >> 16) & 0xff; ev != unix.PTRACE_EVENT_STOP && ws.StopSignal() != unix.SIGTRAP {
				t.sig = int(ws.StopSignal())
			}
			return false, nil
		}
		if err := ctx.Err(); err != nil {
			return false, fmt.Errorf("waiting for thread %d to stop: %w", t.tid, err)
		}
		if time.Now().After(deadline) {
			return false, fmt.Errorf("thread %d did not stop within %v", t.tid, threadStopTimeout)
		}
		time.Sleep(pause)
	}
}

// busy reports whether any thread's instruction pointer lies in one of the
// spans [addr+1, addr+n): overwriting those bytes would cut an instruction
// that thread is about to execute.
func (s *session) busy(spans [][2]uint64) (int, bool) {
	for _, t := range s.threads {
		for _, sp := range spans {
			if t.regs.Rip > sp[0] && t.regs.Rip < sp[0]+sp[1] {
				return t.tid, true
			}
		}
	}
	return 0, false
}

// syscall makes one stopped thread execute the system call nr with args,
// by pointing it at a syscall instruction at insn and single-stepping, and
// restores all of its registers afterwards. orig_rax = -1 keeps the kernel
// from restarting a system call the thread was interrupted in instead of
// running ours.
func (s *session) syscall(ctx context.Context, insn uint64, nr uint64, args ...uint64) (uint64, error) {
	t := s.threads[0]
	for _, c := range s.threads {
		if c.tid == s.pid {
			t = c
		}
	}
	saved := t.regs
	r := saved
	r.Rax, r.Orig_rax, r.Rip = nr, ^uint64(0), insn
	regs := []*uint64{&r.Rdi, &r.Rsi, &r.Rdx, &r.R10, &r.R8, &r.R9}
	for i, a := range args {
		*regs[i] = a
	}
	if err := unix.PtraceSetRegs(t.tid, &r); err != nil {
		return 0, fmt.Errorf("PTRACE_SETREGS %d: %w", t.tid, err)
	}
	// Whatever happens, the thread gets its registers back.
	defer func() {
		if err := unix.PtraceSetRegs(t.tid, &saved); err != nil {
			// The thread would resume at our syscall instruction with
			// garbage arguments: nothing sane is left to do but say so.
			fmt.Fprintf(os.Stderr, "clock: restoring registers of thread %d: %v\n", t.tid, err)
		}
	}()
	for attempt := 0; attempt < 10; attempt++ {
		if err := unix.PtraceSingleStep(t.tid); err != nil {
			return 0, fmt.Errorf("PTRACE_SINGLESTEP %d: %w", t.tid, err)
		}
		gone, err := s.waitStop(ctx, t)
		if err != nil {
			return 0, err
		}
		if gone {
			return 0, fmt.Errorf("thread %d exited during an injected system call", t.tid)
		}
		var after unix.PtraceRegs
		if err := unix.PtraceGetRegs(t.tid, &after); err != nil {
			return 0, fmt.Errorf("PTRACE_GETREGS %d: %w", t.tid, err)
		}
		if after.Rip == insn+2 {
			return after.Rax, nil
		}
		// Stopped before the instruction (an interrupt or a signal came
		// first): step again from the same registers.
		if after.Rip != insn {
			return 0, fmt.Errorf("thread %d went to %#x instead of running the syscall at %#x", t.tid, after.Rip, insn)
		}
	}
	return 0, fmt.Errorf("thread %d never ran the injected system call", t.tid)
}

// detach lets every thread go, handing back signals caught meanwhile, and
// unlocks the OS thread. Errors are ignored: a thread that exited needs
// nothing, and there is nothing else to try.
func (s *session) detach() {
	for _, t := range s.threads {
		_, _, _ = unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_DETACH, uintptr(t.tid), 0, uintptr(t.sig), 0, 0)
	}
	s.threads = nil
	runtime.UnlockOSThread()
}

// listThreads returns the thread ids of pid.
func listThreads(pid int) ([]int, error) {
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		return nil, fmt.Errorf("list threads: %w", err)
	}
	var out []int
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, tid)
		}
	}
	return out, nil
}
