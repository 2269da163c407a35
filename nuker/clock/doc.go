// Package clock skews the wall clock of one running process, and only that
// process, without touching the host's clock: a clock fault for targets in
// containers, which share the host kernel's clock.
//
// Programs read the wall clock through the vDSO, a small shared object the
// kernel maps into every process, without a system call; Go binaries do so
// directly, so LD_PRELOAD (libfaketime) cannot reach them. Inject attaches to
// every thread of the process with ptrace, maps two pages near its vDSO (a
// code page with one stub per clock function, a data page holding the
// offset) by making one of its threads run mmap and mprotect, and overwrites
// the first bytes of clock_gettime, gettimeofday and time in its vDSO with a
// jump to the stubs. A stub calls the original function through a relocated
// copy of the overwritten prologue (the "trampoline"; a system call when the
// prologue cannot be relocated) and adds the offset to CLOCK_REALTIME and
// CLOCK_REALTIME_COARSE results only: monotonic clocks stay true.
//
// Setting another offset only writes the data page through /proc/PID/mem: no
// thread is stopped. Undo writes the original vDSO bytes back; the pages stay
// mapped (a thread may still be returning through them) and a later Inject,
// also from another process, finds them by the magic header of the data page
// and uses them again.
//
// The effect is per address space: a fork inherits it, an exec or a restart
// starts with a fresh vDSO, so callers re-inject after restarting a target.
// Raw clock system calls and RDTSC are not skewed. Only x86-64 Linux is
// supported; elsewhere every entry point returns ErrUnsupported. Injecting
// needs CAP_SYS_PTRACE over the target (root in its PID namespace, or on the
// host).
package clock
