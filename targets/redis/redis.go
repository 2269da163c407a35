// Package redis is faultline's Redis target: Debian's Redis 7.0 with one
// primary (n1 at start) and N-1 replicas, a Sentinel on every node to fail
// the primary over (or none, failover=none), or N independent masters for
// Redlock (mode=redlock). Clients use go-redis v9 with retries off.
//
// Decisions worth knowing when reading a run:
//
//   - Kill, Pause, Start and Resume act on redis-server only. The Sentinel
//     on that node keeps running, as a separately deployed failover manager
//     would: process faults hit the database (as Jepsen's do), and a
//     stopped primary must be noticed by the Sentinels, not vanish together
//     with one of them. A partition cuts both, by nature.
//   - Primaries returns every node whose ROLE says master plus the node a
//     majority of Sentinels names, so two masters after a partition both
//     show (and a "primaries" partition cuts both off). Each change of every
//     node's role and every Sentinel's view is logged.
//   - Writes go through go-redis's Sentinel-aware failover client asking
//     the worker's own node's Sentinel first, so a worker on the minority
//     side of a partition follows what its side believes, as an application
//     server there would. Reads go to the primary the same way, or to the
//     worker's own node with replica-reads=true.
//   - Failover sends SENTINEL FAILOVER and waits for a majority of Sentinels
//     to name a new primary; Sentinel itself turns the old primary into a
//     replica, so EndFailover only waits for that.
package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/workloads"
)

// Target is a Redis deployment on a cluster's nodes.
type Target struct {
	set   Settings
	log   *slog.Logger
	token string

	nodes        []node.Node
	byIP         map[string]string // ip -> node name
	node.Daemons                   // redis-server per node: Start, Kill, Pause, Resume (its Sentinel keeps running)
	sentnl       map[string]node.Daemon
	primary      node.Node // the primary at start (n1)

	mu        sync.Mutex
	admin     map[string]*goredis.Client         // node -> redis-server, for health and roles
	sentinels map[string]*goredis.SentinelClient // node -> its Sentinel
	lastRoles string                             // last logged roles and views
	failover  *failoverState                     // set by Failover, cleared by EndFailover
}

type failoverState struct {
	from, to string // node names; to is "" when no new primary was seen
}

// New returns a Redis target for version ("" or DefaultVersion) and opts.
func New(version string, opts map[string]string) (*Target, error) {
	if _, err := Software(version); err != nil {
		return nil, err
	}
	s, err := ParseSettings(opts)
	if err != nil {
		return nil, err
	}
	// go-redis logs Sentinel discoveries to stderr through a logger of its
	// own, process-wide; the same quiet logger is set by every New.
	goredis.SetLogger(debugLogger{})
	return &Target{set: s, log: slog.Default()}, nil
}

// debugLogger sends go-redis's own messages to slog at debug level
// instead of the terminal.
type debugLogger struct{}

func (debugLogger) Printf(ctx context.Context, format string, v ...any) {
	slog.DebugContext(ctx, "go-redis: "+fmt.Sprintf(format, v...))
}

// Name implements targets.Target.
func (t *Target) Name() string { return "redis" }

// Version is the Redis release under test.
func (t *Target) Version() string { return DefaultVersion }

// Settings returns the effective options.
func (t *Target) Settings() map[string]string { return t.set.Map() }

// Software is what every node needs installed.
func (t *Target) Software() (node.Software, error) { return Software("") }

// Workloads lists the workloads the target serves in its mode, among those
// faultline has.
func (t *Target) Workloads() []string {
	if t.set.Mode == ModeRedlock {
		return []string{"lock"}
	}
	return []string{"counter", "lock", "register", "set"}
}

// Faults names the faults the deployment supports: failover only with
// Sentinels. Clock faults skew every Redis process of a node (server and
// Sentinel): key expiry, and so lock TTLs, runs on the wall clock.
func (t *Target) Faults() []string {
	f := []string{"partition", "kill", "pause", "clock", "packet", "power", "delay", "disk-full", "disk-error", "slow-disk", "corrupt"}
	if t.sentinelMode() {
		f = append(f, "failover")
	}
	return f
}

func (t *Target) sentinelMode() bool {
	return t.set.Mode == ModeSentinel && t.set.Failover == FailoverSentinel
}

