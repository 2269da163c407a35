package docker

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
)

// Machine is a container that stands in for a real machine in the SSH
// runtime's tests: it runs Cmd (an sshd) with NET_ADMIN for iptables and
// SYS_PTRACE for the clock injector, labelled as runID's so Clean removes
// it.
type Machine struct {
	Name, Hostname, Image, RunID string
	Cmd, Env                     []string
}

// StartMachine creates and starts m and returns its container id and
// address on the default bridge.
func StartMachine(ctx context.Context, cli *client.Client, m Machine) (id, ip string, err error) {
	init := true
	resp, err := cli.ContainerCreate(ctx,
		&container.Config{Hostname: m.Hostname, Image: m.Image, Cmd: m.Cmd, Env: m.Env, Labels: RunLabels(m.RunID)},
		&container.HostConfig{CapAdd: []string{"NET_ADMIN", "SYS_PTRACE"}, Init: &init},
		nil, nil, m.Name)
	if err != nil {
		return "", "", fmt.Errorf("create machine %s: %w", m.Name, err)
	}
	if err := cli.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
		return resp.ID, "", fmt.Errorf("start machine %s: %w", m.Name, err)
	}
	insp, err := cli.ContainerInspect(ctx, resp.ID)
	if err != nil {
		return resp.ID, "", fmt.Errorf("inspect machine %s: %w", m.Name, err)
	}
	ip = insp.NetworkSettings.IPAddress
	if ip == "" {
		for _, ep := range insp.NetworkSettings.Networks {
			ip = ep.IPAddress
		}
	}
	if ip == "" {
		return resp.ID, "", fmt.Errorf("machine %s has no address", m.Name)
	}
	return resp.ID, ip, nil
}
