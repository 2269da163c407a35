// Package catalog names the systems faultline ships (etcd, NATS, Redis,
// MinIO, PostgreSQL, ZooKeeper) and the maelstrom target (a user's own
// Maelstrom node), and describes their options. It is the
// edge where names become values: the CLI and suite files resolve through
// it; the harness itself runs any targets.Target and imports none of them.
package catalog

import (
	"fmt"
	"sort"

	"github.com/faultline/faultline/targets"
	"github.com/faultline/faultline/targets/etcd"
	"github.com/faultline/faultline/targets/maelstrom"
	miniotarget "github.com/faultline/faultline/targets/minio"
	natstarget "github.com/faultline/faultline/targets/nats"
	"github.com/faultline/faultline/targets/postgres"
	"github.com/faultline/faultline/targets/redis"
	zktarget "github.com/faultline/faultline/targets/zookeeper"
)

var _ targets.Resolver = Catalog(nil)

// Entry describes one target system.
type Entry struct {
	// Summary is one line for `faultline list`.
	Summary string
	// DefaultVersion is the release used when none is asked for.
	DefaultVersion string
	// Options describes each target option.
	Options map[string]string
	// New builds the target for a version ("" for the default) and options.
	New func(version string, opts map[string]string) (targets.Target, error)
}

// Catalog maps target names to their entries.
type Catalog map[string]Entry

// Default returns every target faultline has.
func Default() Catalog {
	return Catalog{
		"etcd": {
			Summary:        "etcd (Raft key-value store), static binary from the etcd server Go module; option read=linearizable|serializable",
			DefaultVersion: etcd.DefaultVersion,
			Options:        etcd.Options(),
			New: func(v string, o map[string]string) (targets.Target, error) {
				return etcd.New(v, o)
			},
		},
		"nats": {
			Summary:        "NATS JetStream (nats-server from its Go module): a work-queue stream with a durable pull consumer and a KV bucket, R replicas; options replicas, sync, kv-reads, dedupe",
			DefaultVersion: natstarget.DefaultVersion,
			Options:        natstarget.Options(),
			New: func(v string, o map[string]string) (targets.Target, error) {
				return natstarget.New(v, o)
			},
		},
		"redis": {
			Summary:        "Redis (Debian's redis-server and redis-sentinel): one primary, replicas and a Sentinel per node, or independent masters for Redlock",
			DefaultVersion: redis.DefaultVersion,
			Options:        redis.Options(),
			New: func(v string, o map[string]string) (targets.Target, error) {
				return redis.New(v, o)
			},
		},
		"minio": {
			Summary:        "MinIO distributed mode (from its Go module): one erasure set, one drive per node (4 nodes: EC:2), no primary; register by conditional PUT (If-Match), set by one object per element and listing; option parity",
			DefaultVersion: miniotarget.DefaultVersion,
			Options:        miniotarget.Options(),
			New: func(v string, o map[string]string) (targets.Target, error) {
				return miniotarget.New(v, o)
			},
		},
		"postgres": {
			Summary:        "PostgreSQL primary with streaming standbys (Debian postgresql-15), failover by promoting the most advanced standby; options replication, synchronous-commit, isolation, read-from",
			DefaultVersion: postgres.DefaultVersion,
			Options:        postgres.Options(),
			New: func(v string, o map[string]string) (targets.Target, error) {
				return postgres.New(v, o)
			},
		},
		"maelstrom": {
			Summary:        "your own node written for Jepsen's Maelstrom (bin=PATH or src=DIR), one per node under a shim: init, real TCP between nodes, clients on port 7000; option workload=lin-kv|broadcast|g-set|g-counter|pn-counter|txn-list-append|txn-rw-register (docs/maelstrom.md)",
			DefaultVersion: maelstrom.Version,
			Options:        maelstrom.Options(),
			New: func(v string, o map[string]string) (targets.Target, error) {
				t, err := maelstrom.New(v, o)
				if err != nil {
					return nil, err // not a typed nil: `list` builds each target without options
				}
				return t, nil
			},
		},
		"zookeeper": {
			Summary:        "ZooKeeper 3.8 ensemble (Debian's zookeeper package, JVM): register on versioned znodes, set as children, lock by ephemeral sequential znodes; option reads=plain|sync",
			DefaultVersion: zktarget.DefaultVersion,
			Options:        zktarget.Options(),
			New: func(v string, o map[string]string) (targets.Target, error) {
				return zktarget.New(v, o)
			},
		},
	}
}

// Lookup returns the target called name.
func (c Catalog) Lookup(name string) (Entry, error) {
	e, ok := c[name]
	if !ok {
		return Entry{}, fmt.Errorf("unknown target %q (known: %v)", name, c.Names())
	}
	return e, nil
}

// Names returns the target names, sorted.
func (c Catalog) Names() []string {
	out := make([]string, 0, len(c))
	for n := range c {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// NewTarget implements targets.Resolver.
func (c Catalog) NewTarget(name, version string, opts map[string]string) (targets.Target, error) {
	e, err := c.Lookup(name)
	if err != nil {
		return nil, err
	}
	return e.New(version, opts)
}
