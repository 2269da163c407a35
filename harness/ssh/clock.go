package ssh

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/faultline/faultline/harness/docker"
	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/nuker/clock/injectcmd"
)

// Clock faults on machines: the same injector the Docker runtime puts in
// its helper containers (faultline-clock, normally faultline itself) is
// copied to each machine once (Preflight, when clock faults are asked
// for) and run there as root on the daemons named by their pid files. The
// machine's own clock is never touched.

// injectorPath is where the injector lives on a machine.
const injectorPath = StateDir + "/bin/faultline-clock"

// daemonPidfiles names the node's daemons; the injector expands the glob.
const daemonPidfiles = node.RunDir + "/*.pid"

var _ node.ClockStrober = (*Node)(nil)

// clockResult is one line of faultline-clock's output.
type clockResult struct {
	PID       int           `json:"pid"`
	Effective time.Duration `json:"effective_ns"`
	Error     string        `json:"error"`
}

// SetClockOffset implements node.Clock.
func (n *Node) SetClockOffset(ctx context.Context, d time.Duration) error {
	args := []string{"set", "--offset", d.String()}
	if d == 0 {
		args = []string{"reset"}
	}
	res, err := n.clockRun(ctx, append(args, "--tree", "--pidfile", daemonPidfiles)...)
	if err != nil {
		return err
	}
	if len(res) == 0 {
		if d == 0 {
			return nil
		}
		return fmt.Errorf("%s: skew clock: %w (no live pid file under %s)", n.name, node.ErrNoDaemon, node.RunDir)
	}
	var errs []error
	for _, r := range res {
		if r.Error != "" {
			errs = append(errs, fmt.Errorf("%s: pid %d: %s", n.name, r.PID, r.Error))
		}
	}
	return errors.Join(errs...)
}

// ClockOffset implements node.Clock: the first daemon's offset against
// the machine's clock.
func (n *Node) ClockOffset(ctx context.Context) (time.Duration, error) {
	res, err := n.clockRun(ctx, "read", "--pidfile", daemonPidfiles)
	if err != nil {
		return 0, err
	}
	for _, r := range res {
		if r.Error == "" {
			return r.Effective, nil
		}
	}
	if len(res) > 0 {
		return 0, fmt.Errorf("%s: read clock: %s", n.name, res[0].Error)
	}
	return 0, fmt.Errorf("%s: read clock: %w", n.name, node.ErrNoDaemon)
}

// StrobeClock implements node.ClockStrober: the strobe runs detached on
// the machine (marked as the run's, so teardown ends it).
func (n *Node) StrobeClock(ctx context.Context, a, b, period, d time.Duration) error {
	argv := []string{injectorPath, "strobe", "--tree", "--pidfile", daemonPidfiles,
		"--offset", a.String(), "--offset2", b.String(), "--period", period.String(), "--duration", d.String()}
	if err := n.ExecDetached(ctx, argv...); err != nil {
		return fmt.Errorf("%s: start clock strobe: %w", n.name, err)
	}
	return nil
}

// clockRun runs the injector and decodes its output; results carry their
// own errors, so a non-zero exit with results is not an error here.
func (n *Node) clockRun(ctx context.Context, args ...string) ([]clockResult, error) {
	res, err := n.Exec(ctx, append([]string{injectorPath}, args...)...)
	var exitErr *node.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		return nil, err
	}
	var out []clockResult
	dec := json.NewDecoder(bytes.NewReader(res.Stdout))
	for {
		var r clockResult
		if derr := dec.Decode(&r); derr == io.EOF {
			break
		} else if derr != nil {
			return nil, fmt.Errorf("%s: faultline-clock %s: output: %w (%s)", n.name, args[0], derr, strings.TrimSpace(string(res.Stderr)))
		}
		out = append(out, r)
	}
	if err != nil && len(out) == 0 {
		return nil, fmt.Errorf("%s: faultline-clock %s: %w", n.name, args[0], err)
	}
	return out, nil
}

// ensureInjector copies the injector bin to n unless the same file is
// there, then checks that it runs and can skew a process of the machine.
func ensureInjector(ctx context.Context, n *Node, bin, sum string) error {
	res, err := n.execUnmarked(ctx, "sh", "-c", "sha256sum "+injectorPath+" 2>/dev/null || true")
	if err != nil {
		return err
	}
	if f := strings.Fields(string(res.Stdout)); len(f) == 0 || f[0] != sum {
		if err := copyFile(ctx, n, bin, injectorPath, 0o755); err != nil {
			return err
		}
	}
	res, err = n.execUnmarked(ctx, injectorPath, "probe")
	if err != nil || !strings.Contains(string(res.Stdout), injectcmd.Banner) {
		return fmt.Errorf("%s: the clock injector does not run on the machine: %v %s", n.name, err, strings.TrimSpace(string(res.Stdout)))
	}
	script := `sleep 30 & p=$!
echo $p > /tmp/faultline-clock-preflight.pid
` + injectorPath + ` set --pidfile /tmp/faultline-clock-preflight.pid --offset 1s; rc=$?
kill $p; rm -f /tmp/faultline-clock-preflight.pid; exit $rc`
	if res, err := n.execUnmarked(ctx, "sh", "-c", script); err != nil {
		return fmt.Errorf("%s: the clock injector cannot skew a process there (ptrace as root): %v %s", n.name, err, strings.Join(strings.Fields(string(res.Stdout)), " "))
	}
	return nil
}

// clockInjector finds the local injector binary and its hash.
func clockInjector(ctx context.Context, progress node.Progress) (string, string, error) {
	bin, err := docker.ClockInjector(ctx, progress)
	if err != nil {
		return "", "", err
	}
	sum, err := fileSHA256(bin)
	if err != nil {
		return "", "", fmt.Errorf("clock injector: %w", err)
	}
	return bin, sum, nil
}