// DataDirs implements targets.DataDirer: holding the RDB and AOF files.
func (t *Target) DataDirs() []string { return []string{Dir} }

// LogFiles are the daemon logs on each node.
func (t *Target) LogFiles() []string {
	files := []string{node.Daemon{Name: "redis"}.LogPath()}
	if t.sentinelMode() {
		files = append(files, node.Daemon{Name: "sentinel"}.LogPath())
	}
	return files
}

func addr(n node.Node, port int) string {
	return net.JoinHostPort(n.Addr().String(), fmt.Sprint(port))
}

// Setup writes the configs, starts redis-server everywhere, waits for the
// replicas to sync, then starts the Sentinels and waits until every one of
// them sees every replica and every peer (a failover soon after start
// otherwise aborts with -failover-abort-no-good-slave).
func (t *Target) Setup(ctx context.Context, nodes []node.Node, log *slog.Logger) error {
	if log != nil {
		t.log = log
	}
	if len(nodes) == 0 {
		return errors.New("redis: no nodes")
	}
	t.nodes = nodes
	t.token = fmt.Sprintf("faultline-%d", time.Now().UnixNano())
	t.primary = nodes[0]
	t.byIP = map[string]string{}
	t.Daemons = node.Daemons{System: "redis", ByNode: map[string]node.Daemon{}}
	t.sentnl = map[string]node.Daemon{}
	t.admin = map[string]*goredis.Client{}
	t.sentinels = map[string]*goredis.SentinelClient{}
	if t.set.Wait > len(nodes)-1 && t.set.Mode == ModeSentinel {
		t.log.Warn("redis: wait asks for more replicas than exist: every write will be indeterminate", "wait", t.set.Wait, "replicas", len(nodes)-1)
	}
	peers := make([]peer, len(nodes))
	for i, n := range nodes {
		peers[i] = peer{n.Name(), n.Addr().String()}
		t.byIP[n.Addr().String()] = n.Name()
		t.ByNode[n.Name()] = node.Daemon{Name: "redis", Dir: Dir, Argv: []string{"redis-server", Dir + "/redis.conf"}}
		t.sentnl[n.Name()] = node.Daemon{Name: "sentinel", Dir: Dir, Argv: []string{"redis-sentinel", Dir + "/sentinel.conf"}}
		t.admin[n.Name()] = goredis.NewClient(adminOptions(addr(n, Port)))
		t.sentinels[n.Name()] = goredis.NewSentinelClient(adminOptions(addr(n, SentinelPort)))
	}
	err := node.Each(nodes, func(n node.Node) error {
		from := ""
		if t.set.Mode == ModeSentinel && n.Name() != t.primary.Name() {
			from = t.primary.Addr().String()
		}
		if _, err := n.Exec(ctx, "mkdir", "-p", DataDir); err != nil {
			return fmt.Errorf("redis: %w", err)
		}
		if err := n.WriteFile(ctx, Dir+"/redis.conf", []byte(redisConfig(t.set, n.Addr().String(), from)), 0o644); err != nil {
			return fmt.Errorf("redis: %s: write redis.conf: %w", n.Name(), err)
		}
		if t.sentinelMode() {
			conf := sentinelConfig(t.token, peer{n.Name(), n.Addr().String()}, peers[0], peers)
			if err := n.WriteFile(ctx, Dir+"/sentinel.conf", []byte(conf), 0o644); err != nil {
				return fmt.Errorf("redis: %s: write sentinel.conf: %w", n.Name(), err)
			}
		}
		return t.ByNode[n.Name()].Start(ctx, n)
	})
	if err != nil {
		return err
	}
	if t.set.Mode == ModeSentinel {
		if err := t.poll(ctx, 60*time.Second, "replication", t.replicationUp); err != nil {
			return err
		}
	}
	if t.sentinelMode() {
		if err := node.Each(nodes, func(n node.Node) error { return t.sentnl[n.Name()].Start(ctx, n) }); err != nil {
			return err
		}
	}
	return t.WaitHealthy(ctx, 60*time.Second)
}

