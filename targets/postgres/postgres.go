// Package postgres is faultline's PostgreSQL target: a primary and
// streaming standbys made with pg_basebackup, from Debian's postgresql-15,
// running as the postgres user; its health and roles, a failover that
// promotes the most advanced standby, and pgx clients for the register,
// set, bank and list-append workloads.
//
// PostgreSQL has no failover of its own: faultline plays the operator.
// Failover first fences the old primary by killing it (STONITH), then
// promotes the standby that has received the most WAL and repoints the
// others; clients follow the new primary at once. A node deposed that way
// never starts as a primary again: it rejoins as a standby of the new
// primary, by a fresh base backup, when the failover ends (or when a kill
// fault restarts it first). So the "primaries" partition followed by a
// failover shows what fencing leaves: no split brain, but with
// replication=async the acknowledged commits the isolated primary had not
// shipped are lost. Primaries still asks every node, so two primaries
// would show if fencing ever failed.
//
// With replication=sync Failover refuses to promote while any standby does
// not answer (killed or paused): with ANY 1 synchronous standby that one
// may hold the only copy of acknowledged commits.
//
// Clients send no cancel requests (see connect): a cancelled COMMIT that
// waits for a synchronous standby becomes visible on the primary without
// being replicated, and with pgx's default cancel-on-timeout a register
// run with replication=sync and failovers came out nonlinearizable (a read
// saw a timed-out write that the failover then lost).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/workloads"
)

// Target is a PostgreSQL primary with streaming standbys.
type Target struct {
	version string
	cfg     config
	log     *slog.Logger

	nodes  []node.Node
	byName map[string]node.Node

	// ops serializes role changes: Failover, EndFailover and rebuilds.
	ops sync.Mutex
	// mu guards primary and deposed.
	mu      sync.Mutex
	primary string // the node clients write to
	deposed string // an old primary, killed, waiting to rejoin as a standby
}

// New returns a PostgreSQL target of the given version ("" =
// DefaultVersion) with the given options.
func New(version string, opts map[string]string) (*Target, error) {
	if version == "" {
		version = DefaultVersion
	}
	if _, err := Software(version); err != nil {
		return nil, err
	}
	cfg, err := parseOptions(opts)
	if err != nil {
		return nil, err
	}
	return &Target{version: version, cfg: cfg, log: slog.Default(), byName: map[string]node.Node{}}, nil
}

// Name implements targets.Target.
func (t *Target) Name() string { return "postgres" }

// Version is the PostgreSQL major release this target runs.
func (t *Target) Version() string { return t.version }

// Settings returns the effective options.
func (t *Target) Settings() map[string]string { return t.cfg.settings() }

// Software is what every node needs installed.
func (t *Target) Software() (node.Software, error) { return Software(t.version) }

// Workloads lists the workloads PostgreSQL serves that this build of
// faultline has.
func (t *Target) Workloads() []string {
	var out []string
	have := workloads.Default()
	for _, w := range []string{"register", "set", "bank", "list-append"} {
		if _, ok := have[w]; ok {
			out = append(out, w)
		}
	}
	return out
}

// Faults lists the faults PostgreSQL supports (see targets.FaultLimiter).
// Clock faults reach the postmaster and, through --tree, every backend;
// backends forked later inherit the patched clock.
func (t *Target) Faults() []string {
	return []string{"partition", "kill", "pause", "clock", "failover", "packet", "power", "delay", "disk-full", "disk-error", "slow-disk", "corrupt"}
}

// DataDirs implements targets.DataDirer: the postgres user's home, holding the cluster's data directory.
func (t *Target) DataDirs() []string { return []string{"/var/lib/postgresql"} }

// LogFiles are the files on each node worth keeping.
func (t *Target) LogFiles() []string { return []string{t.daemon().LogPath()} }

