package docker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/harness/docker/dockerenv"
)

// TestClockHelperCopyFallback: an engine that cannot see the injector's
// file (a remote one) refuses the bind mount and leaves nothing behind;
// the injector copied in instead runs in the node's image.
func TestClockHelperCopyFallback(t *testing.T) {
	cli := dockerenv.NeedDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	n, runID := startBaseNode(ctx, t, cli, "clockcopy")
	target, err := cli.ContainerInspect(ctx, n.ContainerID())
	if err != nil {
		t.Fatal(err)
	}
	bin, err := ClockInjector(ctx, func(f string, a ...any) { t.Logf(f, a...) })
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(target.Name, "/") + clockHelperSuffix
	labels := map[string]string{LabelRole: "clock-helper", LabelRun: runID}
	if _, err := startClockHelper(ctx, cli, name, target, labels, "/nonexistent/faultline-clock", true); err == nil {
		t.Fatal("a bind mount of a file the engine lacks was accepted")
	} else {
		t.Logf("bind mount of a missing file: %v", err)
	}
	if _, err := cli.ContainerInspect(ctx, name); err == nil {
		t.Fatal("the refused helper was left behind")
	}
	start := time.Now()
	id, err := startClockHelper(ctx, cli, name, target, labels, bin, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("helper with the injector copied in, started and probed in %v", time.Since(start).Round(time.Millisecond))
	h, err := cli.ContainerInspect(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.HostConfig.Mounts) != 0 {
		t.Errorf("copied helper has mounts %+v", h.HostConfig.Mounts)
	}
}
