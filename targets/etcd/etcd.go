// Package etcd is faultline's etcd target: a statically bootstrapped
// N-node etcd cluster built from the etcd server Go module, its health and
// leader, and clients for the register, set and lock workloads that talk to
// one node each, as Jepsen's do, so a partitioned node's clients see what
// that node serves.
package etcd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/workloads"
)

// dataDir is where etcd keeps its data on a node.
const dataDir = "/var/lib/etcd/data"

// Ports etcd listens on.
const (
	ClientPort = 2379
	PeerPort   = 2380
)

// Read consistency modes (target option read=...).
const (
	ReadLinearizable = "linearizable"
	ReadSerializable = "serializable"
)

// Target is an etcd cluster.
type Target struct {
	version      string
	read         string
	nodes        []node.Node
	node.Daemons // the etcd process per node: Start, Kill, Pause, Resume
	log          *slog.Logger
	// token makes the cluster id unique per run.
	token string
	// upgradeTo is the release the upgrade fault moves nodes to
	// (upgrade.go).
	upgradeTo string
	// out are the nodes whose member is removed (member.go), and releases
	// the release each node's process runs when not version (upgrade.go);
	// both guarded by mu.
	mu       sync.Mutex
	out      map[string]bool
	releases map[string]string
}

// Options lists the target options etcd takes, with their meaning, for
// `faultline list` and validation.
func Options() map[string]string {
	return map[string]string{
		"read":       "linearizable (default) or serializable: serializable reads are served from the node's local state and may be stale",
		"upgrade-to": "the release the upgrade fault moves nodes to and back from, one minor version away (default: " + DefaultUpgradeTo(DefaultVersion) + " for " + DefaultVersion + "; a 3.5 cluster goes to " + DefaultVersion + ", a 3.7 cluster down to " + DefaultVersion + ")",
	}
}

// New returns an etcd target of the given version ("" = DefaultVersion)
// with the given options.
func New(version string, opts map[string]string) (*Target, error) {
	if version == "" {
		version = DefaultVersion
	}
	if _, err := Software(version); err != nil {
		return nil, err
	}
	upgradeTo, err := parseUpgradeTo(version, opts["upgrade-to"])
	if err != nil {
		return nil, err
	}
	read, err := parseRead(opts, Options())
	if err != nil {
		return nil, err
	}
	return &Target{version: version, read: read, upgradeTo: upgradeTo,
		Daemons: node.Daemons{System: "etcd", ByNode: map[string]node.Daemon{}}, log: slog.Default()}, nil
}

// parseRead checks opts, whose keys must be among known (the target's
// Options or DialOptions), and returns the read mode; an unknown option or
// a bad value is refused in one line.
func parseRead(opts, known map[string]string) (string, error) {
	read := ReadLinearizable
	for k, v := range opts {
		switch k {
		case "read":
			switch v {
			case ReadLinearizable, ReadSerializable:
				read = v
			default:
				return "", fmt.Errorf("etcd: option read=%q: must be %s or %s", v, ReadLinearizable, ReadSerializable)
			}
		default:
			if _, ok := known[k]; !ok {
				return "", fmt.Errorf("etcd: unknown option %q (known: %s)", k, strings.Join(slices.Sorted(maps.Keys(known)), ", "))
			}
		}
	}
	return read, nil
}

// Name implements targets.Target.
func (t *Target) Name() string { return "etcd" }

// Version is the etcd release this target runs.
func (t *Target) Version() string { return t.version }

// Settings returns the effective options.
func (t *Target) Settings() map[string]string {
	return map[string]string{"read": t.read, "upgrade-to": t.upgradeTo}
}

// Software is what every node needs installed.
func (t *Target) Software() (node.Software, error) { return Software(t.version) }

// Workloads lists the workloads etcd serves.
func (t *Target) Workloads() []string { return DialWorkloads() }

// peerURL is where n's member listens for its peers.
func peerURL(n node.Node) string {
	return "http://" + net.JoinHostPort(n.Addr().String(), fmt.Sprint(PeerPort))
}

// daemon is etcd on n: a member of the cluster named by initial
// (name=peer-URL pairs), new at setup or joining an existing one.
func (t *Target) daemon(n node.Node, initial []string, state string) node.Daemon {
	ip := n.Addr().String()
	return node.Daemon{
		Name: "etcd",
		Dir:  "/var/lib/etcd",
		Argv: []string{
			t.binaryOf(n),
			"--name", n.Name(),
			"--data-dir", dataDir,
			"--listen-client-urls", fmt.Sprintf("http://0.0.0.0:%d", ClientPort),
			"--advertise-client-urls", fmt.Sprintf("http://%s", net.JoinHostPort(ip, fmt.Sprint(ClientPort))),
			"--listen-peer-urls", fmt.Sprintf("http://0.0.0.0:%d", PeerPort),
			"--initial-advertise-peer-urls", peerURL(n),
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-state", state,
			"--initial-cluster-token", t.token,
			"--log-level", "info",
		},
	}
}

