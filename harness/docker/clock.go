package docker

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/client"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/nuker/clock/injectcmd"
)

// Clock faults in Docker: a helper container per node shares the node
// container's PID namespace (PidMode container:<id>) with CAP_SYS_PTRACE
// only, and runs the injector faultline-clock (nuker/clock/injectcmd) on the
// node's daemons, found through their pid files under the node's root as
// the helper sees it (/proc/1/root: PID 1 of the shared namespace is the
// node's init). The node container itself gains no capability. The
// injector, normally the faultline executable itself (it acts as
// faultline-clock under that name), is bind-mounted read-only into the
// helper when it is created (copied in when the engine cannot see the
// file), so no image and no image recipe changes for it.

// clockHelperSuffix ends a helper container's name: <node container>-clock.
const clockHelperSuffix = "-clock"

// LabelRole marks containers that are not nodes; the clock helpers carry
// io.faultline.role=clock-helper (and their node's LabelRun and controller
// labels, so clean treats them as their node).
const LabelRole = "io.faultline.role"

// clockInjectorPath is where the injector lives in a helper container.
const clockInjectorPath = "/usr/local/bin/faultline-clock"

// clockPidfiles names the node's daemons as the helper sees them.
const clockPidfiles = "/proc/1/root" + node.RunDir + "/*.pid"

var _ node.ClockStrober = (*Node)(nil)

// clock is the node's clock injector, run in its helper container.
func (n *Node) clock() node.InjectorClock {
	return node.InjectorClock{Name: n.name, Path: clockInjectorPath, Pidfiles: clockPidfiles,
		Host: func(ctx context.Context) (node.Node, error) { return n.clockHelper(ctx) }}
}

// SetClockOffset implements node.Clock (see node.InjectorClock).
func (n *Node) SetClockOffset(ctx context.Context, d time.Duration) error {
	return n.clock().SetClockOffset(ctx, d)
}

// StrobeClock implements node.ClockStrober (see node.InjectorClock).
func (n *Node) StrobeClock(ctx context.Context, a, b, period, d time.Duration) error {
	return n.clock().StrobeClock(ctx, a, b, period, d)
}

// ClockOffset implements node.Clock: the node shares the engine host's
// kernel clock, so this is also its offset against a controller running
// on that host.
func (n *Node) ClockOffset(ctx context.Context) (time.Duration, error) {
	return n.clock().ClockOffset(ctx)
}

// clockHelper returns the node's helper container, creating and starting
// it when missing. Its state lives in the engine (found by name), so
// concurrent callers and later processes share one helper.
func (n *Node) clockHelper(ctx context.Context) (*Node, error) {
	target, err := n.cli.ContainerInspect(ctx, n.id)
	if err != nil {
		return nil, fmt.Errorf("%s: inspect: %w", n.name, err)
	}
	name := strings.TrimPrefix(target.Name, "/") + clockHelperSuffix
	helper := func(id string) *Node {
		return &Node{cli: n.cli, name: n.name + clockHelperSuffix, id: id, addr: n.addr}
	}
	for attempt := 0; attempt < 3; attempt++ {
		switch h, err := n.cli.ContainerInspect(ctx, name); {
		case err == nil && h.State != nil && h.State.Running:
			return helper(h.ID), nil
		case err == nil:
			// Stopped (the node was restarted?): start it afresh.
			if err := n.cli.ContainerRemove(ctx, h.ID, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
				return nil, fmt.Errorf("%s: remove stale clock helper: %w", n.name, err)
			}
		case !cerrdefs.IsNotFound(err):
			return nil, fmt.Errorf("%s: inspect clock helper: %w", n.name, err)
		}
		id, err := createClockHelper(ctx, n.cli, name, target)
		if cerrdefs.IsConflict(err) {
			continue // another caller created it meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("%s: clock helper: %w", n.name, err)
		}
		return helper(id), nil
	}
	return nil, fmt.Errorf("%s: clock helper %s keeps disappearing", n.name, name)
}

