package redis

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/faultline/faultline/workloads"
)

// DialOptions describes the options Dial takes.
func DialOptions() map[string]string {
	return map[string]string{
		"wait":     Options()["wait"],
		"sentinel": "a master name: addr is a Redis Sentinel, and commands go to the primary it names under that name, following failovers; default: addr is the Redis server itself",
	}
}

// DialWorkloads names the workloads a Client serves on one server (or one
// Sentinel's primary); Redlock is the target's own (mode=redlock).
func DialWorkloads() []string { return []string{"counter", "lock", "register", "set"} }

// clientConfig says where a Client sends its commands.
type clientConfig struct {
	// addr is the server writes go to, or with master set a Sentinel.
	addr string
	// master is the name the Sentinel at addr knows the primary by; ""
	// when addr is the server.
	master string
	// readAddr is the server reads go to; "" reads where writes go.
	readAddr string
	// wait is the number of replicas WAIT asks for after each write.
	wait int
	// id prefixes the client's lock owner values.
	id string
}

// parseDialOptions checks opts against DialOptions for a client of the
// server (or Sentinel) at addr; an unknown option or a bad value is refused
// in one line.
func parseDialOptions(addr string, opts map[string]string) (clientConfig, error) {
	cfg := clientConfig{addr: addr, id: addr}
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the first error is the same every time
	for _, k := range keys {
		v := opts[k]
		switch k {
		case "wait":
			n, err := count(v)
			if err != nil {
				return clientConfig{}, fmt.Errorf("redis: option wait=%q: %w", v, err)
			}
			cfg.wait = n
		case "sentinel":
			if strings.TrimSpace(v) == "" {
				return clientConfig{}, fmt.Errorf("redis: option sentinel=%q: must name the master Sentinel monitors", v)
			}
			cfg.master = v
		default:
			known := make([]string, 0, len(DialOptions()))
			for n := range DialOptions() {
				known = append(known, n)
			}
			sort.Strings(known)
			return clientConfig{}, fmt.Errorf("redis: unknown option %q (known: %s)", k, strings.Join(known, ", "))
		}
	}
	return cfg, nil
}

// Dial opens a client that speaks RESP to the Redis server at addr
// (host:port), or with option sentinel to the primary the Sentinel at addr
// names: the client protocol apart from faultline's own Redis deployment,
// for any server that speaks it. Nothing is sent until the first op.
func Dial(ctx context.Context, addr string, opts map[string]string) (workloads.Client, error) {
	cfg, err := parseDialOptions(addr, opts)
	if err != nil {
		return nil, err
	}
	// go-redis logs Sentinel discoveries to stderr through a logger of its
	// own, process-wide: the same quiet one New sets.
	goredis.SetLogger(debugLogger{})
	return newClient(cfg), nil
}

// newClient is the one constructor of Client, for NewClient and Dial: no
// retries (they would re-send writes), the op's context bounding every
// command.
func newClient(cfg clientConfig) *Client {
	var w *goredis.Client
	if cfg.master != "" {
		// This Sentinel only: go-redis adds the peers it discovers and
		// asks them when this one fails.
		w = goredis.NewFailoverClient(&goredis.FailoverOptions{
			MasterName:            cfg.master,
			SentinelAddrs:         []string{cfg.addr},
			Protocol:              2,
			DisableIdentity:       true,
			MaxRetries:            -1,
			DialerRetries:         1,
			DialTimeout:           time.Second,
			ReadTimeout:           5 * time.Second,
			WriteTimeout:          5 * time.Second,
			ContextTimeoutEnabled: true,
			PoolSize:              2,
			PoolTimeout:           time.Second,
		})
	} else {
		w = goredis.NewClient(clientOptions(cfg.addr))
	}
	c := &Client{w: w, r: w, wait: cfg.wait, id: fmt.Sprintf("%s-%p", cfg.id, w), owned: map[string]string{}}
	if cfg.readAddr != "" {
		c.r = goredis.NewClient(clientOptions(cfg.readAddr))
	}
	return c
}
