// Package dockerenv gives faultline's Docker-backed tests their engine,
// under the rule every such test follows: skip loudly when no engine is
// reachable, fail instead under CI=true. It lives under harness/docker,
// the only room that imports the Docker SDK.
package dockerenv

import (
	"context"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/faultline/faultline/internal/testenv"
)

// NeedDocker returns a client for the Docker engine, or skips the test with a
// loud message when no engine is reachable (and returns nil, should t's
// Skipf return). faultline's own tests and harness/fltest share this rule.
// Under CI=true a missing engine fails the test instead: Docker-backed tests
// are real tests.
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
		if testenv.InCI() {
			t.Fatalf("CI=true but no Docker engine is reachable: %v", err)
		} else {
			t.Skipf("SKIPPING DOCKER TEST %s: no Docker engine reachable (%v); this test must run in CI", t.Name(), err)
		}
		return nil // for a testing.TB whose Skipf and Fatalf return
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}
