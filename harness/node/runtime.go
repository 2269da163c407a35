package node

import (
	"context"

	"github.com/faultline/faultline/models/resources"
)

// Runtime is where a run's nodes live: Docker containers today
// (harness/docker), real machines over SSH later. The run lifecycle talks
// only to this interface, so a second runtime needs no change to targets,
// faults or the harness.
type Runtime interface {
	// CheckHost checks what this machine itself needs for the faults'
	// mechanisms (the clock injector), before anything is stored or built.
	CheckHost(ctx context.Context, needs Needs, progress Progress) error
	// Install makes sw available to nodes (Docker: builds or reuses the
	// image keyed by its recipe hash).
	Install(ctx context.Context, sw Software, progress Progress) (Installation, error)
	// Preflight checks, before any node starts, that every mechanism the
	// requested faults need works here; it returns one line naming the
	// mechanism and what is missing.
	Preflight(ctx context.Context, runID string, inst Installation, needs Needs, progress Progress) error
	// StartCluster starts n nodes, n1..nN, labelled with runID, with inst
	// installed, and returns once they can run commands.
	StartCluster(ctx context.Context, runID string, inst Installation, n int) (RunningCluster, error)
}

// Installation is what Install made.
type Installation struct {
	// Ref names it for provenance and for StartCluster (Docker: the image
	// reference faultline/<name>:<recipe hash>).
	Ref string
	// Software is what was installed.
	Software Software
}

// RunningCluster is a started cluster the run owns.
type RunningCluster interface {
	Cluster
	// Describe is one line for people: "3 containers on 10.167.199.1".
	Describe() string
	// Remove stops and removes every node and what they share; it must
	// work with a context Ctrl-C did not cancel.
	Remove(ctx context.Context) error
}

// Reacher is a RunningCluster that can tell a person how to reach each of
// its nodes (Docker: the address and a docker exec command), for a
// cluster left running after its run.
type Reacher interface {
	// Reach is one line per node.
	Reach() []string
}

// Needs are the mechanisms the requested faults use on nodes; a runtime
// checks them before a run spends its time on faults that cannot happen.
// Kill, pause and failover use only the target's own process control,
// which the run's setup exercises anyway.
type Needs struct {
	// Iptables is for partitions: iptables in each node's network
	// namespace, with NET_ADMIN.
	Iptables bool
	// Clock is for clock faults: the clock injector and ptrace.
	Clock bool
	// Packet is for packet faults: iptables' statistic match and TEE
	// target, and tc with the tbf qdisc, in each node's network namespace.
	Packet bool
	// Disk is for disk faults: faultline's FUSE filesystem mounted over
	// the target's data directories (node.Disker), by a helper holding
	// CAP_SYS_ADMIN and /dev/fuse.
	Disk bool
	// Delay is for delay faults: iptables' NFQUEUE target in each node's
	// network namespace and a packet delayer bound to an nfnetlink queue
	// there.
	Delay bool
}

// Any reports whether anything is needed.
func (n Needs) Any() bool { return n.Iptables || n.Clock || n.Packet || n.Disk || n.Delay }

// ResourceReader is a RunningCluster that can read what its nodes use
// (CPU, memory, network, block I/O counters), for the report's resource
// charts. Docker reads its stats API; the SSH runtime does not yet (it
// would read /proc and /sys/fs/cgroup on each machine).
type ResourceReader interface {
	// ReadResources returns one sample per node, At set; a node whose
	// counters could not be read has Error set. Source names where the
	// counters come from, for the stored file.
	ReadResources(ctx context.Context) []resources.Sample
	ResourceSource() string
}

// Disker is a Node that can mount faultline's disk-fault filesystem
// (nuker/disk, docs/disk.md) over one of its directories and drive it.
type Disker interface {
	// MountDisk mounts the filesystem over dir (absolute; created when
	// missing) before the daemon that uses it starts; dirs makes directory
	// entries durable only by fsync of their directory.
	MountDisk(ctx context.Context, dir string, dirs bool) error
	// Disk sends one control command (e.g. "power-fail", "clear") and
	// returns the answer.
	Disk(ctx context.Context, command string) (string, error)
	// UnmountDisk unmounts it; without a mount it does nothing.
	UnmountDisk(ctx context.Context) error
}
