// Package minio is faultline's MinIO target: MinIO in distributed mode,
// one erasure set of N nodes with one drive each (2 to 16 nodes; 4 is the
// shape faultline studies: parity EC:2, read quorum 2, write quorum 3),
// built from the MinIO Go module. MinIO is leaderless: every node serves
// every request, objects are erasure-coded across all drives, and writes
// to one object are serialized by dsync locks held by a quorum of nodes.
// Every worker's client talks to its own node only, as Jepsen's do.
//
// The register workload keeps one object per key and does compare-and-set
// with conditional PUTs (If-Match on the ETag of the expected value); the
// set workload puts one object per element (If-None-Match: *) and reads a
// set by listing its prefix, which tests MinIO's list-after-write promise.
package minio

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/workloads"
)

// Target is a MinIO cluster in distributed mode.
type Target struct {
	version      string
	set          settings
	nodes        []node.Node
	node.Daemons // minio server per node: Start, Kill, Pause, Resume
	log          *slog.Logger
	http         *http.Client
}

// New returns a MinIO target of the given version ("" = DefaultVersion)
// with the given options (see Options).
func New(version string, opts map[string]string) (*Target, error) {
	if version == "" {
		version = DefaultVersion
	}
	if _, err := Software(version); err != nil {
		return nil, err
	}
	s, err := parseOptions(opts)
	if err != nil {
		return nil, err
	}
	return &Target{
		version: version, set: s,
		Daemons: node.Daemons{System: "minio", ByNode: map[string]node.Daemon{}},
		log:     slog.Default(),
		http:    &http.Client{Timeout: 2 * time.Second},
	}, nil
}

// Name implements targets.Target.
func (t *Target) Name() string { return "minio" }

// Version is the MinIO build (a Go pseudo-version) this target runs.
func (t *Target) Version() string { return t.version }

// Settings returns the effective options.
func (t *Target) Settings() map[string]string { return t.set.values() }

// Software is what every node needs installed.
func (t *Target) Software() (node.Software, error) { return Software(t.version) }

// Workloads lists the workloads MinIO serves.
func (t *Target) Workloads() []string { return []string{"register", "set"} }

// Faults lists the faults MinIO supports: all but failover, as there is no
// primary to replace. Clock faults reach the minio process through its pid
// file like any node.Daemon; MinIO refuses requests whose signed time is
// more than 15 minutes from its clock (RequestTimeTooSkewed, a definite
// 403), and its nodes authenticate each other with tokens that expire.
func (t *Target) Faults() []string {
	return []string{"partition", "kill", "pause", "clock", "packet", "power", "delay", "disk-full", "disk-error", "slow-disk", "corrupt"}
}

// DataDirs implements targets.DataDirer: the node's one drive.
func (t *Target) DataDirs() []string { return []string{dataDir} }

// LogFiles are the files on each node worth keeping.
func (t *Target) LogFiles() []string { return []string{node.Daemon{Name: daemonName}.LogPath()} }

// daemonName names the minio server process on every node.
const daemonName = "minio"

// daemon is the minio server of the node at self, run in the foreground.
func (s settings) daemon(self netip.Addr, peers []netip.Addr) node.Daemon {
	return node.Daemon{Name: daemonName, Dir: dataDir, Argv: argv(self, peers), Env: s.env()}
}

// Setup starts minio on every node, waits until every node reports write
// quorum, creates the bucket and waits again.
func (t *Target) Setup(ctx context.Context, nodes []node.Node, log *slog.Logger) error {
	if log != nil {
		t.log = log
	}
	if err := t.set.checkCluster(len(nodes)); err != nil {
		return err
	}
	t.nodes = nodes
	peers := make([]netip.Addr, len(nodes))
	for i, n := range nodes {
		peers[i] = n.Addr()
	}
	for _, n := range nodes {
		t.ByNode[n.Name()] = t.set.daemon(n.Addr(), peers) // here: the map is not written concurrently
	}
	start := time.Now()
	if err := node.Each(nodes, func(n node.Node) error { return t.Start(ctx, n) }); err != nil {
		return err
	}
	if err := t.WaitHealthy(ctx, 2*time.Minute); err != nil {
		return err
	}
	read, write := Quorums(len(nodes), t.set.parity)
	t.log.Info("minio: cluster healthy", "nodes", len(nodes), "read_quorum", read, "write_quorum", write, "after", time.Since(start).Round(time.Millisecond))
	if err := node.Poll(ctx, time.Minute, "minio bucket "+Bucket, t.log, t.makeBucket); err != nil {
		return err
	}
	return t.WaitHealthy(ctx, time.Minute)
}

// makeBucket creates the bucket through the first node; one that exists
// already (an earlier attempt whose answer was lost) is fine.
func (t *Target) makeBucket(ctx context.Context) error {
	if err := prepare(ctx, netip.AddrPortFrom(t.nodes[0].Addr(), Port).String(), defaultS3()); err != nil {
		return fmt.Errorf("%s: %w", t.nodes[0].Name(), err)
	}
	return nil
}

// WaitHealthy polls, with backoff, until every node says its erasure set
// has write quorum (/minio/health/cluster answers 200), or the limit passes.
func (t *Target) WaitHealthy(ctx context.Context, limit time.Duration) error {
	return node.Poll(ctx, limit, "minio health", t.log, func(ctx context.Context) error {
		return node.Each(t.nodes, func(n node.Node) error { return t.health(ctx, n, "/minio/health/cluster") })
	})
}

// health asks node n's health endpoint path: 200 is healthy, 503 says the
// node sees no quorum.
func (t *Target) health(ctx context.Context, n node.Node, path string) error {
	url := "http://" + netip.AddrPortFrom(n.Addr(), Port).String() + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", n.Name(), err)
	}
	resp, err := t.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", n.Name(), err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: GET %s: %s", n.Name(), path, resp.Status)
	}
	return nil
}

// CheckNodes implements targets.NodeChecker: one erasure set of 2 to 16
// drives, with the parity asked for.
func (t *Target) CheckNodes(n int) error { return t.set.checkCluster(n) }

// NewClient opens a client pinned to node n, as Dial does for its address.
func (t *Target) NewClient(ctx context.Context, n node.Node) (workloads.Client, error) {
	c, err := newClient(n.Name(), netip.AddrPortFrom(n.Addr(), Port).String(), defaultS3(), t.log)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n.Name(), err)
	}
	return c, nil
}
