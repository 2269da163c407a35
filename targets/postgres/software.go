package postgres

import (
	"fmt"

	"github.com/faultline/faultline/harness/node"
)

// DefaultVersion is the PostgreSQL major release faultline tests: the one
// Debian bookworm packages (the base image's suite).
const DefaultVersion = "15"

// binDir holds the server programs of the Debian package.
func binDir(version string) string { return "/usr/lib/postgresql/" + version + "/bin" }

// Software is what a PostgreSQL node needs: Debian's postgresql-<version>
// package (server and client programs) on top of the base tools. Only the
// release bookworm ships is available offline.
func Software(version string) (node.Software, error) {
	if version == "" {
		version = DefaultVersion
	}
	if version != DefaultVersion {
		return node.Software{}, fmt.Errorf("postgres version %q: only %s (Debian bookworm's postgresql-%s) can be installed offline", version, DefaultVersion, DefaultVersion)
	}
	return node.Software{
		Name:     "postgres",
		Packages: []string{"postgresql-" + version},
	}, nil
}
