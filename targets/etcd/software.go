package etcd

import (
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/faultline/faultline/harness/node"
)

// DefaultVersion is the etcd release faultline tests unless told otherwise:
// the newest 3.6 release on the Go module proxy when this was written.
const DefaultVersion = "v3.6.16"

// serverModule is the Go module holding etcdmain; it exists from etcd 3.5 on.
const serverModule = "go.etcd.io/etcd/server/v3"

// mainSource is the whole etcd program: the server module's own main
// package cannot be `go install`ed (its go.mod has replace directives), so a
// module of our own requires the server module and calls its entry point.
const mainSource = `package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
`

var versionRE = regexp.MustCompile(`^v3\.([0-9]+)\.([0-9]+)$`)

// Software is what an etcd node needs: one static etcd binary built from
// go.etcd.io/etcd/server/v3 at version (vX.Y.Z, 3.5 or newer; "" means
// DefaultVersion), and no Debian packages beyond the base tools.
func Software(version string) (node.Software, error) {
	if version == "" {
		version = DefaultVersion
	}
	m := versionRE.FindStringSubmatch(version)
	if m == nil {
		return node.Software{}, fmt.Errorf("etcd version %q: want a release like %s (v3.MINOR.PATCH)", version, DefaultVersion)
	}
	if minor, _ := strconv.Atoi(m[1]); minor < 5 {
		return node.Software{}, fmt.Errorf("etcd version %q: faultline builds etcd 3.5 or newer (%s starts at v3.5.0)", version, serverModule)
	}
	return node.Software{
		Name: "etcd",
		Binaries: []node.GoBinary{{
			Name:     "etcd",
			Require:  []string{serverModule + "@" + version},
			Main:     mainSource,
			Estimate: 2 * time.Minute,
		}},
	}, nil
}
