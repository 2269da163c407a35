package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// DaemonPidfiles names a node's daemons (see Daemon) for the clock
// injector, which expands the glob.
const DaemonPidfiles = RunDir + "/*.pid"

// InjectorResult is one line of faultline-clock's output: one process.
type InjectorResult struct {
	PID       int           `json:"pid"`
	Source    string        `json:"source"`
	Injected  bool          `json:"injected"`
	Patched   bool          `json:"patched"`
	Offset    time.Duration `json:"offset_ns"`
	Effective time.Duration `json:"effective_ns"`
	Error     string        `json:"error"`
}

// InjectorClock is a ClockStrober made by faultline's clock injector
// (faultline-clock), run as root where it can reach the node's daemons:
// in a Docker node's helper container, or on an SSH machine itself. Every
// runtime shares it, so the clock fault means the same everywhere.
type InjectorClock struct {
	// Name is the node's name, for messages.
	Name string
	// Path is the injector's path where it runs.
	Path string
	// Pidfiles is the glob naming the daemons' pid files where the
	// injector runs ("" = DaemonPidfiles; a helper container sees them
	// under /proc/1/root).
	Pidfiles string
	// Host returns where the injector runs (the node, or its helper).
	Host func(ctx context.Context) (Node, error)
}

func (c InjectorClock) pidfiles() string {
	if c.Pidfiles == "" {
		return DaemonPidfiles
	}
	return c.Pidfiles
}

// SetClockOffset implements Clock: every daemon of the node, with the
// processes it forked, sees the wall clock moved by d; zero restores the
// true clock (the vDSO's original code, not a zero offset).
func (c InjectorClock) SetClockOffset(ctx context.Context, d time.Duration) error {
	args := []string{"set", "--offset", d.String()}
	if d == 0 {
		args = []string{"reset"}
	}
	res, err := c.Run(ctx, append(args, "--tree", "--pidfile", c.pidfiles())...)
	if err != nil {
		return err
	}
	if len(res) == 0 {
		if d == 0 {
			return nil // nothing runs, so nothing is skewed
		}
		return fmt.Errorf("%s: skew clock: %w (no live pid file under %s)", c.Name, ErrNoDaemon, RunDir)
	}
	var errs []error
	for _, r := range res {
		if r.Error != "" {
			errs = append(errs, fmt.Errorf("%s: pid %d: %s", c.Name, r.PID, r.Error))
		}
	}
	return errors.Join(errs...)
}

// ClockOffset implements Clock: the offset the node's first daemon (by pid
// file name) sees now; a daemon's children share it.
func (c InjectorClock) ClockOffset(ctx context.Context) (time.Duration, error) {
	res, err := c.Run(ctx, "read", "--pidfile", c.pidfiles())
	if err != nil {
		return 0, err
	}
	for _, r := range res {
		if r.Error == "" {
			return r.Effective, nil
		}
	}
	if len(res) > 0 {
		return 0, fmt.Errorf("%s: read clock: %s", c.Name, res[0].Error)
	}
	return 0, fmt.Errorf("%s: read clock: %w", c.Name, ErrNoDaemon)
}

// StrobeClock implements ClockStrober: faultline-clock strobe runs
// detached, writing the offset pages itself, so periods of milliseconds
// are possible (an exec per flip would take tens of ms). A strobe still
// running is ended by the new one.
func (c InjectorClock) StrobeClock(ctx context.Context, a, b, period, d time.Duration) error {
	h, err := c.Host(ctx)
	if err != nil {
		return err
	}
	argv := []string{c.Path, "strobe", "--tree", "--pidfile", c.pidfiles(),
		"--offset", a.String(), "--offset2", b.String(), "--period", period.String(), "--duration", d.String()}
	if err := h.ExecDetached(ctx, argv...); err != nil {
		return fmt.Errorf("%s: start clock strobe: %w", c.Name, err)
	}
	return nil
}

// Run runs the injector with args and decodes its output, one result per
// process. A non-zero exit with results is not an error here: each
// result carries its own.
func (c InjectorClock) Run(ctx context.Context, args ...string) ([]InjectorResult, error) {
	h, err := c.Host(ctx)
	if err != nil {
		return nil, err
	}
	res, err := h.Exec(ctx, append([]string{c.Path}, args...)...)
	var exitErr *ExitError
	if err != nil && !errors.As(err, &exitErr) {
		return nil, err
	}
	var out []InjectorResult
	dec := json.NewDecoder(bytes.NewReader(res.Stdout))
	for {
		var r InjectorResult
		if derr := dec.Decode(&r); derr == io.EOF {
			break
		} else if derr != nil {
			return nil, fmt.Errorf("%s: faultline-clock %s: output: %w (%s)", c.Name, args[0], derr, strings.TrimSpace(string(res.Stderr)))
		}
		out = append(out, r)
	}
	if err != nil && len(out) == 0 {
		return nil, fmt.Errorf("%s: faultline-clock %s: %w", c.Name, args[0], err)
	}
	return out, nil
}

var _ ClockStrober = InjectorClock{}
