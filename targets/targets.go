// Package targets says what a system under test is to faultline: the
// Target interface, its optional capabilities, and a Resolver that turns
// names into values. Each shipped system lives in its own sub-package
// (targets/etcd, ...); targets/catalog names them. A user's own system is
// any value of their own type that implements Target.
package targets

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/models/netstats"
	"github.com/faultline/faultline/nuker"
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
	// Target's Start, Kill, Pause and Resume act on the system's process
	// on one node; the nuker uses them for kill and pause faults.
	nuker.Target
	// LogFiles are the paths on every node to keep with the run.
	LogFiles() []string
	// NewClient opens a client for one worker, talking to node n only.
	NewClient(ctx context.Context, n node.Node) (workloads.Client, error)
}

// DataDirer is a Target that keeps its durable state in directories of its
// nodes: absolute paths, the same on every node, that exist or may be
// created before Setup. Disk faults (docs/disk.md) mount faultline's
// filesystem over each one before Setup starts the daemons; a target that is
// not a DataDirer, or returns none, refuses them.
type DataDirer interface {
	DataDirs() []string
}

// MessageCounter is a Target that counts the messages its nodes exchange
// (Maelstrom's network statistics). The harness asks once, after the final
// reads and before the cluster is removed; the samples are deltas per
// node and interval (see netstats.Sample).
type MessageCounter interface {
	Messages(ctx context.Context) (netstats.File, error)
}

// CrashWatcher is a Target that notices when the system fails on its own
// in a way that ends the test: a Maelstrom node program that exits by
// itself, not killed by a fault, as Maelstrom ends a test when a node
// crashes. The harness polls Crashed during the run phase; the first
// error stops the run, which ends as could-not-run with that one line and
// its history kept.
type CrashWatcher interface {
	Crashed() error
}

// WorkloadFitter is a Target that configures itself for the workload a
// test asks for (the maelstrom target speaks the Maelstrom workload of the
// same name). The harness calls FitWorkload before it checks that the
// target serves the workload, and before Setup.
type WorkloadFitter interface {
	FitWorkload(name string) error
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
// it lists when it is a FaultLimiter, else every known fault, less those
// that need an interface t lacks (failover needs a nuker.Failoverer,
// member a nuker.MemberChanger, power a DataDirer).
func SupportedFaults(t Target) []string {
	var limit []string
	if fl, ok := t.(FaultLimiter); ok {
		limit = fl.Faults()
	}
	var out []string
	for _, f := range nuker.KnownFaults() {
		switch {
		case limit != nil && !slices.Contains(limit, f.Name):
		case !nuker.TargetCan(f.Name, t):
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

// Resolver turns a target's name, release ("" = its default) and options
// into a value: catalog.Default() for the shipped systems; the CLI adds
// target files.
type Resolver interface {
	NewTarget(name, version string, opts map[string]string) (Target, error)
}
