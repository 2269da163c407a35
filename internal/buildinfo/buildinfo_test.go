package buildinfo

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		want Info
		line string
	}{
		{"none", nil, Info{Version: Devel, Go: runtime.Version()}, "devel (" + runtime.Version() + ")"},
		{"checkout without vcs", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			Info{Version: Devel, Go: "go1.26.8"}, "devel (go1.26.8)"},
		{"checkout with vcs", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}, {Key: "-trimpath", Value: "true"}}},
			Info{Version: Devel, Revision: "0123456789abcdef0123", Modified: true, Go: "go1.26.8"}, "devel (revision 0123456789ab, modified; go1.26.8)"},
		{"go install of a release", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.3.0"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "false"}}},
			Info{Version: "v0.3.0", Revision: "abc", Go: "go1.26.8"}, "v0.3.0 (revision abc; go1.26.8)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := FromBuildInfo(tc.bi)
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if got.String() != tc.line {
				t.Errorf("String() = %q, want %q", got.String(), tc.line)
			}
		})
	}
	if g := Get(); g.Version == "" || g.Go == "" {
		t.Errorf("Get() = %+v: empty fields", g)
	}
}
