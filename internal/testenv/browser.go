package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// NeedChromium returns the path of a Chromium (or Chrome) binary for
// browser tests: $FAULTLINE_CHROMIUM, else chromium, chromium-browser or
// google-chrome in PATH. When there is none it skips the test with a loud
// message (and returns ""), except under CI=true, where it fails: CI runs
// scripts/setup.sh, which installs Debian's chromium package.
func NeedChromium(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("FAULTLINE_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if InCI() {
		t.Fatalf("CI=true but no Chromium is installed (scripts/setup.sh installs Debian's chromium package)")
	} else {
		t.Skipf("SKIPPING BROWSER TEST %s: no chromium in PATH (apt-get install chromium, or run scripts/setup.sh); this test must run in CI", t.Name())
	}
	return ""
}
