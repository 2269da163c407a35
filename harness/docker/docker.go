// Package docker is faultline's Docker runtime: every call to the Docker
// engine lives here. It builds the images targets need without a registry
// (a Debian root file system from the host's apt sources, or an image the
// user already has, plus static Go binaries, the user's own Go packages and
// files), runs a cluster as labelled containers on a private network, and
// implements node.Node on top of them. Nodes of a user's image get a
// helper container with faultline's tools in their namespaces (see
// node.ToolsOf). Everything it creates carries the label
// io.faultline.run=<run id>, so `faultline clean` can find leftovers.
package docker

import (
	"context"
	"fmt"

	"github.com/docker/docker/client"
)

// LabelRun is set on every container and network faultline creates; its
// value is the run id. Images carry LabelRecipe instead, so `faultline
// clean` never removes them.
const LabelRun = "io.faultline.run"

// Connect returns a client for the engine named by the environment
// (DOCKER_HOST etc.), with API version negotiation, after checking that the
// engine answers.
func Connect(ctx context.Context) (*client.Client, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	if _, err := cli.Ping(ctx); err != nil {
		cli.Close()
		return nil, fmt.Errorf("docker engine unreachable (is dockerd running, DOCKER_HOST right?): %w", err)
	}
	return cli, nil
}
