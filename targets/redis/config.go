package redis

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/faultline/faultline/harness/node"
)

// DefaultVersion is the Redis release faultline tests: Debian bookworm's
// redis-server and redis-sentinel packages (7.0.15 when this was written).
// Debian packages are not versioned by faultline, so it is the only one.
const DefaultVersion = "7.0"

// Ports and names.
const (
	Port         = 6379
	SentinelPort = 26379
	// MasterName is the name Sentinel monitors the primary under.
	MasterName = "mymaster"
	// Dir holds the configs (Redis and Sentinel rewrite them) and data.
	Dir     = "/var/lib/faultline-redis"
	DataDir = Dir + "/data"
)

// Timings Sentinel runs with: fast enough for failovers within a
// 10 s nuker interval, as in the facts file.
const (
	downAfterMS       = 2000
	failoverTimeoutMS = 10000
)

// Option values.
const (
	ModeSentinel = "sentinel"
	ModeRedlock  = "redlock"

	FailoverSentinel = "sentinel"
	FailoverNone     = "none"
)

// Settings are the target's knobs (--target-opt), parsed and checked.
type Settings struct {
	// Mode is sentinel (one primary, replicas) or redlock (independent
	// masters, lock workload only).
	Mode string
	// Failover is sentinel (a Sentinel on every node) or none (a fixed
	// primary, n1).
	Failover string
	// Wait is the number of replicas WAIT asks for after each write; 0
	// sends no WAIT.
	Wait int
	// MinReplicasToWrite and MinReplicasMaxLag are the primary's
	// min-replicas-to-write and min-replicas-max-lag.
	MinReplicasToWrite int
	MinReplicasMaxLag  int
	// AppendFsync is always, everysec or no.
	AppendFsync string
	// ReplicaReads reads from the worker's own node (possibly a replica)
	// instead of the primary.
	ReplicaReads bool
}

// Options lists the target options with one line each, for `faultline
// list` and validation.
func Options() map[string]string {
	return map[string]string{
		"mode":                  "sentinel (default: one primary, N-1 replicas) or redlock (N independent masters; lock workload only, via redsync)",
		"failover":              "sentinel (default: a Sentinel on every node fails the primary over) or none (n1 stays the primary)",
		"wait":                  "n: send WAIT n after each write (default 0); fewer acknowledgements than asked make the write indeterminate",
		"min-replicas-to-write": "n: the primary refuses writes (NOREPLICAS) with fewer than n replicas lagging at most min-replicas-max-lag (default 0)",
		"min-replicas-max-lag":  "seconds a replica may lag and still count for min-replicas-to-write (default 10)",
		"appendfsync":           "always, everysec (default) or no: when the append-only file is fsynced",
		"replica-reads":         "true: reads go to the worker's own node, possibly a stale replica; false (default): reads go to the primary",
	}
}

// ParseSettings checks opts against Options and returns the settings;
// an unknown knob or a bad value is refused in one line.
func ParseSettings(opts map[string]string) (Settings, error) {
	s := Settings{Mode: ModeSentinel, Failover: FailoverSentinel, MinReplicasMaxLag: 10, AppendFsync: "everysec"}
	known := Options()
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the first error is the same every time
	for _, k := range keys {
		v := opts[k]
		var err error
		switch k {
		case "mode":
			s.Mode, err = oneOf(v, ModeSentinel, ModeRedlock)
		case "failover":
			s.Failover, err = oneOf(v, FailoverSentinel, FailoverNone)
		case "wait":
			s.Wait, err = count(v)
		case "min-replicas-to-write":
			s.MinReplicasToWrite, err = count(v)
		case "min-replicas-max-lag":
			s.MinReplicasMaxLag, err = count(v)
		case "appendfsync":
			s.AppendFsync, err = oneOf(v, "always", "everysec", "no")
		case "replica-reads":
			s.ReplicaReads, err = strconv.ParseBool(v)
			if err != nil {
				err = fmt.Errorf("must be true or false")
			}
		default:
			names := make([]string, 0, len(known))
			for n := range known {
				names = append(names, n)
			}
			sort.Strings(names)
			return Settings{}, fmt.Errorf("redis: unknown option %q (known: %s)", k, strings.Join(names, ", "))
		}
		if err != nil {
			return Settings{}, fmt.Errorf("redis: option %s=%q: %w", k, v, err)
		}
	}
	if s.Mode == ModeRedlock {
		// Independent masters have no replicas and no Sentinel: knobs
		// about either would silently mean nothing.
		if v, ok := opts["failover"]; ok && v != FailoverNone {
			return Settings{}, fmt.Errorf("redis: mode=redlock runs independent masters: failover=%s makes no sense there", v)
		}
		s.Failover = FailoverNone
		for _, k := range []string{"wait", "min-replicas-to-write", "replica-reads"} {
			if _, ok := opts[k]; ok {
				return Settings{}, fmt.Errorf("redis: mode=redlock runs independent masters without replicas: option %s does not apply", k)
			}
		}
	}
	return s, nil
}

