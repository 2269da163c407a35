package zookeeper

import (
	"fmt"

	"github.com/faultline/faultline/harness/node"
)

// DefaultVersion is the ZooKeeper release faultline tests: the one Debian
// bookworm packages (3.8.0), the base image's suite.
const DefaultVersion = "3.8"

// Software is what a ZooKeeper node needs: Debian's zookeeper package,
// which brings the server jars, their Java libraries and a JRE. Only the
// release bookworm ships can be installed offline.
func Software(version string) (node.Software, error) {
	if version == "" {
		version = DefaultVersion
	}
	if version != DefaultVersion {
		return node.Software{}, fmt.Errorf("zookeeper version %q: only %s (Debian bookworm's zookeeper 3.8.0) can be installed offline", version, DefaultVersion)
	}
	return node.Software{
		Name:     "zookeeper",
		Packages: []string{"zookeeper"},
		ManDirs:  true, // OpenJDK's install script registers man pages
	}, nil
}
