package minio

import (
	"fmt"
	"regexp"
	"time"

	"github.com/faultline/faultline/harness/node"
)

// DefaultVersion is the MinIO server build faultline tests unless told
// otherwise: what the Go module proxy named @latest when this was written.
// MinIO tags its releases RELEASE.<date>, which are not Go versions, so the
// module proxy serves only pseudo-versions.
const DefaultVersion = "v0.0.0-20260212201848-7aac2a2c5b7c"

// serverModule is MinIO's Go module; its root package is the server's main.
const serverModule = "github.com/minio/minio"

// versionRE matches a Go pseudo-version: v0.0.0-<UTC timestamp>-<commit>.
var versionRE = regexp.MustCompile(`^v0\.0\.0-[0-9]{14}-[0-9a-f]{12}$`)

// Software is what a MinIO node needs: one static minio binary built from
// its Go module at version ("" means DefaultVersion), go install style.
func Software(version string) (node.Software, error) {
	if version == "" {
		version = DefaultVersion
	}
	if !versionRE.MatchString(version) {
		return node.Software{}, fmt.Errorf("minio version %q: want a Go pseudo-version like %s (see go list -m %s@latest)", version, DefaultVersion, serverModule)
	}
	return node.Software{
		Name: "minio",
		Binaries: []node.GoBinary{{
			Name:     "minio",
			Require:  []string{serverModule + "@" + version},
			Package:  serverModule,
			Estimate: 5 * time.Minute,
		}},
	}, nil
}
