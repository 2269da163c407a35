package testenv

import (
	"os"
	"testing"
)

// NeedFUSE skips t loudly unless it can mount FUSE filesystems on this host
// (root and /dev/fuse); under CI=true it fails instead, as dockerenv.NeedDocker does.
func NeedFUSE(t testing.TB) {
	t.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "not root"
	} else if _, err := os.Stat("/dev/fuse"); err != nil {
		why = err.Error()
	}
	if why == "" {
		return
	}
	if InCI() {
		t.Fatalf("CI=true but FUSE cannot be mounted here: %s", why)
	}
	t.Skipf("SKIPPING FUSE TEST %s: %s; this test must run in CI", t.Name(), why)
}
