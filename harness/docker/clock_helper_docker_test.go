package docker

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testenv"
)

// TestClockHelperCopyFallback: an engine that cannot see the injector's
// file (a remote one) refuses the bind mount and leaves nothing behind;
// the injector copied in instead runs in the node's image.
func TestClockHelperCopyFallback(t *testing.T) {
	cli := testenv.NeedDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	img, err := BaseImage(ctx, cli, nil, func(f string, a ...any) { t.Logf(f, a...) })
	if err != nil {
		t.Fatal(err)
	}
	runID := fmt.Sprintf("test-clockcopy-%d", time.Now().UnixNano())
	c, err := StartCluster(ctx, cli, ClusterSpec{RunID: runID, Image: img, Nodes: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Remove(context.Background()); err != nil {
			t.Error(err)
		}
		if left, err := List(context.Background(), cli, runID); err != nil || len(left) > 0 {
			t.Errorf("left behind: %v %v", left, err)
		}
	})
	target, err := cli.ContainerInspect(ctx, c.Nodes()[0].(*Node).ContainerID())
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
