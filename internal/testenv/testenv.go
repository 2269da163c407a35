// Package testenv holds helpers shared by faultline's tests.
package testenv

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/docker/docker/client"
)

// InCI reports whether the tests run in CI (CI=true), where nothing that
// needs Docker may be skipped.
func InCI() bool { return os.Getenv("CI") == "true" }

// NeedDocker returns a client for the Docker engine, or skips the test with a
// loud message when no engine is reachable (and returns nil, should t's
// Skipf return). faultline's own tests and harness/fltest share this rule. Under CI=true a missing engine
// fails the test instead: Docker-backed tests are real tests.
func NeedDocker(t testing.TB) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err == nil {
		_, err = cli.Ping(ctx)
	}
	if err != nil {
		if cli != nil {
			cli.Close()
		}
		if InCI() {
			t.Fatalf("CI=true but no Docker engine is reachable: %v", err)
		} else {
			t.Skipf("SKIPPING DOCKER TEST %s: no Docker engine reachable (%v); this test must run in CI", t.Name(), err)
		}
		return nil // for a testing.TB whose Skipf and Fatalf return
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

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