// createClockHelper creates, fills and starts the helper container of the
// node container target.
func createClockHelper(ctx context.Context, cli *client.Client, name string, target container.InspectResponse) (string, error) {
	if v, err := cli.ServerVersion(ctx); err != nil {
		return "", fmt.Errorf("docker version: %w", err)
	} else if v.Arch != "amd64" {
		return "", fmt.Errorf("the Docker engine runs %s/%s: the clock injector only works on x86-64 Linux processes", v.Os, v.Arch)
	}
	bin, err := ClockInjector(ctx, nil)
	if err != nil {
		return "", err
	}
	labels := helperLabels(target.Config.Labels, "clock-helper")
	// An engine on this machine sees the injector's file: a read-only bind
	// mount costs nothing, where a copy of faultline (tens of MB) into each
	// helper takes seconds on a loaded machine. A remote engine refuses the
	// mount (no such path there) or, probed, runs something else: copy.
	id, bindErr := startClockHelper(ctx, cli, name, target, labels, bin, true)
	if bindErr == nil || cerrdefs.IsConflict(bindErr) {
		return id, bindErr
	}
	id, err = startClockHelper(ctx, cli, name, target, labels, bin, false)
	if err != nil {
		return "", fmt.Errorf("%w (bind-mounting it instead: %w)", err, bindErr)
	}
	return id, nil
}

// startClockHelper creates and starts the helper container name with the
// injector bin bind-mounted (bind) or copied in, and checks that the
// injector runs there. On error nothing is left behind.
func startClockHelper(ctx context.Context, cli *client.Client, name string, target container.InspectResponse,
	labels map[string]string, bin string, bind bool) (string, error) {
	host := &container.HostConfig{
		PidMode:     container.PidMode("container:" + target.ID),
		CapAdd:      []string{"SYS_PTRACE"},
		NetworkMode: "none",
	}
	if bind {
		host.Mounts = []mount.Mount{{Type: mount.TypeBind, Source: bin, Target: clockInjectorPath, ReadOnly: true}}
	}
	resp, err := cli.ContainerCreate(ctx,
		&container.Config{
			Image:  clockHelperImage(target),
			Cmd:    []string{"sleep", "infinity"},
			Labels: labels,
		},
		host, nil, nil, name)
	if err != nil {
		return "", fmt.Errorf("create %s: %w", name, err)
	}
	remove := func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = cli.ContainerRemove(rctx, resp.ID, container.RemoveOptions{Force: true})
	}
	if !bind {
		if err := copyInjector(ctx, cli, resp.ID, bin); err != nil {
			remove()
			return "", fmt.Errorf("copy injector into %s: %w", name, err)
		}
	}
	if err := cli.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
		remove()
		return "", fmt.Errorf("start %s: %w", name, err)
	}
	// A binary that does not run here (a library missing from the image)
	// would fail every later command: say so once, now.
	res, err := (&Node{cli: cli, name: name, id: resp.ID}).Exec(ctx, clockInjectorPath, "probe")
	if err == nil && !strings.Contains(string(res.Stdout), injectcmd.Banner) {
		err = fmt.Errorf("%s probe printed %q", clockInjectorPath, strings.TrimSpace(string(res.Stdout)))
	}
	if err != nil {
		remove()
		return "", fmt.Errorf("the clock injector %s does not run in the node's image: %w %s (set $%s to a static faultline-clock: %s)",
			bin, err, strings.TrimSpace(string(res.Stderr)), EnvClockInjector, installInjector)
	}
	return resp.ID, nil
}

// clockHelperImage is the image of target's clock helper: target's own
// (present: the node runs it), or for a node made from a user's image,
// which may lack even sleep, faultline's tools image it names.
func clockHelperImage(target container.InspectResponse) string {
	if target.Config != nil {
		if tools := target.Config.Labels[LabelToolsImage]; tools != "" {
			return tools
		}
	}
	return target.Image
}

// copyInjector copies the binary at bin into container id as
// clockInjectorPath, streaming it (faultline itself is tens of MB).
func copyInjector(ctx context.Context, cli *client.Client, id, bin string) error {
	f, err := os.Open(bin)
	if err != nil {
		return fmt.Errorf("read injector: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("read injector: %w", err)
	}
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := tw.WriteHeader(&tar.Header{Name: path.Base(clockInjectorPath), Mode: 0o755, Size: st.Size(), ModTime: time.Unix(0, 0)})
		if err == nil {
			_, err = io.Copy(tw, io.LimitReader(f, st.Size()))
		}
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	defer pr.Close() // unblocks the writer if the copy ends early
	return cli.CopyToContainer(ctx, id, path.Dir(clockInjectorPath), pr, container.CopyToContainerOptions{})
}