// Map is the effective settings as options.
func (s Settings) Map() map[string]string {
	m := map[string]string{"mode": s.Mode, "failover": s.Failover, "appendfsync": s.AppendFsync}
	if s.Mode == ModeSentinel {
		m["wait"] = strconv.Itoa(s.Wait)
		m["min-replicas-to-write"] = strconv.Itoa(s.MinReplicasToWrite)
		m["min-replicas-max-lag"] = strconv.Itoa(s.MinReplicasMaxLag)
		m["replica-reads"] = strconv.FormatBool(s.ReplicaReads)
	}
	return m
}

func oneOf(v string, allowed ...string) (string, error) {
	if slices.Contains(allowed, v) {
		return v, nil
	}
	return "", fmt.Errorf("must be %s", strings.Join(allowed, ", "))
}

func count(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("must be a whole number >= 0")
	}
	return n, nil
}

// Software is what a Redis node needs: Debian's packages, added to the base
// image (their recipe hash is the base image's, so it is built once).
func Software(version string) (node.Software, error) {
	if version != "" && version != DefaultVersion {
		return node.Software{}, fmt.Errorf("redis version %q: faultline runs Debian bookworm's Redis, %s", version, DefaultVersion)
	}
	return node.Software{Name: "redis", Packages: []string{"redis-server", "redis-sentinel"}}, nil
}

// redisConfig renders redis.conf for a node at ip; primary is the address
// it replicates from ("" for a master).
func redisConfig(s Settings, ip, primary string) string {
	var b strings.Builder
	line := func(f string, a ...any) { fmt.Fprintf(&b, f+"\n", a...) }
	line("# written by faultline; Redis and Sentinel may rewrite it (CONFIG REWRITE)")
	// Debian's own config daemonizes, logs to a file and binds 127.0.0.1.
	line("bind 0.0.0.0")
	line("port %d", Port)
	line("protected-mode no")
	line("daemonize no")
	line("supervised no")
	line(`logfile ""`)
	line("loglevel notice")
	line("dir %s", DataDir)
	line(`save ""`)
	line("appendonly yes")
	line("appendfsync %s", s.AppendFsync)
	line("repl-diskless-sync yes")
	line("repl-diskless-sync-delay 0")
	// Notice a dead link within seconds, not the default minute.
	line("repl-ping-replica-period 1")
	line("repl-timeout 5")
	line("replica-announce-ip %s", ip)
	line("replica-announce-port %d", Port)
	line("replica-serve-stale-data yes")
	line("replica-read-only yes")
	line("min-replicas-to-write %d", s.MinReplicasToWrite)
	line("min-replicas-max-lag %d", s.MinReplicasMaxLag)
	if primary != "" {
		line("replicaof %s %d", primary, Port)
	}
	return b.String()
}

// sentinelID is node name's Sentinel run id for a run: fixed in every
// config, so each Sentinel knows its peers from the start instead of
// waiting for their hello messages.
func sentinelID(token, name string) string {
	sum := sha1.Sum([]byte(token + "/" + name))
	return hex.EncodeToString(sum[:])
}

// peer is a node as the configs see it.
type peer struct {
	name, ip string
}

// sentinelConfig renders sentinel.conf for the node self of the cluster
// peers, monitoring the primary with a majority quorum.
func sentinelConfig(token string, self peer, primary peer, peers []peer) string {
	var b strings.Builder
	line := func(f string, a ...any) { fmt.Fprintf(&b, f+"\n", a...) }
	line("# written by faultline; Sentinel rewrites it")
	line("port %d", SentinelPort)
	line("bind 0.0.0.0")
	line("protected-mode no")
	line("daemonize no")
	line(`logfile ""`)
	line("dir %s", Dir)
	line("sentinel myid %s", sentinelID(token, self.name))
	line("sentinel announce-ip %s", self.ip)
	line("sentinel announce-port %d", SentinelPort)
	line("sentinel resolve-hostnames no")
	line("sentinel monitor %s %s %d %d", MasterName, primary.ip, Port, len(peers)/2+1)
	line("sentinel down-after-milliseconds %s %d", MasterName, downAfterMS)
	line("sentinel failover-timeout %s %d", MasterName, failoverTimeoutMS)
	line("sentinel parallel-syncs %s 1", MasterName)
	for _, p := range peers {
		if p.ip != primary.ip {
			line("sentinel known-replica %s %s %d", MasterName, p.ip, Port)
		}
	}
	for _, p := range peers {
		if p.name != self.name {
			line("sentinel known-sentinel %s %s %d %s", MasterName, p.ip, SentinelPort, sentinelID(token, p.name))
		}
	}
	return b.String()
}
