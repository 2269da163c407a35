package docker

import (
	"context"
	"errors"

	"github.com/docker/docker/client"

	"github.com/faultline/faultline/harness/node"
)

// BaseImage builds (or finds) faultline's Debian base image: a root file
// system made by mmdebstrap from the host's apt sources, imported with
// `docker import`, with iptables, iproute2, procps and ca-certificates plus
// extra packages. It returns the image reference (faultline/base:<hash>).
func BaseImage(ctx context.Context, cli *client.Client, packages []string, progress node.Progress) (string, error) {
	return "", errors.New("not implemented yet")
}

// EnsureImage returns the reference of the image that installs sw
// (faultline/<sw.Name>:<recipe hash>), building it and the base image when
// missing.
func EnsureImage(ctx context.Context, cli *client.Client, sw node.Software, progress node.Progress) (string, error) {
	return "", errors.New("not implemented yet")
}
