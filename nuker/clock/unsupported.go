//go:build !(linux && amd64)

package clock

import (
	"context"
	"fmt"
	"runtime"
	"time"
)

// Handle is a process carrying our stub; on this platform none can.
type Handle struct{}

func unsupported() error {
	return fmt.Errorf("%w (this is %s/%s)", ErrUnsupported, runtime.GOOS, runtime.GOARCH)
}

// Inject is not supported on this platform.
func Inject(ctx context.Context, pid int, opts *Options) (*Handle, error) { return nil, unsupported() }

// Find is not supported on this platform.
func Find(pid int) (*Handle, error) { return nil, unsupported() }

// Read is not supported on this platform.
func Read(pid int) (Status, error) { return Status{PID: pid}, unsupported() }

// PID is the process.
func (h *Handle) PID() int { return 0 }

// Set is not supported on this platform.
func (h *Handle) Set(offset time.Duration) error { return unsupported() }

// Offset is not supported on this platform.
func (h *Handle) Offset() (time.Duration, error) { return 0, unsupported() }

// Undo is not supported on this platform.
func (h *Handle) Undo(ctx context.Context) error { return unsupported() }

// Modes is empty on this platform.
func (h *Handle) Modes() map[string]Mode { return nil }