// Setup starts etcd on every node and waits until every node agrees on a
// leader and serves a linearizable read.
func (t *Target) Setup(ctx context.Context, nodes []node.Node, log *slog.Logger) error {
	if log != nil {
		t.log = log
	}
	t.nodes = nodes
	t.token = fmt.Sprintf("faultline-%d", time.Now().UnixNano())
	var initial []string
	for _, p := range nodes {
		initial = append(initial, p.Name()+"="+peerURL(p))
	}
	for _, n := range nodes {
		t.ByNode[n.Name()] = t.daemon(n, initial, "new")
	}
	if err := node.Each(nodes, func(n node.Node) error { return t.Start(ctx, n) }); err != nil {
		return err
	}
	return t.WaitHealthy(ctx, 60*time.Second)
}

// WaitHealthy polls every node, with backoff, until all report the same
// leader and answer a linearizable read, or the limit passes.
func (t *Target) WaitHealthy(ctx context.Context, limit time.Duration) error {
	return node.Poll(ctx, limit, "etcd health", t.log, t.healthy)
}

func (t *Target) healthy(ctx context.Context) error {
	leaders := make([]uint64, len(t.nodes))
	err := node.Each(t.nodes, func(n node.Node) error {
		cli, err := t.dial(n, 2*time.Second)
		if err != nil {
			return err
		}
		defer cli.Close()
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		st, err := cli.Status(cctx, endpoint(n))
		if err != nil {
			return fmt.Errorf("%s: status: %w", n.Name(), err)
		}
		if st.Leader == 0 {
			return fmt.Errorf("%s: no leader", n.Name())
		}
		if _, err := cli.Get(cctx, "faultline-health"); err != nil {
			return fmt.Errorf("%s: read: %w", n.Name(), err)
		}
		for i, m := range t.nodes {
			if m.Name() == n.Name() {
				leaders[i] = st.Leader
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, l := range leaders[1:] {
		if l != leaders[0] {
			return fmt.Errorf("nodes disagree on the leader: %x", leaders)
		}
	}
	return nil
}

// Primaries returns the nodes that currently believe they are the leader
// (more than one is possible across a partition).
func (t *Target) Primaries(ctx context.Context) ([]string, error) {
	var mu sync.Mutex
	var out []string
	err := node.Each(t.nodes, func(n node.Node) error {
		cli, err := t.dial(n, time.Second)
		if err != nil {
			return nil // an unreachable node is no primary we can see
		}
		defer cli.Close()
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		st, err := cli.Status(cctx, endpoint(n))
		if err == nil && st.Header != nil && st.Leader == st.Header.MemberId {
			mu.Lock()
			out = append(out, n.Name())
			mu.Unlock()
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

// DataDirs implements targets.DataDirer: the daemon's directory, holding --data-dir.
func (t *Target) DataDirs() []string { return []string{"/var/lib/etcd"} }

// LogFiles are the files on each node worth keeping.
func (t *Target) LogFiles() []string {
	return []string{node.Daemon{Name: "etcd"}.LogPath()}
}

func endpoint(n node.Node) string {
	return net.JoinHostPort(n.Addr().String(), fmt.Sprint(ClientPort))
}

func (t *Target) dial(n node.Node, timeout time.Duration) (*clientv3.Client, error) {
	cli, err := connect(endpoint(n), timeout)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n.Name(), err)
	}
	return cli, nil
}

// connect opens a connection to the one etcd server at addr (host:port).
func connect(addr string, timeout time.Duration) (*clientv3.Client, error) {
	return connectAll([]string{addr}, timeout)
}

// connectAll opens a connection to the etcd servers at addrs, never to
// others it could learn of.
func connectAll(addrs []string, timeout time.Duration) (*clientv3.Client, error) {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            addrs,
		DialTimeout:          timeout,
		DialKeepAliveTime:    time.Second,
		DialKeepAliveTimeout: time.Second,
		Logger:               zap.NewNop(),
		// One endpoint only and no endpoint sync: a client must keep
		// talking to its own node, like Jepsen's.
		AutoSyncInterval: 0,
	})
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", strings.Join(addrs, ","), err)
	}
	return cli, nil
}

// NewClient opens a client pinned to node n, as Dial does for its address.
func (t *Target) NewClient(ctx context.Context, n node.Node) (workloads.Client, error) {
	c, err := newClient(endpoint(n), t.read, t.log)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n.Name(), err)
	}
	return c, nil
}

// DialOptions describes the options Dial takes: those of the target that
// concern clients.
func DialOptions() map[string]string {
	return map[string]string{"read": Options()["read"]}
}

// DialWorkloads names the workloads a Client serves.
func DialWorkloads() []string { return []string{"register", "set", "lock"} }

// Dial opens a client that speaks the etcd v3 API to the server at addr
// (host:port) only, never to the peers it could learn of: the client
// protocol apart from faultline's own etcd deployment, for any server
// that speaks it. Options are DialOptions; an unknown one is refused
// before anything is sent.
func Dial(ctx context.Context, addr string, opts map[string]string) (workloads.Client, error) {
	read, err := parseRead(opts, DialOptions())
	if err != nil {
		return nil, err
	}
	return newClient(addr, read, slog.Default())
}

// newClient is the one constructor of Client, for NewClient and Dial.
func newClient(addr, read string, log *slog.Logger) (*Client, error) {
	cli, err := connect(addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &Client{cli: cli, serializable: read == ReadSerializable, log: log}, nil
}

// Client serves the register, set and lock workloads on one etcd node.
type Client struct {
	cli          *clientv3.Client
	serializable bool
	log          *slog.Logger
	lock         lockState // the lock workload's session (workloads.go)
}

var _ workloads.RegisterClient = (*Client)(nil)

// Close releases any lock session, then closes the connection.
func (c *Client) Close() error {
	c.dropSession(context.Background())
	return c.cli.Close()
}

// Read gets the key, linearizably unless the target runs read=serializable.
func (c *Client) Read(ctx context.Context, key string) (int64, bool, error) {
	// A serializable read is served from the node's local state, also by a
	// node that has lost its leader: that is the setting's point, so only
	// linearizable reads require a leader (and fail fast without one).
	var opts []clientv3.OpOption
	if c.serializable {
		opts = append(opts, clientv3.WithSerializable())
	} else {
		ctx = clientv3.WithRequireLeader(ctx)
	}
	resp, err := c.cli.Get(ctx, key, opts...)
	if err != nil {
		return 0, false, classify(err)
	}
	if len(resp.Kvs) == 0 {
		return 0, false, nil
	}
	var v int64
	if _, err := fmt.Sscan(string(resp.Kvs[0].Value), &v); err != nil {
		return 0, false, workloads.Definite(fmt.Errorf("key %s holds %q, not an integer", key, resp.Kvs[0].Value))
	}
	return v, true, nil
}

// Write puts the key.
func (c *Client) Write(ctx context.Context, key string, value int64) error {
	_, err := c.cli.Put(clientv3.WithRequireLeader(ctx), key, fmt.Sprint(value))
	return classify(err)
}

// CAS swaps the key from old to new in one transaction.
func (c *Client) CAS(ctx context.Context, key string, old, new int64) (bool, error) {
	resp, err := c.cli.Txn(clientv3.WithRequireLeader(ctx)).
		If(clientv3.Compare(clientv3.Value(key), "=", fmt.Sprint(old))).
		Then(clientv3.OpPut(key, fmt.Sprint(new))).
		Commit()
	if err != nil {
		return false, classify(err)
	}
	return resp.Succeeded, nil
}

// classify marks the errors after which etcd certainly did not apply a
// request. Everything else (timeouts, "request timed out", leader changes,
// a connection lost after sending) stays indeterminate.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return err
	}
	switch {
	case errors.Is(err, rpctypes.ErrNoLeader), errors.Is(err, rpctypes.ErrGRPCNoLeader):
		// Refused by the require-leader check before the request is handled.
		return workloads.Definite(err)
	case errors.Is(err, rpctypes.ErrTooManyRequests), errors.Is(err, rpctypes.ErrGRPCRequestTooManyRequests):
		return workloads.Definite(err)
	}
	if s, ok := status.FromError(err); ok {
		msg := s.Message()
		if s.Code() == codes.Unavailable && (strings.Contains(msg, "Error while dialing") ||
			strings.Contains(msg, "connection refused") || strings.Contains(msg, "no address available")) {
			// The connection was never established: nothing was sent.
			return workloads.Definite(err)
		}
		if msg == rpctypes.ErrGRPCNoLeader.Error() || strings.HasSuffix(msg, "etcdserver: no leader") {
			return workloads.Definite(err)
		}
	}
	return err
}
