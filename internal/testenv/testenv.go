// Package testenv holds helpers shared by faultline's tests. The Docker
// engine rule (skip loudly, fail under CI=true) is harness/docker/dockerenv's.
package testenv

import (
	"os"
	"testing"
)

// InCI reports whether the tests run in CI (CI=true), where nothing that
// needs Docker may be skipped.
func InCI() bool { return os.Getenv("CI") == "true" }

// Short reports whether long Docker-backed runs should be skipped because
// -short was given and we are not in CI.
func Short() bool { return testing.Short() && !InCI() }

// Soak skips t unless FAULTLINE_SOAK=1: longer runs that repeat what the
// short end-to-end tests show, run on purpose with `make soak`, not in CI.
func Soak(t testing.TB) {
	t.Helper()
	if os.Getenv("FAULTLINE_SOAK") != "1" {
		t.Skipf("soak test %s: runs with FAULTLINE_SOAK=1 (make soak)", t.Name())
	}
}
