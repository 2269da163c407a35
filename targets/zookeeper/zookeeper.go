// Package zookeeper is faultline's ZooKeeper target: an N-node ZooKeeper
// 3.8 ensemble from Debian's zookeeper package, its servers run in the
// foreground as node daemons, and clients (github.com/go-zookeeper/zk) for
// the register, set and lock workloads that each talk to one server only,
// as Jepsen's do, so a partitioned server's clients see what it serves.
//
// ZooKeeper linearizes writes through its leader but answers reads from
// the client's own server, which may lag: plain reads are sequentially
// consistent, not linearizable. The reads=sync option sends sync(path)
// before every read.
package zookeeper

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/workloads"
)

// Znodes the workloads use: one per register key, one parent per set (its
// elements are children) and per lock (its contenders are children).
const (
	rootPath     = "/faultline"
	registerPath = rootPath + "/register"
	setPath      = rootPath + "/set"
	lockPath     = rootPath + "/lock"
)

// Target is a ZooKeeper ensemble.
type Target struct {
	version      string
	set          settings
	nodes        []node.Node
	node.Daemons // the ZooKeeper server per node: Start, Kill, Pause, Resume
	log          *slog.Logger
	versions     *workloads.Versions[int32] // of register values, for compare-and-set
}

// New returns a ZooKeeper target of the given version ("" =
// DefaultVersion) with the given options (see Options).
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
		version: version, set: s, log: slog.Default(),
		Daemons:  node.Daemons{System: "zookeeper", ByNode: map[string]node.Daemon{}},
		versions: &workloads.Versions[int32]{},
	}, nil
}

// Name implements targets.Target.
func (t *Target) Name() string { return "zookeeper" }

// Version is the ZooKeeper release this target runs.
func (t *Target) Version() string { return t.version }

// Settings returns the effective options.
func (t *Target) Settings() map[string]string { return t.set.values() }

// Software is what every node needs installed.
func (t *Target) Software() (node.Software, error) { return Software(t.version) }

// Workloads lists the workloads ZooKeeper serves.
func (t *Target) Workloads() []string { return []string{"register", "set", "lock"} }

// Faults lists the faults ZooKeeper supports: all but failover (the
// ensemble elects its own leader, there is nothing to promote). Clock
// faults reach the JVM through the daemon's pid file.
func (t *Target) Faults() []string {
	return []string{"partition", "kill", "pause", "clock", "packet", "power", "delay", "disk-full", "disk-error", "slow-disk", "corrupt"}
}

// DataDirs implements targets.DataDirer: snapshots, transaction logs and myid.
func (t *Target) DataDirs() []string { return []string{dataDir} }

// LogFiles are the files on each node worth keeping.
func (t *Target) LogFiles() []string {
	return []string{daemon().LogPath(), confPath}
}

// Setup writes each node's zoo.cfg, log4j.properties and myid, starts the
// servers, waits for a leader with every follower serving, then creates
// the workloads' parent znodes.
func (t *Target) Setup(ctx context.Context, nodes []node.Node, log *slog.Logger) error {
	if log != nil {
		t.log = log
	}
	t.nodes = nodes
	peers := make([]netip.Addr, len(nodes))
	for i, n := range nodes {
		peers[i] = n.Addr()
		t.ByNode[n.Name()] = daemon() // here: the map is not written concurrently
	}
	cfg := []byte(renderConfig(peers))
	err := node.Each(nodes, func(n node.Node) error {
		id := 1
		for i, m := range nodes {
			if m.Name() == n.Name() {
				id = i + 1
			}
		}
		files := []struct {
			path string
			data []byte
		}{
			{confPath, cfg},
			{log4jPath, []byte(log4jConfig)},
			{myidPath, []byte(strconv.Itoa(id) + "\n")},
		}
		for _, f := range files {
			if err := n.WriteFile(ctx, f.path, f.data, 0o644); err != nil {
				return fmt.Errorf("%s: write %s: %w", n.Name(), f.path, err)
			}
		}
		return t.Start(ctx, n)
	})
	if err != nil {
		return err
	}
	if err := t.WaitHealthy(ctx, 90*time.Second); err != nil {
		return err
	}
	return node.Poll(ctx, 30*time.Second, "zookeeper parent znodes", t.log, t.createParents)
}

