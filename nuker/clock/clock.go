package clock

import (
	"errors"
	"fmt"
	"time"
)

// ErrUnsupported is returned where the injector cannot work at all: another
// architecture or operating system than x86-64 Linux.
var ErrUnsupported = errors.New("clock skew is only supported for x86-64 Linux processes")

// ErrNotInjected is returned by Find when the process carries no stub.
var ErrNotInjected = errors.New("no clock stub in process")

// Mode says how a stub reaches the original clock function.
type Mode string

const (
	// ModeTrampoline calls the vDSO's own code through a relocated copy of
	// the overwritten prologue: a few nanoseconds per call.
	ModeTrampoline Mode = "trampoline"
	// ModeSyscall makes the system call instead: about a microsecond per
	// call, used when a prologue cannot be relocated (or when asked).
	ModeSyscall Mode = "syscall"
)

// Status is what Read reports about a process.
type Status struct {
	PID int `json:"pid"`
	// Injected is true when the process carries our pages.
	Injected bool `json:"injected"`
	// Patched is true when its vDSO currently jumps to them: only then does
	// the process see Offset.
	Patched bool `json:"patched"`
	// Offset is the offset in the data page.
	Offset time.Duration `json:"offset_ns"`
	// Effective is the offset the process sees now: Offset when patched,
	// zero otherwise.
	Effective time.Duration `json:"effective_ns"`
	// Functions are the patched vDSO functions with their mode.
	Functions map[string]Mode `json:"functions,omitempty"`
}

// Options tune Inject.
type Options struct {
	// Offset is written to the data page before the vDSO is patched, so the
	// process never sees a zero offset in between.
	Offset time.Duration
	// Syscall forces ModeSyscall stubs (for comparisons).
	Syscall bool
	// Retries bounds how often patching is retried while a thread's
	// instruction pointer lies inside the bytes to replace; 0 means 200.
	Retries int
}

// splitOffset returns d as whole seconds and a non-negative remainder in
// nanoseconds and in microseconds, as the stubs add them to timespec and
// timeval results.
func splitOffset(d time.Duration) (sec, nsec, usec int64) {
	ns := int64(d)
	sec = ns / 1e9
	nsec = ns % 1e9
	if nsec < 0 {
		sec--
		nsec += 1e9
	}
	return sec, nsec, nsec / 1e3
}

// pidError wraps err with the process id.
func pidError(pid int, what string, err error) error {
	return fmt.Errorf("clock: pid %d: %s: %w", pid, what, err)
}
