package ssh

import (
	"context"
	"fmt"
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

var _ node.ClockStrober = (*Node)(nil)

// clock is the machine's clock injector, run on the machine itself.
func (n *Node) clock() node.InjectorClock {
	return node.InjectorClock{Name: n.name, Path: injectorPath,
		Host: func(context.Context) (node.Node, error) { return n, nil }}
}

// SetClockOffset implements node.Clock (see node.InjectorClock).
func (n *Node) SetClockOffset(ctx context.Context, d time.Duration) error {
	return n.clock().SetClockOffset(ctx, d)
}

// ClockOffset implements node.Clock: the first daemon's offset against
// the machine's clock.
func (n *Node) ClockOffset(ctx context.Context) (time.Duration, error) {
	return n.clock().ClockOffset(ctx)
}

// StrobeClock implements node.ClockStrober: the strobe runs detached on
// the machine (marked as the run's, so teardown ends it).
func (n *Node) StrobeClock(ctx context.Context, a, b, period, d time.Duration) error {
	return n.clock().StrobeClock(ctx, a, b, period, d)
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
