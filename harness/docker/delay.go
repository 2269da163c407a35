package docker

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/nuker/delay"
)

// Packet delay in Docker: each delayer (package nuker/delay) runs as the
// main process of a helper container named <node container>-delay-<queue>
// that shares only the node's network namespace (NetworkMode
// container:<id>) with CAP_NET_ADMIN, so the node gains nothing. The
// binary is the clock injector's (faultline or faultline-clock, both carry
// the delayer), bind-mounted read-only or copied in as for clock helpers.
// Stopping the helper sends SIGTERM: the delayer lets every packet it
// holds go, and the kernel unbinds its queue when its socket closes.

// delayHelperInfix joins a node container's name and a queue number in a
// delay helper's name.
const delayHelperInfix = "-delay-"

// delayHelperRole is the delay helpers' LabelRole.
const delayHelperRole = "delay-helper"

// delayReadyTimeout bounds the wait for a started delayer to bind its queue.
const delayReadyTimeout = 20 * time.Second

var _ node.Delayer = (*Node)(nil)

// delayHelperName is the name of target's delay helper for queue.
func delayHelperName(target container.InspectResponse, queue uint16) string {
	return strings.TrimPrefix(target.Name, "/") + delayHelperInfix + strconv.Itoa(int(queue))
}

// StartDelayer implements node.Delayer. A helper of the same queue left
// over from an earlier start is replaced.
func (n *Node) StartDelayer(ctx context.Context, queue uint16, args []string) error {
	target, err := n.cli.ContainerInspect(ctx, n.id)
	if err != nil {
		return fmt.Errorf("%s: inspect: %w", n.name, err)
	}
	name := delayHelperName(target, queue)
	if err := removeContainer(ctx, n.cli, name, 0); err != nil {
		return fmt.Errorf("%s: remove stale delay helper: %w", n.name, err)
	}
	bin, err := ClockInjector(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: packet delayer: %w", n.name, err)
	}
	cmd := append([]string{clockInjectorPath, delay.Subcommand, "run", "--queue", strconv.Itoa(int(queue))}, args...)
	labels := helperLabels(target.Config.Labels, delayHelperRole)
	// As for clock helpers: bind-mount the binary where the engine sees
	// it, else copy it in.
	bindErr := startDelayHelper(ctx, n.cli, name, target, labels, bin, cmd, true)
	if bindErr == nil {
		return nil
	}
	if err := startDelayHelper(ctx, n.cli, name, target, labels, bin, cmd, false); err != nil {
		return fmt.Errorf("%s: packet delayer: %w (bind-mounting it instead: %w)", n.name, err, bindErr)
	}
	return nil
}

// startDelayHelper creates and starts the delay helper name running cmd,
// with the binary bin bind-mounted (bind) or copied in, and waits until
// the delayer has bound its queue. On error nothing is left behind.
func startDelayHelper(ctx context.Context, cli *client.Client, name string, target container.InspectResponse,
	labels map[string]string, bin string, cmd []string, bind bool) error {
	host := &container.HostConfig{
		NetworkMode: container.NetworkMode("container:" + target.ID),
		CapAdd:      []string{"NET_ADMIN"},
	}
	if bind {
		host.Mounts = []mount.Mount{{Type: mount.TypeBind, Source: bin, Target: clockInjectorPath, ReadOnly: true}}
	}
	resp, err := cli.ContainerCreate(ctx,
		&container.Config{Image: clockHelperImage(target), Entrypoint: cmd[:1], Cmd: cmd[1:], Labels: labels},
		host, nil, nil, name)
	if err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	fail := func(err error) error {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = cli.ContainerRemove(rctx, resp.ID, container.RemoveOptions{Force: true})
		return err
	}
	if !bind {
		if err := copyInjector(ctx, cli, resp.ID, bin); err != nil {
			return fail(fmt.Errorf("copy the delayer into %s: %w", name, err))
		}
	}
	if err := cli.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
		return fail(fmt.Errorf("start %s: %w", name, err))
	}
	if err := waitDelayerReady(ctx, cli, resp.ID); err != nil {
		return fail(fmt.Errorf("%s: %w", name, err))
	}
	return nil
}

// waitDelayerReady waits until the delayer in container id says it bound
// its queue, or fails with what it said when it exits or takes too long.
func waitDelayerReady(ctx context.Context, cli *client.Client, id string) error {
	deadline := time.Now().Add(delayReadyTimeout)
	for {
		var stdout, stderr bytes.Buffer
		rc, err := cli.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true})
		if err == nil {
			_, err = stdcopy.StdCopy(&stdout, &stderr, rc)
			rc.Close()
		}
		if err != nil {
			return fmt.Errorf("delayer logs: %w", err)
		}
		if strings.Contains(stdout.String(), delay.Ready) {
			return nil
		}
		st, err := cli.ContainerInspect(ctx, id)
		if err != nil {
			return fmt.Errorf("inspect: %w", err)
		}
		if st.State == nil || !st.State.Running {
			return fmt.Errorf("the packet delayer exited: %s", oneLine(fmt.Errorf("%s", strings.TrimSpace(stderr.String()+stdout.String()))))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the packet delayer did not bind its queue in %v", delayReadyTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// StopDelayer implements node.Delayer.
func (n *Node) StopDelayer(ctx context.Context, queue uint16) error {
	target, err := n.cli.ContainerInspect(ctx, n.id)
	if err != nil {
		return fmt.Errorf("%s: inspect: %w", n.name, err)
	}
	if err := removeContainer(ctx, n.cli, delayHelperName(target, queue), 5); err != nil {
		return fmt.Errorf("%s: stop packet delayer: %w", n.name, err)
	}
	return nil
}

// StopDelayers implements node.Delayer: it removes every delay helper in
// the node's network namespace, whatever its queue.
func (n *Node) StopDelayers(ctx context.Context) error {
	target, err := n.cli.ContainerInspect(ctx, n.id)
	if err != nil {
		return fmt.Errorf("%s: inspect: %w", n.name, err)
	}
	prefix := strings.TrimPrefix(target.Name, "/") + delayHelperInfix
	cs, err := n.cli.ContainerList(ctx, container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", LabelRole+"="+delayHelperRole), filters.Arg("name", prefix))})
	if err != nil {
		return fmt.Errorf("%s: list packet delayers: %w", n.name, err)
	}
	for _, c := range cs {
		for _, nm := range c.Names {
			if strings.HasPrefix(strings.TrimPrefix(nm, "/"), prefix) {
				if err := removeContainer(ctx, n.cli, c.ID, 5); err != nil {
					return fmt.Errorf("%s: stop packet delayer: %w", n.name, err)
				}
			}
		}
	}
	return nil
}

// removeContainer stops the container ref (name or id) with SIGTERM and
// up to grace seconds before SIGKILL, then removes it; one that is not
// there is no error.
func removeContainer(ctx context.Context, cli *client.Client, ref string, grace int) error {
	if grace > 0 {
		if err := cli.ContainerStop(ctx, ref, container.StopOptions{Timeout: &grace}); err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("stop %s: %w", ref, err)
		}
	}
	if err := cli.ContainerRemove(ctx, ref, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove %s: %w", ref, err)
	}
	return nil
}