// createParents creates the workloads' parent znodes through the first
// node that answers.
func (t *Target) createParents(ctx context.Context) error {
	var errs []error
	for _, n := range t.nodes {
		err := t.createParentsOn(ctx, n)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (t *Target) createParentsOn(ctx context.Context, n node.Node) error {
	c := t.newClient(n)
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.ensureParents(ctx); err != nil {
		return fmt.Errorf("%s: %w", n.Name(), err)
	}
	return nil
}

// WaitHealthy polls, with backoff, until every server serves and exactly
// one of them leads, or the limit passes.
func (t *Target) WaitHealthy(ctx context.Context, limit time.Duration) error {
	return node.Poll(ctx, limit, "zookeeper ensemble", t.log, t.healthy)
}

func (t *Target) healthy(ctx context.Context) error {
	modes := make([]string, len(t.nodes))
	err := node.Each(t.nodes, func(n node.Node) error {
		for i, m := range t.nodes {
			if m.Name() == n.Name() {
				mode, err := serverMode(ctx, n.Addr())
				if err != nil {
					return fmt.Errorf("%s: %w", n.Name(), err)
				}
				modes[i] = mode
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return checkModes(modes)
}

// checkModes says whether the servers' modes make a serving ensemble: one
// leader (or a lone standalone server) and followers.
func checkModes(modes []string) error {
	leaders := 0
	for _, m := range modes {
		switch m {
		case modeLeader, modeStandalone:
			leaders++
		case modeFollower, modeObserver:
		default:
			return fmt.Errorf("a server is in mode %q", m)
		}
	}
	if leaders != 1 {
		return fmt.Errorf("%d leaders among modes %v", leaders, modes)
	}
	return nil
}

// Modes a server reports in srvr.
const (
	modeLeader     = "leader"
	modeFollower   = "follower"
	modeObserver   = "observer"
	modeStandalone = "standalone"
)

// errNotServing is srvr's answer from a server outside a quorum (looking
// for a leader, or syncing with one).
var errNotServing = errors.New("not currently serving requests")

// serverMode asks the server at addr for its mode with the srvr
// four-letter command over its client port.
func serverMode(ctx context.Context, addr netip.Addr) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", netip.AddrPortFrom(addr, ClientPort).String())
	if err != nil {
		return "", fmt.Errorf("srvr: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	if _, err := io.WriteString(conn, "srvr"); err != nil {
		return "", fmt.Errorf("srvr: %w", err)
	}
	// The server closes the connection after its answer.
	out, err := io.ReadAll(io.LimitReader(conn, 64<<10))
	if err != nil {
		return "", fmt.Errorf("srvr: %w", err)
	}
	return parseMode(string(out))
}

// parseMode reads the Mode line of a srvr answer.
func parseMode(out string) (string, error) {
	if strings.Contains(out, errNotServing.Error()) {
		return "", errNotServing
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if m, ok := strings.CutPrefix(sc.Text(), "Mode: "); ok {
			return strings.TrimSpace(m), nil
		}
	}
	if out == "" {
		return "", errors.New("srvr: empty answer (is srvr whitelisted?)")
	}
	return "", fmt.Errorf("srvr: no Mode line in %q", out)
}

// Primaries names the nodes whose server says it leads. Across a
// partition, a deposed leader may say so until it notices (syncLimit
// ticks), so more than one may show.
func (t *Target) Primaries(ctx context.Context) ([]string, error) {
	var mu sync.Mutex
	var out []string
	err := node.Each(t.nodes, func(n node.Node) error {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		mode, err := serverMode(cctx, n.Addr())
		if err != nil {
			return nil // an unreachable or looking server is no primary we can see
		}
		if mode == modeLeader || mode == modeStandalone {
			mu.Lock()
			out = append(out, n.Name())
			mu.Unlock()
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

// NewClient opens a client pinned to node n. The connection is made on
// the first op: the library connects in the background anyway.
func (t *Target) NewClient(ctx context.Context, n node.Node) (workloads.Client, error) {
	return t.newClient(n), nil
}

func (t *Target) newClient(n node.Node) *Client {
	return newClient(n.Name(), netip.AddrPortFrom(n.Addr(), ClientPort).String(), t.set, t.versions, false, t.log)
}

// zkLogger sends the zk library's log lines (connects, reconnects,
// failures) to slog at debug level instead of the standard logger.
type zkLogger struct{ log *slog.Logger }

func (l zkLogger) Printf(format string, args ...any) {
	l.log.Debug("zk: " + fmt.Sprintf(format, args...))
}

var _ zk.Logger = zkLogger{}