// daemon is the postgres server process, run as the postgres user; setpriv
// execs, so the pid file holds the postmaster's pid.
func (t *Target) daemon() node.Daemon {
	return node.Daemon{
		Name: "postgres",
		Dir:  "/var/lib/postgresql",
		Argv: asUser(binDir(t.version)+"/postgres", "-D", dataDir),
	}
}

// asUser prefixes argv to run it as the postgres user.
func asUser(argv ...string) []string {
	return append([]string{"setpriv", "--reuid=" + osUser, "--regid=" + osUser, "--init-groups", "env", "HOME=/var/lib/postgresql"}, argv...)
}

func (t *Target) node(name string) node.Node { return t.byName[name] }

// currentPrimary returns the node clients write to.
func (t *Target) currentPrimary() node.Node {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byName[t.primary]
}

func (t *Target) roles() (primary, deposed string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.primary, t.deposed
}

// Setup makes n1 the primary, clones every other node from it as a
// streaming standby and waits until all stream.
func (t *Target) Setup(ctx context.Context, nodes []node.Node, log *slog.Logger) error {
	if log != nil {
		t.log = log
	}
	if len(nodes) == 0 {
		return errors.New("postgres: no nodes")
	}
	t.nodes = append([]node.Node(nil), nodes...)
	sort.Slice(t.nodes, func(i, j int) bool { return t.nodes[i].Name() < t.nodes[j].Name() })
	for _, n := range t.nodes {
		t.byName[n.Name()] = n
	}
	first := t.nodes[0]
	t.mu.Lock()
	t.primary, t.deposed = first.Name(), ""
	t.mu.Unlock()

	if err := t.initPrimary(ctx, first); err != nil {
		return err
	}
	if err := t.createSchema(ctx, first); err != nil {
		return err
	}
	if err := node.Each(t.nodes[1:], func(n node.Node) error { return t.makeStandby(ctx, n, first) }); err != nil {
		return err
	}
	return t.WaitHealthy(ctx, 60*time.Second)
}

// names are the node names in order.
func (t *Target) names() []string {
	out := make([]string, len(t.nodes))
	for i, n := range t.nodes {
		out[i] = n.Name()
	}
	return out
}

