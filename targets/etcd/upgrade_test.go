package etcd

import (
	"strings"
	"testing"
)

// TestUpgradeTo: the upgrade-to option names a release one minor version
// away at most, other than the cluster's; its default is the next minor
// version's (the previous one for the newest).
func TestUpgradeTo(t *testing.T) {
	tests := []struct {
		version, opt string
		want, err    string
	}{
		{"", "", "v3.7.3", ""},
		{"v3.6.13", "", "v3.7.3", ""},
		{"v3.5.36", "", DefaultVersion, ""},
		{"v3.7.3", "", DefaultVersion, ""},
		{"", "v3.6.13", "v3.6.13", ""},
		{"v3.7.3", "v3.6.13", "v3.6.13", ""},
		{"", DefaultVersion, "", "runs v3.6.16 already"},
		{"v3.5.36", "v3.7.3", "", "one minor version at a time"},
		{"", "3.7.3", "", "want a release like"},
		{"", "v3.4.30", "", "3.5 or newer"},
	}
	for _, tt := range tests {
		tg, err := New(tt.version, map[string]string{"upgrade-to": tt.opt})
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("New(%q, upgrade-to=%q) err %v, want %q", tt.version, tt.opt, err, tt.err)
			}
			continue
		}
		if err != nil || tg.UpgradeVersion() != tt.want || tg.Settings()["upgrade-to"] != tt.want {
			t.Errorf("New(%q, upgrade-to=%q) = %v, %v; want upgrade-to %s", tt.version, tt.opt, tg, err, tt.want)
			continue
		}
		sw, err := tg.UpgradeSoftware()
		if err != nil || len(sw.Binaries) != 2 || sw.Binaries[0].Name != "etcd" ||
			sw.Binaries[1].Name != "etcd-"+tt.want || sw.Binaries[1].Require[0] != serverModule+"@"+tt.want {
			t.Errorf("UpgradeSoftware of %q -> %s = %+v, %v", tt.version, tt.want, sw, err)
		}
		// The cluster's own program is the build every etcd run uses, so
		// its cached binary serves both images.
		plain, _ := tg.Software()
		if sw.Binaries[0].Require[0] != plain.Binaries[0].Require[0] || sw.Binaries[0].Main != plain.Binaries[0].Main {
			t.Errorf("the upgrade image's etcd %+v differs from the plain image's %+v", sw.Binaries[0], plain.Binaries[0])
		}
	}
}