// adminOptions are the options of the controller's own connections: no
// retries, short timeouts, one or two connections.
func adminOptions(a string) *goredis.Options {
	return &goredis.Options{
		Addr:            a,
		Protocol:        2,
		DisableIdentity: true,
		MaxRetries:      -1,
		DialerRetries:   1,
		DialTimeout:     time.Second,
		ReadTimeout:     time.Second,
		WriteTimeout:    time.Second,
		PoolSize:        2,
		PoolTimeout:     time.Second,
		// The caller's deadline, when sooner, bounds every command.
		ContextTimeoutEnabled: true,
	}
}

// poll calls check with backoff until it succeeds or limit passes.
func (t *Target) poll(ctx context.Context, limit time.Duration, what string, check func(context.Context) error) error {
	return node.Poll(ctx, limit, "redis: "+what, t.log, check)
}

// info is a node's INFO section parsed into fields.
func (t *Target) info(ctx context.Context, name, section string) (map[string]string, error) {
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	s, err := t.admin[name].Info(cctx, section).Result()
	if err != nil {
		return nil, fmt.Errorf("%s: INFO %s: %w", name, section, err)
	}
	out := map[string]string{}
	for _, l := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), ":"); ok {
			out[k] = v
		}
	}
	return out, nil
}

// replicationUp: master is the only master and every other node is its
// replica with the link up.
func (t *Target) replicationUp(ctx context.Context) error {
	return t.replicationUpTo(ctx, t.primary.Name())
}

func (t *Target) replicationUpTo(ctx context.Context, master string) error {
	var mu sync.Mutex
	masterIP := ""
	for _, n := range t.nodes {
		if n.Name() == master {
			masterIP = n.Addr().String()
		}
	}
	return node.Each(t.nodes, func(n node.Node) error {
		inf, err := t.info(ctx, n.Name(), "replication")
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if n.Name() == master {
			if inf["role"] != "master" {
				return fmt.Errorf("%s: role %s, want master", n.Name(), inf["role"])
			}
			return nil
		}
		if inf["role"] != "slave" || inf["master_host"] != masterIP || inf["master_link_status"] != "up" {
			return fmt.Errorf("%s: role %s of %s, link %s; want a replica of %s with the link up",
				n.Name(), inf["role"], inf["master_host"], inf["master_link_status"], master)
		}
		return nil
	})
}

// WaitHealthy waits until the deployment serves again: for Sentinel, every
// Sentinel names the same primary, sees every replica and peer and has a
// quorum, and replication to the primary is up everywhere; without
// Sentinel, replication to n1 is up; for Redlock, every master answers.
func (t *Target) WaitHealthy(ctx context.Context, limit time.Duration) error {
	switch {
	case t.set.Mode == ModeRedlock:
		return t.poll(ctx, limit, "masters", func(ctx context.Context) error {
			return node.Each(t.nodes, func(n node.Node) error {
				cctx, cancel := context.WithTimeout(ctx, time.Second)
				defer cancel()
				if err := t.admin[n.Name()].Ping(cctx).Err(); err != nil {
					return fmt.Errorf("%s: PING: %w", n.Name(), err)
				}
				return nil
			})
		})
	case !t.sentinelMode():
		return t.poll(ctx, limit, "replication", t.replicationUp)
	}
	return t.poll(ctx, limit, "sentinels", t.sentinelsReady)
}

