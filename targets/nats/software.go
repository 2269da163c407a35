package nats

import (
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/faultline/faultline/harness/node"
)

// DefaultVersion is the nats-server release faultline tests unless told
// otherwise: the newest on the Go module proxy when this was written.
// v2.12.1 is the release Jepsen analysed (jepsen.io/analyses/nats-2.12.1).
const DefaultVersion = "v2.15.2"

// serverModule is nats-server's Go module; its root is the main package.
const serverModule = "github.com/nats-io/nats-server/v2"

var versionRE = regexp.MustCompile(`^v2\.([0-9]+)\.([0-9]+)$`)

// Software is what a NATS node needs: one static nats-server built from its
// Go module at version (v2.MINOR.PATCH, 2.10 or newer; "" means
// DefaultVersion). The module's root package is its main, so it is built
// as is (go install style), with the local toolchain: v2.15.2 names a newer
// toolchain in its go.mod, which GOTOOLCHAIN=local ignores.
func Software(version string) (node.Software, error) {
	if version == "" {
		version = DefaultVersion
	}
	m := versionRE.FindStringSubmatch(version)
	if m == nil {
		return node.Software{}, fmt.Errorf("nats version %q: want a release like %s (v2.MINOR.PATCH)", version, DefaultVersion)
	}
	if minor, _ := strconv.Atoi(m[1]); minor < 10 {
		// sync_interval and the JetStream API faultline uses need 2.10.
		return node.Software{}, fmt.Errorf("nats version %q: faultline runs nats-server 2.10 or newer", version)
	}
	return node.Software{
		Name: "nats",
		Binaries: []node.GoBinary{{
			Name:     "nats-server",
			Require:  []string{serverModule + "@" + version},
			Package:  serverModule,
			Estimate: 4 * time.Minute,
		}},
	}, nil
}
