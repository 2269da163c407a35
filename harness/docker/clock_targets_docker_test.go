package docker

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/faultline/faultline/harness/docker/dockerenv"
	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/targets/postgres"
	"github.com/faultline/faultline/targets/redis"
)

// clockTarget is the part of a target this test drives.
type clockTarget interface {
	Software() (node.Software, error)
	Setup(ctx context.Context, nodes []node.Node, log *slog.Logger) error
	WaitHealthy(ctx context.Context, limit time.Duration) error
}

// startOneNode starts target on a one-node cluster, removed when the test
// ends, and waits until it is healthy.
func startOneNode(ctx context.Context, t *testing.T, cli *client.Client, name string, target clockTarget) node.Node {
	t.Helper()
	sw, err := target.Software()
	if err != nil {
		t.Fatal(err)
	}
	img, err := EnsureImage(ctx, cli, sw, func(f string, a ...any) { t.Logf(f, a...) })
	if err != nil {
		t.Fatal(err)
	}
	n := startTestNode(ctx, t, cli, img, fmt.Sprintf("test-clock-%s-%d", name, time.Now().UnixNano()))
	if err := target.Setup(ctx, []node.Node{n}, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if err := target.WaitHealthy(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestClockSkewCTargets skews Debian's C servers, which read the clock
// through glibc's vDSO: Redis (its TIME command) and PostgreSQL, whose
// postmaster forks a backend per connection: each reading comes from a
// fresh backend, forked after the offset was set on the postmaster.
func TestClockSkewCTargets(t *testing.T) {
	cli := dockerenv.NeedDocker(t)
	if testenv.Short() {
		t.Skip("skipping target clock tests in -short mode")
	}
	cases := []struct {
		name string
		new  func() (clockTarget, error)
		// now asks the server for its wall clock, in seconds since the
		// epoch, from inside the node.
		now func(n node.Node) []string
	}{
		{
			name: "redis",
			new:  func() (clockTarget, error) { return redis.New("", map[string]string{"mode": "redlock"}) },
			now: func(n node.Node) []string {
				return []string{"redis-cli", "-h", n.Addr().String(), "-p", strconv.Itoa(redis.Port), "TIME"}
			},
		},
		{
			name: "postgres",
			new:  func() (clockTarget, error) { return postgres.New("", map[string]string{"replication": "async"}) },
			now: func(n node.Node) []string {
				return []string{"psql", "-h", n.Addr().String(), "-p", strconv.Itoa(postgres.Port), "-U", "postgres", "-Atc",
					"select extract(epoch from clock_timestamp())"}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
			defer cancel()
			target, err := tc.new()
			if err != nil {
				t.Fatal(err)
			}
			n := startOneNode(ctx, t, cli, tc.name, target)
			cn := n.(node.Clock)
			// serverSkew is the server's clock minus the host's, to about
			// the exec's latency.
			serverSkew := func() time.Duration {
				t.Helper()
				before := time.Now()
				res, err := n.Exec(ctx, tc.now(n)...)
				if err != nil {
					t.Fatalf("%v: %v", tc.now(n), err)
				}
				mid := before.Add(time.Since(before) / 2)
				// Redis answers seconds and microseconds on two lines,
				// PostgreSQL fractional seconds.
				var secs float64
				for i, f := range strings.Fields(string(res.Stdout)) {
					v, err := strconv.ParseFloat(f, 64)
					if err != nil || i > 1 {
						t.Fatalf("server time %q: %v", res.Stdout, err)
					}
					secs += v * math.Pow(1e-6, float64(i))
				}
				whole, frac := math.Modf(secs)
				return time.Unix(int64(whole), int64(frac*1e9)).Sub(mid)
			}
			// The exec's own latency is well under the tolerance.
			const tol = 2 * time.Second
			if d := serverSkew(); d < -tol || d > tol {
				t.Fatalf("before any fault the server is off by %v", d)
			}
			for _, off := range []time.Duration{3 * time.Minute, -90 * time.Second, 0} {
				if err := cn.SetClockOffset(ctx, off); err != nil {
					t.Fatal(err)
				}
				if d := serverSkew(); d < off-tol || d > off+tol {
					t.Errorf("offset %v: the server's clock is off by %v", off, d)
				} else {
					t.Logf("offset %v: the server's clock is off by %v", off, d.Round(time.Millisecond))
				}
			}
		})
	}
}
