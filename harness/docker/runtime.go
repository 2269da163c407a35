package docker

import (
	"context"
	"fmt"

	"github.com/docker/docker/client"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/nuker/delay"
)

// Runtime runs nodes as containers of the local (or DOCKER_HOST) engine:
// installing is building an image. It implements node.Runtime.
type Runtime struct {
	cli *client.Client
}

var _ node.Runtime = (*Runtime)(nil)

// NewRuntime connects to the engine; it fails when none is reachable.
func NewRuntime(ctx context.Context) (*Runtime, error) {
	cli, err := Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &Runtime{cli: cli}, nil
}

// Close lets the engine connection go.
func (r *Runtime) Close() error { return r.cli.Close() }

// CheckHost finds the clock injector when the clock or delay fault is
// asked for (it carries the packet delayer), the disk server when a disk
// fault is, and checks the kernel can queue packets for delay: without
// them every injection would fail.
func (r *Runtime) CheckHost(ctx context.Context, needs node.Needs, progress node.Progress) error {
	if needs.Delay {
		// The engine is on this machine (Connect's default): its kernel
		// is the nodes'. Without NFQUEUE no delay step could start.
		if sup := delay.Detect(); !sup.NFQueue {
			return fmt.Errorf("fault delay cannot work here: this kernel has no nfnetlink_queue or iptables NFQUEUE (%s)", sup)
		}
	}
	// The packet delayer is the injector's binary too.
	if needs.Clock || needs.Delay {
		if _, err := ClockInjector(ctx, progress); err != nil {
			return err
		}
	}
	if needs.Disk {
		if _, err := DiskServer(ctx, progress); err != nil {
			return err
		}
	}
	return nil
}

// Install builds (or reuses) the image for sw.
func (r *Runtime) Install(ctx context.Context, sw node.Software, progress node.Progress) (node.Installation, error) {
	ref, err := EnsureImage(ctx, r.cli, sw, progress)
	if err != nil {
		return node.Installation{}, fmt.Errorf("image for %s: %w", sw.Name, err)
	}
	return node.Installation{Ref: ref, Software: sw}, nil
}

// Preflight checks in a throwaway container of the image that the
// mechanism of every requested fault works here: partition needs iptables
// with NET_ADMIN, packet iptables' statistic and TEE and tc's tbf, delay
// iptables' NFQUEUE and a delayer bound to a queue, clock
// the injector and ptrace. Kill, pause and failover
// use only the target's own process control, which the run's setup
// exercises anyway: nothing to check.
func (r *Runtime) Preflight(ctx context.Context, runID string, inst node.Installation, needs node.Needs, progress node.Progress) error {
	if !needs.Any() {
		return nil
	}
	p, err := StartPreflight(ctx, r.cli, runID, inst.Ref, needs.Iptables || needs.Packet || needs.Delay)
	if err != nil {
		return err
	}
	defer p.Close()
	if needs.Iptables {
		if err := p.CheckIptables(ctx); err != nil {
			return fmt.Errorf("fault partition cannot work here: %w", err)
		}
	}
	if needs.Packet {
		if err := p.CheckPacket(ctx); err != nil {
			return fmt.Errorf("fault packet cannot work here: %w", err)
		}
	}
	if needs.Delay {
		if err := p.CheckDelay(ctx); err != nil {
			return fmt.Errorf("fault delay cannot work here: %w", err)
		}
	}
	if needs.Clock {
		if err := p.CheckClock(ctx); err != nil {
			return fmt.Errorf("fault clock cannot work here: %w", err)
		}
	}
	return nil
}

// StartCluster starts n containers of the installed image on a private
// network.
func (r *Runtime) StartCluster(ctx context.Context, runID string, inst node.Installation, n int) (node.RunningCluster, error) {
	return StartCluster(ctx, r.cli, ClusterSpec{RunID: runID, Image: inst.Ref, Nodes: n})
}
