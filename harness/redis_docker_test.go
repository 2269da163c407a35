package harness

import (
	"context"
	"testing"
	"time"

	"github.com/faultline/faultline/harness/docker/dockerenv"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/models/sets"
	"github.com/faultline/faultline/nuker"
)

// redisSpec is a short Redis run for the test suite.
func redisSpec(t *testing.T, name, workload string, opts map[string]string, nemesis ...string) Spec {
	t.Helper()
	return targetSpec(t, "redis", name, workload, opts, nemesis...)
}

// TestRedis runs Redis settings that must come out valid and settings
// Redis documents as weaker, which must show their anomaly.
//
//   - failover=none, reads from the primary: n1 serves every read and write,
//     replicas never answer a client nor get promoted, and a SIGKILL keeps
//     the page cache (the append-only file is written before the reply), so
//     kills and pauses make n1 unavailable but never inconsistent.
//   - Sentinel under a "primaries" partition: the old primary keeps
//     acknowledging the writes of the clients on its side while the majority
//     promotes a replica; when the partition heals it is turned into a
//     replica and those writes are gone (Redis: "always a window for losing
//     acknowledged writes").
//   - replica-reads=true: a replica cut off from the primary keeps serving
//     its old data (replica-serve-stale-data), so reads are stale.
//   - the lock under the same partition: both primaries grant it, so two
//     clients hold it at once.
//   - Redlock under a clock strobe: Redis expires keys by its wall clock,
//     so a majority whose clocks jump past the lock's TTL drops the lock
//     while its holder still holds it, and another client takes it.
func TestRedis(t *testing.T) {
	t.Parallel() // two target runs at once keep CI short; each has its own cluster
	dockerenv.NeedDocker(t)
	if testenv.Short() {
		t.Skip("long Docker runs skipped with -short")
	}
	tests := []struct {
		name       string
		spec       func(t *testing.T) Spec
		want       models.Verdict
		partitions []string
	}{
		{"fixed-primary-valid", func(t *testing.T) Spec {
			s := redisSpec(t, "redis-fixed-primary", "register", map[string]string{"failover": "none"}, "partition", "kill", "pause")
			s.NemesisInterval = Duration(4 * time.Second)
			return s
		}, models.Valid, nil},
		{"sentinel-loses-writes", func(t *testing.T) Spec {
			s := redisSpec(t, "redis-sentinel-primaries", "register", nil, "partition")
			s.NemesisInterval = Duration(8 * time.Second)
			s.TimeLimit = Duration(40 * time.Second)
			return s
		}, models.Invalid, []string{"primaries"}},
		{"replica-reads-stale", func(t *testing.T) Spec {
			return redisSpec(t, "redis-replica-reads", "register", map[string]string{"failover": "none", "replica-reads": "true"}, "partition")
		}, models.Invalid, []string{"one"}},
		{"lock-two-holders", func(t *testing.T) Spec {
			s := redisSpec(t, "redis-lock-primaries", "lock", nil, "partition")
			s.NemesisInterval = Duration(8 * time.Second)
			s.TimeLimit = Duration(40 * time.Second)
			return s
		}, models.Invalid, []string{"primaries"}},
		{"redlock-clock-two-holders", func(t *testing.T) Spec {
			s := redisSpec(t, "redlock-clock", "lock", map[string]string{"mode": "redlock"}, "clock")
			s.Nodes = 5
			// Three of five flip between their true clock and 10 s ahead
			// (twice the lock TTL) every 100 ms, twice.
			majority := []string{"n1", "n2", "n3"}
			strobe := nuker.Step{Fault: nuker.FaultClock, Targets: "majority", Nodes: majority, Clock: &nuker.ClockPlan{
				Kind: nuker.ClockStrobe, OffsetsMS: map[string]int64{"n1": 10000, "n2": 10000, "n3": 10000}, PeriodMS: 100,
			}}
			s.Schedule = []nuker.Step{strobe, strobe}
			return s
		}, models.Invalid, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := tt.spec(t)
			spec.Partitions = tt.partitions
			start := time.Now()
			out, err := Run(context.Background(), spec, testOptions(t))
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			res := out.Results
			t.Logf("%s after %s: %s (%s), %d ops", tt.name, time.Since(start).Round(time.Second), res.Verdict, res.Reason, res.Stats.Ops)
			if res.Verdict != tt.want {
				t.Fatalf("verdict %s (%s), want %s; report %s", res.Verdict, res.Reason, tt.want, out.Dir)
			}
			if res.Stats.Ops < 100 {
				t.Errorf("only %d client ops", res.Stats.Ops)
			}
			for _, r := range res.Results {
				for _, a := range r.Anomalies {
					t.Logf("anomaly: %s: %s", a.Kind, a.Explanation)
				}
			}
		})
	}
}

// TestRedisPowerFailure: the disk fault chain end to end on a real system.
// With failover=none n1 is the only primary; a power failure of n1 drops
// what its append-only file had not fsynced. appendfsync=everysec fsyncs
// once a second, so the adds of the last moments before the power failure
// are acknowledged and gone after the restart (Redis documents "you may
// lose 1 second of data"): the set checker names them
// lost-after-power-failure. appendfsync=always fsyncs before it answers:
// nothing acknowledged is lost.
func TestRedisPowerFailure(t *testing.T) {
	t.Parallel() // two target runs at once keep CI short; each has its own cluster
	tests := []struct {
		fsync string
		want  models.Verdict
	}{
		{"everysec", models.Invalid},
		{"always", models.Valid},
	}
	for _, tt := range tests {
		t.Run(tt.fsync, func(t *testing.T) {
			s := redisSpec(t, "redis-power-"+tt.fsync, "set", map[string]string{"failover": "none", "appendfsync": tt.fsync}, "power")
			s.Nodes = 3
			s.TimeLimit = Duration(20 * time.Second)
			s.FaultSchedule = "mix:power/primaries@interval=4s,quiet=6s"
			out, ops := runTarget(t, s, "redis.log")
			if len(history.FaultWindows(ops)) == 0 {
				t.Fatalf("no power failure in 20 s; report %s", out.Dir)
			}
			if out.Results.Verdict != tt.want {
				t.Fatalf("verdict %s (%s), want %s; report %s", out.Results.Verdict, out.Results.Reason, tt.want, out.Dir)
			}
			for _, r := range out.Results.Results {
				if r.Checker != sets.Name {
					continue
				}
				t.Logf("set: stats %v", r.Stats)
				if tt.want == models.Invalid && (r.Stats["lost_after_power_failure"] == 0 || r.Stats["lost_after_power_failure"] != r.Stats["lost"]) {
					t.Errorf("stats %v: want every lost add named lost-after-power-failure", r.Stats)
				}
			}
		})
	}
}
