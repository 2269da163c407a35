package docker

import (
	"context"

	"github.com/faultline/faultline/harness/node"
)

// BuildLocal builds the local Go package l static for the nodes, as images
// get it, and returns the cached binary's path and its SHA-256: the SSH
// runtime installs the same bytes on machines.
func BuildLocal(ctx context.Context, l node.LocalGo, progress node.Progress) (path, sha256 string, err error) {
	return buildLocal(ctx, l, progress)
}
