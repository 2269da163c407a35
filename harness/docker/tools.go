package docker

import (
	"context"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/faultline/faultline/harness/node"
)

// Tools helpers: a node started from a user's image (see LabelToolsImage)
// may lack iptables and the other tools faults run on a node. Each such
// node gets a helper container of faultline's base image that joins the
// node's network and PID namespaces (NetworkMode and PidMode
// container:<node>) with CAP_NET_ADMIN, so iptables there changes the
// node's own firewall; the node itself gains no capability. Helpers carry
// their node's run and controller labels (helperLabels), so teardown and
// `faultline clean` remove them with it.

// toolsHelperSuffix ends a tools helper's container and node name.
const toolsHelperSuffix = "-tools"

// toolsHelperRole is the tools helpers' LabelRole.
const toolsHelperRole = "tools-helper"

var _ node.Tooled = (*Node)(nil)

// Tools implements node.Tooled: the node's helper, or nil when the node's
// own image has the tools.
func (n *Node) Tools() node.Node {
	if n.tools == nil {
		return nil
	}
	return n.tools
}

// toolsImageOf returns the tools image an image's containers need a helper
// of (its LabelToolsImage), or "" when they need none. The tools image
// must be on this engine: Ensure puts it there.
func toolsImageOf(ctx context.Context, cli *client.Client, image string) (string, error) {
	info, err := cli.ImageInspect(ctx, image)
	if err != nil {
		return "", fmt.Errorf("inspect image %s: %w", image, err)
	}
	var tools string
	if info.Config != nil {
		tools = info.Config.Labels[LabelToolsImage]
	}
	if tools == "" {
		return "", nil
	}
	if _, err := cli.ImageInspect(ctx, tools); err != nil {
		return "", fmt.Errorf("image %s needs the helper image %s, which is not here (build the images again): %w", image, tools, err)
	}
	return tools, nil
}

// startToolsHelper creates and starts the tools helper named name, of
// image tools, in the namespaces of the running container targetID whose
// labels are targetLabels. On error nothing is left behind.
func startToolsHelper(ctx context.Context, cli *client.Client, name, tools, targetID string, targetLabels map[string]string) (string, error) {
	resp, err := cli.ContainerCreate(ctx,
		&container.Config{
			Image:  tools,
			Cmd:    []string{"sleep", "infinity"},
			Labels: helperLabels(targetLabels, toolsHelperRole),
		},
		&container.HostConfig{
			NetworkMode: container.NetworkMode("container:" + targetID),
			PidMode:     container.PidMode("container:" + targetID),
			CapAdd:      []string{"NET_ADMIN"},
		}, nil, nil, name)
	if err != nil {
		return "", fmt.Errorf("create tools helper %s: %w", name, err)
	}
	if err := cli.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = cli.ContainerRemove(rctx, resp.ID, container.RemoveOptions{Force: true})
		return "", fmt.Errorf("start tools helper %s: %w", name, err)
	}
	return resp.ID, nil
}
