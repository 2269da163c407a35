package docker

import (
	"context"
	"fmt"

	"github.com/faultline/faultline/harness/node"
)

// Machine is a faultline/base image made of Debian with exactly packages
// (none of BasePackages added), built like the base image when missing:
// the SSH runtime's tests start containers of it as stand-ins for bare
// machines, which faultline then installs its software on.
func (im *Images) Machine(ctx context.Context, packages []string, progress node.Progress) (string, error) {
	for _, p := range packages {
		if !debianPackageRE.MatchString(p) {
			return "", fmt.Errorf("machine image: invalid Debian package name %q", p)
		}
	}
	sourcesPath, sources, err := readHostSources()
	if err != nil {
		return "", fmt.Errorf("machine image: %w", err)
	}
	im.mu.Lock()
	defer im.mu.Unlock()
	return im.base(ctx, packages, false, sourcesPath, sources, progress)
}