// sentinelsReady is the Sentinel health check.
func (t *Target) sentinelsReady(ctx context.Context) error {
	views, err := t.sentinelViews(ctx)
	if err != nil {
		return err
	}
	master := ""
	for _, n := range t.nodes {
		v := views[n.Name()]
		if v == "" {
			return fmt.Errorf("%s: Sentinel names no primary", n.Name())
		}
		if master != "" && v != master {
			return fmt.Errorf("Sentinels disagree on the primary: %v", views)
		}
		master = v
	}
	want := len(t.nodes) - 1
	err = node.Each(t.nodes, func(n node.Node) error {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		sc := t.sentinels[n.Name()]
		reps, err := sc.Replicas(cctx, MasterName).Result()
		if err != nil {
			return fmt.Errorf("%s: SENTINEL replicas: %w", n.Name(), err)
		}
		if good := healthyEntries(reps); good != want {
			return fmt.Errorf("%s: Sentinel sees %d healthy replicas, want %d", n.Name(), good, want)
		}
		peers, err := sc.Sentinels(cctx, MasterName).Result()
		if err != nil {
			return fmt.Errorf("%s: SENTINEL sentinels: %w", n.Name(), err)
		}
		if good := healthyEntries(peers); good != want {
			return fmt.Errorf("%s: Sentinel sees %d healthy peers, want %d", n.Name(), good, want)
		}
		if err := sc.CkQuorum(cctx, MasterName).Err(); err != nil {
			return fmt.Errorf("%s: SENTINEL CKQUORUM: %w", n.Name(), err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return t.replicationUpTo(ctx, master)
}

// healthyEntries counts SENTINEL replicas/sentinels entries not flagged
// down or disconnected.
func healthyEntries(entries []map[string]string) int {
	good := 0
	for _, e := range entries {
		f := e["flags"]
		if !strings.Contains(f, "s_down") && !strings.Contains(f, "o_down") && !strings.Contains(f, "disconnected") {
			good++
		}
	}
	return good
}

// sentinelViews asks every Sentinel which node is the primary; a Sentinel
// that does not answer is left out.
func (t *Target) sentinelViews(ctx context.Context) (map[string]string, error) {
	var mu sync.Mutex
	views := map[string]string{}
	err := node.Each(t.nodes, func(n node.Node) error {
		cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		a, err := t.sentinels[n.Name()].GetMasterAddrByName(cctx, MasterName).Result()
		if err != nil || len(a) < 1 {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		if name, ok := t.byIP[a[0]]; ok {
			views[n.Name()] = name
		} else {
			views[n.Name()] = a[0]
		}
		return nil
	})
	return views, err
}

// majorityView is the primary a majority of all Sentinels names, or "".
func (t *Target) majorityView(views map[string]string) string {
	votes := map[string]int{}
	for _, v := range views {
		votes[v]++
	}
	for v, c := range votes {
		if c > len(t.nodes)/2 {
			return v
		}
	}
	return ""
}

// roles asks every node for its replication role: "master", "replica of
// nX (link up|down)", or "unreachable".
func (t *Target) roles(ctx context.Context) map[string]string {
	var mu sync.Mutex
	out := map[string]string{}
	_ = node.Each(t.nodes, func(n node.Node) error {
		cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		role := "unreachable"
		if inf, err := t.info(cctx, n.Name(), "replication"); err == nil {
			switch inf["role"] {
			case "master":
				role = "master"
			case "slave":
				from := inf["master_host"]
				if name, ok := t.byIP[from]; ok {
					from = name
				}
				role = fmt.Sprintf("replica of %s (link %s)", from, inf["master_link_status"])
			default:
				role = inf["role"]
			}
		}
		mu.Lock()
		out[n.Name()] = role
		mu.Unlock()
		return nil
	})
	return out
}

// Primaries names every node whose ROLE is master, plus the node a majority
// of Sentinels names (it may be paused and not answer). Every node's role

// Close lets go of the controller's connections to every redis-server and
// Sentinel (the harness calls it when the run ends).
func (t *Target) Close() error {
	var errs []error
	for _, c := range t.admin {
		errs = append(errs, c.Close())
	}
	for _, c := range t.sentinels {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// and every Sentinel's view are logged when they change.
func (t *Target) Primaries(ctx context.Context) ([]string, error) {
	if t.nodes == nil {
		return nil, errors.New("redis: not set up")
	}
	roles := t.roles(ctx)
	set := map[string]bool{}
	for n, r := range roles {
		if r == "master" {
			set[n] = true
		}
	}
	var views map[string]string
	if t.sentinelMode() {
		views, _ = t.sentinelViews(ctx)
		if m := t.majorityView(views); m != "" {
			set[m] = true
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	desc := fmt.Sprintf("roles %v sentinels %v", roles, views)
	t.mu.Lock()
	changed := desc != t.lastRoles
	t.lastRoles = desc
	t.mu.Unlock()
	if changed {
		t.log.Info("redis roles", "primaries", out, "roles", roles, "sentinel_views", views)
	}
	return out, nil
}

func (t *Target) node(name string) (node.Node, error) {
	for _, n := range t.nodes {
		if n.Name() == name {
			return n, nil
		}
	}
	return nil, fmt.Errorf("redis: node %s is not part of this cluster", name)
}

// Failover asks the Sentinels for a manual failover (SENTINEL FAILOVER,
// tried on each Sentinel until one accepts) and waits up to 20 s for a
// majority of them to name another primary.
func (t *Target) Failover(ctx context.Context) ([]string, string, error) {
	if !t.sentinelMode() {
		return nil, "", errors.New("redis: failover needs failover=sentinel")
	}
	views, _ := t.sentinelViews(ctx)
	old := t.majorityView(views)
	if old == "" {
		return nil, "", fmt.Errorf("redis: no primary named by a majority of Sentinels: %v", views)
	}
	t.mu.Lock()
	t.failover = &failoverState{from: old}
	t.mu.Unlock()
	var errs []error
	via := ""
	for _, n := range t.nodes {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		err := t.sentinels[n.Name()].Failover(cctx, MasterName).Err()
		cancel()
		if err == nil {
			via = n.Name()
			break
		}
		errs = append(errs, fmt.Errorf("%s: %w", n.Name(), err))
	}
	if via == "" {
		return []string{old}, "", fmt.Errorf("redis: SENTINEL FAILOVER refused by every Sentinel: %w", errors.Join(errs...))
	}
	var to string
	err := t.poll(ctx, 20*time.Second, "failover", func(ctx context.Context) error {
		views, _ := t.sentinelViews(ctx)
		if m := t.majorityView(views); m != "" && m != old {
			to = m
			return nil
		}
		return fmt.Errorf("Sentinels still name %s: %v", old, views)
	})
	if err != nil {
		return []string{old}, fmt.Sprintf("SENTINEL FAILOVER via %s", via), err
	}
	t.mu.Lock()
	t.failover.to = to
	t.mu.Unlock()
	return []string{old, to}, fmt.Sprintf("SENTINEL FAILOVER via %s: %s -> %s", via, old, to), nil
}

// EndFailover has nothing to undo: Sentinel reconfigures the old primary
// as a replica of the new one by itself. It waits (up to 30 s) until it
// has, so the next fault starts from a settled cluster.
func (t *Target) EndFailover(ctx context.Context) (string, error) {
	t.mu.Lock()
	st := t.failover
	t.failover = nil
	t.mu.Unlock()
	if st == nil || st.to == "" {
		return "nothing to undo", nil
	}
	old, err := t.node(st.from)
	if err != nil {
		return "", err
	}
	newIP := ""
	if n, err := t.node(st.to); err == nil {
		newIP = n.Addr().String()
	}
	err = t.poll(ctx, 30*time.Second, "old primary rejoining", func(ctx context.Context) error {
		inf, err := t.info(ctx, old.Name(), "replication")
		if err != nil {
			return err
		}
		if inf["role"] != "slave" || inf["master_host"] != newIP || inf["master_link_status"] != "up" {
			return fmt.Errorf("%s: role %s of %s, link %s", old.Name(), inf["role"], inf["master_host"], inf["master_link_status"])
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s is a replica of %s (converted by Sentinel)", st.from, st.to), nil
}

// NewClient opens a client for one worker on node n.
func (t *Target) NewClient(ctx context.Context, n node.Node) (workloads.Client, error) {
	if t.nodes == nil {
		return nil, errors.New("redis: not set up")
	}
	if t.set.Mode == ModeRedlock {
		addrs := make([]string, len(t.nodes))
		for i, m := range t.nodes {
			addrs[i] = addr(m, Port)
		}
		return newRedlockClient(addrs), nil
	}
	// Writes through the worker's own node's Sentinel, or to the fixed
	// primary; reads there too, or on the worker's own node.
	cfg := clientConfig{addr: addr(t.primary, Port), wait: t.set.Wait, id: n.Name()}
	if t.sentinelMode() {
		cfg.addr, cfg.master = addr(n, SentinelPort), MasterName
	}
	if t.set.ReplicaReads {
		cfg.readAddr = addr(n, Port)
	}
	return newClient(cfg), nil
}

// clientOptions are a worker's connection options: no retries (they would
// re-send writes), the op's context bounding every command.
func clientOptions(a string) *goredis.Options {
	o := adminOptions(a)
	o.ReadTimeout, o.WriteTimeout = 5*time.Second, 5*time.Second
	return o
}
