package nats

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Ports nats-server listens on.
const (
	ClientPort  = 4222
	ClusterPort = 6222
	HTTPPort    = 8222
)

// Paths on a node.
const (
	confPath = "/etc/nats/nats-server.conf"
	storeDir = "/var/lib/nats/jetstream"
)

// Values of the kv-reads and sync options.
const (
	ReadsDirect = "direct"
	ReadsLeader = "leader"
	SyncAlways  = "always"
)

// settings are the target options, parsed.
type settings struct {
	replicas int
	sync     string        // "always" or a Go duration string
	kvReads  string        // direct or leader
	dedupe   time.Duration // the queue stream's duplicate window
}

func defaultSettings() settings {
	// NATS's own defaults: fsync every 2 minutes, direct KV reads, a
	// 2-minute duplicate window; R3 as the docs recommend.
	return settings{replicas: 3, sync: "2m", kvReads: ReadsDirect, dedupe: 2 * time.Minute}
}

// Options lists the target options, with their meaning, for `faultline
// list` and validation.
func Options() map[string]string {
	return map[string]string{
		"replicas": "1, 3 (default) or 5: replicas of the queue stream, its consumer and the KV bucket",
		"sync":     "always (fsync each write) or an interval such as 2m (the default, NATS's own): JetStream's sync_interval",
		"kv-reads": "direct (default: any replica answers, NATS documents them as not read-after-write) or leader (AllowDirect=false: the stream leader answers)",
		"dedupe":   "the queue stream's duplicate window for Nats-Msg-Id, e.g. 2m (the default)",
	}
}

// parseOptions validates opts into settings; an unknown option or a bad
// value is refused in one line.
func parseOptions(opts map[string]string) (settings, error) {
	s := defaultSettings()
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the same error for the same options
	for _, k := range keys {
		v := opts[k]
		switch k {
		case "replicas":
			n, err := strconv.Atoi(v)
			if err != nil || !slices.Contains([]int{1, 3, 5}, n) {
				return s, fmt.Errorf("nats: option replicas=%q: must be 1, 3 or 5", v)
			}
			s.replicas = n
		case "sync":
			if v != SyncAlways {
				d, err := time.ParseDuration(v)
				if err != nil || d <= 0 {
					return s, fmt.Errorf("nats: option sync=%q: must be %s or a positive interval such as 2m", v, SyncAlways)
				}
			}
			s.sync = v
		case "kv-reads":
			if v != ReadsDirect && v != ReadsLeader {
				return s, fmt.Errorf("nats: option kv-reads=%q: must be %s or %s", v, ReadsDirect, ReadsLeader)
			}
			s.kvReads = v
		case "dedupe":
			d, err := time.ParseDuration(v)
			if err != nil || d < 100*time.Millisecond {
				return s, fmt.Errorf("nats: option dedupe=%q: must be a window of at least 100ms, such as 2m", v)
			}
			s.dedupe = d
		default:
			return s, fmt.Errorf("nats: unknown option %q (known: dedupe, kv-reads, replicas, sync)", k)
		}
	}
	return s, nil
}

// values returns the settings as option strings.
func (s settings) values() map[string]string {
	return map[string]string{
		"replicas": strconv.Itoa(s.replicas),
		"sync":     s.sync,
		"kv-reads": s.kvReads,
		"dedupe":   s.dedupe.String(),
	}
}

// renderConfig writes one node's nats-server.conf: JetStream on, a cluster
// route to every peer by IP (its own included: nats-server ignores a route
// to itself), and no advertising of peers to clients, so a client stays on
// the node it was given.
func renderConfig(name string, peers []netip.Addr, sync string) string {
	var routes []string
	for _, p := range peers {
		routes = append(routes, fmt.Sprintf("    nats-route://%s", netip.AddrPortFrom(p, ClusterPort)))
	}
	return fmt.Sprintf(`# written by faultline
server_name: %q
listen: "0.0.0.0:%d"
http: "0.0.0.0:%d"
server_tags: ["node:%s"]

jetstream {
  store_dir: %q
  max_memory_store: 64MB
  max_file_store: 1GB
  sync_interval: %s
}

cluster {
  name: "faultline"
  listen: "0.0.0.0:%d"
  no_advertise: true
  routes: [
%s
  ]
}
`, name, ClientPort, HTTPPort, name, storeDir, sync, ClusterPort, strings.Join(routes, "\n"))
}