// initPrimary creates a fresh cluster on n and starts it.
func (t *Target) initPrimary(ctx context.Context, n node.Node) error {
	if _, err := n.Exec(ctx, "sh", "-c", fmt.Sprintf("rm -rf %s && mkdir -p %s && chown %s:%s %s && chmod 700 %s",
		dataDir, dataDir, osUser, osUser, dataDir, dataDir)); err != nil {
		return fmt.Errorf("postgres: prepare data dir: %w", err)
	}
	initdb := asUser(binDir(t.version)+"/initdb", "-D", dataDir, "-U", osUser, "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
	if _, err := n.Exec(ctx, initdb...); err != nil {
		return fmt.Errorf("postgres: initdb: %w", err)
	}
	if err := t.writeConf(ctx, n); err != nil {
		return err
	}
	if err := t.daemon().Start(ctx, n); err != nil {
		return err
	}
	return t.waitAccepting(ctx, n, 30*time.Second)
}

// writeConf writes the server configuration into n's data directory.
func (t *Target) writeConf(ctx context.Context, n node.Node) error {
	files := map[string]string{
		dataDir + "/postgresql.conf": serverConf(t.cfg, t.names()),
		dataDir + "/pg_hba.conf":     hbaConf(),
	}
	for path, body := range files {
		if err := n.WriteFile(ctx, path, []byte(body), 0o600); err != nil {
			return fmt.Errorf("postgres: %s: write %s: %w", n.Name(), path, err)
		}
	}
	return t.chownData(ctx, n)
}

func (t *Target) chownData(ctx context.Context, n node.Node) error {
	if _, err := n.Exec(ctx, "chown", "-R", osUser+":"+osUser, dataDir); err != nil {
		return fmt.Errorf("postgres: chown data dir: %w", err)
	}
	return nil
}

func (t *Target) createSchema(ctx context.Context, n node.Node) error {
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	conn, err := connect(cctx, n)
	if err != nil {
		return fmt.Errorf("postgres: create schema: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return createSchemaOn(cctx, conn)
}

// makeStandby (re)builds n as a streaming standby of primary from a fresh
// base backup and starts it. Anything on n is thrown away.
func (t *Target) makeStandby(ctx context.Context, n, primary node.Node) error {
	d := t.daemon()
	if err := t.killAll(ctx, n); err != nil {
		return err
	}
	if _, err := n.Exec(ctx, "sh", "-c", fmt.Sprintf("rm -rf %s && mkdir -p %s && chown %s:%s %s && chmod 700 %s",
		dataDir, dataDir, osUser, osUser, dataDir, dataDir)); err != nil {
		return fmt.Errorf("postgres: %s: prepare data dir: %w", n.Name(), err)
	}
	bb := asUser(binDir(t.version)+"/pg_basebackup", "-h", primary.Addr().String(), "-p", fmt.Sprint(Port), "-U", osUser,
		"-D", dataDir, "-X", "stream", "-c", "fast", "-d", "application_name="+n.Name()+" connect_timeout=5")
	// A base backup can be cut off on a loaded machine; it cleans up after
	// itself, so try again.
	for attempt := 1; ; attempt++ {
		_, err := n.Exec(ctx, bb...)
		if err == nil {
			break
		}
		if attempt == 3 || ctx.Err() != nil {
			return fmt.Errorf("postgres: %s: base backup from %s (%d attempts): %w", n.Name(), primary.Name(), attempt, err)
		}
		t.log.Warn("postgres: base backup failed, retrying", "node", n.Name(), "err", err)
	}
	if err := t.writeConf(ctx, n); err != nil {
		return err
	}
	if err := n.WriteFile(ctx, dataDir+"/postgresql.auto.conf", []byte(standbyAutoConf(primary.Addr().String(), n.Name())), 0o600); err != nil {
		return fmt.Errorf("postgres: %s: write standby config: %w", n.Name(), err)
	}
	if err := n.WriteFile(ctx, dataDir+"/standby.signal", nil, 0o600); err != nil {
		return fmt.Errorf("postgres: %s: write standby.signal: %w", n.Name(), err)
	}
	if err := t.chownData(ctx, n); err != nil {
		return err
	}
	return d.Start(ctx, n)
}

// waitAccepting waits until n takes connections.
func (t *Target) waitAccepting(ctx context.Context, n node.Node, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := connect(cctx, n)
		ccancel()
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("postgres: %s does not accept connections after %s: %w", n.Name(), limit, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// WaitHealthy polls, with backoff, until the primary accepts a write and
// every other node streams from it, or the limit passes.
func (t *Target) WaitHealthy(ctx context.Context, limit time.Duration) error {
	return node.Poll(ctx, limit, "postgres health", t.log, t.healthy)
}

func (t *Target) healthy(ctx context.Context) error {
	p := t.currentPrimary()
	if p == nil {
		return errors.New("no primary")
	}
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := connect(cctx, p)
	if err != nil {
		return fmt.Errorf("primary %s: %w", p.Name(), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(cctx, `INSERT INTO faultline_health (id, at) VALUES (1, now()) ON CONFLICT (id) DO UPDATE SET at = now()`); err != nil {
		return fmt.Errorf("primary %s: write: %w", p.Name(), err)
	}
	streaming, err := streamingStandbys(cctx, conn)
	if err != nil {
		return fmt.Errorf("primary %s: %w", p.Name(), err)
	}
	var missing []string
	for _, n := range t.nodes {
		if n.Name() != p.Name() && !streaming[n.Name()] {
			missing = append(missing, n.Name())
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("primary %s: standbys not streaming: %s", p.Name(), strings.Join(missing, ", "))
	}
	return nil
}

// streamingStandbys names the standbys streaming from the primary conn is
// connected to.
func streamingStandbys(ctx context.Context, conn *pgx.Conn) (map[string]bool, error) {
	rows, err := conn.Query(ctx, `SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'`)
	if err != nil {
		return nil, fmt.Errorf("pg_stat_replication: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("pg_stat_replication: %w", err)
	}
	out := map[string]bool{}
	for _, n := range names {
		out[n] = true
	}
	return out, nil
}

// Primaries returns the nodes that are not in recovery, i.e. accept
// writes; more than one would be a split brain.
func (t *Target) Primaries(ctx context.Context) ([]string, error) {
	var mu sync.Mutex
	var out []string
	_ = node.Each(t.nodes, func(n node.Node) error {
		inRecovery, err := isInRecovery(ctx, n)
		if err == nil && !inRecovery {
			mu.Lock()
			out = append(out, n.Name())
			mu.Unlock()
		}
		return nil // an unreachable node is no primary we can see
	})
	sort.Strings(out)
	return out, nil
}

func isInRecovery(ctx context.Context, n node.Node) (bool, error) {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := connect(cctx, n)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var rec bool
	if err := conn.QueryRow(cctx, `SELECT pg_is_in_recovery()`).Scan(&rec); err != nil {
		return false, fmt.Errorf("%s: pg_is_in_recovery: %w", n.Name(), err)
	}
	return rec, nil
}

// Start starts PostgreSQL on n with its data. It is a no-op when it runs
// already. A deposed primary is not started as it is: it rejoins as a
// standby of the current primary, so a kill fault cannot undo the fencing.
func (t *Target) Start(ctx context.Context, n node.Node) error {
	d := t.daemon()
	if up, err := d.Running(ctx, n); err != nil {
		return err
	} else if up {
		return nil
	}
	if _, deposed := t.roles(); deposed == n.Name() {
		_, err := t.rejoin(ctx)
		return err
	}
	return d.Start(ctx, n)
}

// Kill kills every PostgreSQL process on n (postmaster and backends, as a
// crash of the machine would) and waits until they are gone.
func (t *Target) Kill(ctx context.Context, n node.Node) error { return t.killAll(ctx, n) }

func (t *Target) killAll(ctx context.Context, n node.Node) error {
	script := fmt.Sprintf(`pkill -KILL -u %[1]s
for i in $(seq 200); do
  pgrep -u %[1]s >/dev/null || exit 0
  pgrep -u %[1]s | while read p; do [ "$(awk '{print $3}' /proc/$p/stat 2>/dev/null)" = Z ] || echo $p; done | grep -q . || exit 0
  pkill -KILL -u %[1]s; sleep 0.05
done
echo "postgres processes still alive" >&2; exit 1`, osUser)
	if _, err := n.Exec(ctx, "sh", "-c", script); err != nil {
		return fmt.Errorf("postgres: %s: kill: %w", n.Name(), err)
	}
	return nil
}

// Pause stops every PostgreSQL process on n with SIGSTOP: stopping the
// postmaster alone would leave its backends serving.
func (t *Target) Pause(ctx context.Context, n node.Node) error {
	// Twice: a backend forked while the first pass ran is caught by the second.
	if _, err := n.Exec(ctx, "sh", "-c", fmt.Sprintf("pkill -STOP -u %[1]s; sleep 0.05; pkill -STOP -u %[1]s; exit 0", osUser)); err != nil {
		return fmt.Errorf("postgres: %s: pause: %w", n.Name(), err)
	}
	return nil
}

// Resume continues every PostgreSQL process on n.
func (t *Target) Resume(ctx context.Context, n node.Node) error {
	if _, err := n.Exec(ctx, "sh", "-c", fmt.Sprintf("pkill -CONT -u %s; exit 0", osUser)); err != nil {
		return fmt.Errorf("postgres: %s: resume: %w", n.Name(), err)
	}
	return nil
}
