// Package buildinfo says which faultline is running: the module version,
// the VCS revision it was built from and the Go toolchain, as the Go
// linker recorded them (runtime/debug.ReadBuildInfo).
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Devel is the version of a build that carries none: a build from a
// checkout (go build, go run, go test).
const Devel = "devel"

// Info identifies a faultline build.
type Info struct {
	// Version is the module version (v1.2.3, a pseudo-version from go
	// install ...@commit), or Devel.
	Version string `json:"version"`
	// Revision is the VCS commit the binary was built from, when known.
	Revision string `json:"revision,omitempty"`
	// Modified is true when the checkout had uncommitted changes.
	Modified bool `json:"modified,omitempty"`
	// Go is the toolchain that built the binary.
	Go string `json:"go"`
}

// Get returns the running binary's build information.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return FromBuildInfo(bi)
}

// FromBuildInfo extracts Info from what debug.ReadBuildInfo returned (nil
// when the binary has none).
func FromBuildInfo(bi *debug.BuildInfo) Info {
	out := Info{Version: Devel, Go: runtime.Version()}
	if bi == nil {
		return out
	}
	if bi.GoVersion != "" {
		out.Go = bi.GoVersion
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		out.Version = v
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			out.Revision = s.Value
		case "vcs.modified":
			out.Modified = s.Value == "true"
		}
	}
	return out
}

// String is the one-line form, e.g. "v0.3.0 (revision 1a2b3c4d5e6f,
// modified; go1.26.8)".
func (i Info) String() string {
	s := i.Version + " ("
	if i.Revision != "" {
		rev := i.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		s += "revision " + rev
		if i.Modified {
			s += ", modified"
		}
		s += "; "
	}
	return fmt.Sprintf("%s%s)", s, i.Go)
}
