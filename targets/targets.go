// Package targets lists the real systems faultline can test. Each system
// lives in its own sub-package (targets/etcd, ...) and satisfies Target
// structurally; this package only names them and describes their options.
package targets

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/nuker"
	"github.com/faultline/faultline/targets/etcd"
	miniotarget "github.com/faultline/faultline/targets/minio"
	natstarget "github.com/faultline/faultline/targets/nats"
	"github.com/faultline/faultline/targets/postgres"
	"github.com/faultline/faultline/targets/redis"
	zktarget "github.com/faultline/faultline/targets/zookeeper"
	"github.com/faultline/faultline/workloads"
)

// Target is a real system under test, running on a cluster's nodes. A
// target that keeps the controller's own connections open also implements
// io.Closer; the harness closes it when the run ends.
// A target with leaders or primaries also implements nuker.PrimaryLister:
// the harness then records who leads over the run, and the "primaries"
// partition is offered. A leaderless system (MinIO) does not.
type Target interface {
	// Name is the system's name, e.g. "etcd".
	Name() string
	// Version is the release under test.
	Version() string
	// Settings returns the effective target options.
	Settings() map[string]string
	// Software is what every node needs installed.
	Software() (node.Software, error)
	// Workloads lists the workloads the target serves.
	Workloads() []string
	// Setup starts the system on the nodes and waits until it is healthy.
	Setup(ctx context.Context, nodes []node.Node, log *slog.Logger) error
	// WaitHealthy waits until the system serves again after faults.
	WaitHealthy(ctx context.Context, limit time.Duration) error
	// Start, Kill, Pause and Resume act on the system's process on one
	// node; the nuker uses them for kill and pause faults.
	Start(ctx context.Context, n node.Node) error
	Kill(ctx context.Context, n node.Node) error
	Pause(ctx context.Context, n node.Node) error
	Resume(ctx context.Context, n node.Node) error
	// LogFiles are the paths on every node to keep with the run.
	LogFiles() []string
	// NewClient opens a client for one worker, talking to node n only.
	NewClient(ctx context.Context, n node.Node) (workloads.Client, error)
}

// NodeChecker is a Target that runs on some cluster sizes only; the
// harness asks it before any container starts.
type NodeChecker interface {
	// CheckNodes refuses, in one line, a cluster of n nodes.
	CheckNodes(n int) error
}

// FaultLimiter is a Target that supports only some of the nuker's faults.
type FaultLimiter interface {
	// Faults names the faults (nuker.KnownFaults) the target supports.
	Faults() []string
}

// SupportedFaults names the faults t supports, in the nuker's order: those
// it lists when it is a FaultLimiter, else every known fault except
// failover, which needs a nuker.Failoverer.
func SupportedFaults(t Target) []string {
	var limit []string
	if fl, ok := t.(FaultLimiter); ok {
		limit = fl.Faults()
	}
	_, canFailover := t.(nuker.Failoverer)
	var out []string
	for _, f := range nuker.KnownFaults() {
		switch {
		case limit != nil && !slices.Contains(limit, f.Name):
		case f.Name == nuker.FaultFailover && !canFailover:
		default:
			out = append(out, f.Name)
		}
	}
	return out
}

// CheckFaults refuses, in one line, a fault t does not support.
func CheckFaults(t Target, faults []string) error {
	ok := SupportedFaults(t)
	for _, f := range faults {
		if !slices.Contains(ok, f) {
			return fmt.Errorf("target %s does not support fault %s (it supports %s)", t.Name(), f, strings.Join(ok, ", "))
		}
	}
	return nil
}

// Entry describes one target system.
type Entry struct {
	// Summary is one line for `faultline list`.
	Summary string
	// DefaultVersion is the release used when none is asked for.
	DefaultVersion string
	// Options describes each target option.
	Options map[string]string
	// New builds the target for a version ("" for the default) and options.
	New func(version string, opts map[string]string) (Target, error)
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
			New: func(v string, o map[string]string) (Target, error) {
				return etcd.New(v, o)
			},
		},
		"nats": {
			Summary:        "NATS JetStream (nats-server from its Go module): a work-queue stream with a durable pull consumer and a KV bucket, R replicas; options replicas, sync, kv-reads, dedupe",
			DefaultVersion: natstarget.DefaultVersion,
			Options:        natstarget.Options(),
			New: func(v string, o map[string]string) (Target, error) {
				return natstarget.New(v, o)
			},
		},
		"redis": {
			Summary:        "Redis (Debian's redis-server and redis-sentinel): one primary, replicas and a Sentinel per node, or independent masters for Redlock",
			DefaultVersion: redis.DefaultVersion,
			Options:        redis.Options(),
			New: func(v string, o map[string]string) (Target, error) {
				return redis.New(v, o)
			},
		},
		"minio": {
			Summary:        "MinIO distributed mode (from its Go module): one erasure set, one drive per node (4 nodes: EC:2), no primary; register by conditional PUT (If-Match), set by one object per element and listing; option parity",
			DefaultVersion: miniotarget.DefaultVersion,
			Options:        miniotarget.Options(),
			New: func(v string, o map[string]string) (Target, error) {
				return miniotarget.New(v, o)
			},
		},
		"postgres": {
			Summary:        "PostgreSQL primary with streaming standbys (Debian postgresql-15), failover by promoting the most advanced standby; options replication, synchronous-commit, isolation, read-from",
			DefaultVersion: postgres.DefaultVersion,
			Options:        postgres.Options(),
			New: func(v string, o map[string]string) (Target, error) {
				return postgres.New(v, o)
			},
		},
		"zookeeper": {
			Summary:        "ZooKeeper 3.8 ensemble (Debian's zookeeper package, JVM): register on versioned znodes, set as children, lock by ephemeral sequential znodes; option reads=plain|sync",
			DefaultVersion: zktarget.DefaultVersion,
			Options:        zktarget.Options(),
			New: func(v string, o map[string]string) (Target, error) {
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
