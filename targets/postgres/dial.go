package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/workloads"
)

// endpoint is one server a client talks to.
type endpoint struct {
	name string // for errors: the node's name, or the address
	addr string // host:port
}

func endpointOf(n node.Node) endpoint {
	return endpoint{name: n.Name(), addr: net.JoinHostPort(n.Addr().String(), strconv.Itoa(Port))}
}

// connConfig is who a session logs in as, and where.
type connConfig struct {
	user, password, database string
}

// defaultConn is how faultline's own deployment is reached: as the
// superuser, trusted, on the default database.
func defaultConn() connConfig { return connConfig{user: osUser, database: "postgres"} }

// dsn is the keyword/value connection string for the server at addr.
func (cc connConfig) dsn(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("postgres: address %q: %w", addr, err)
	}
	kv := []string{"host=" + quote(host), "port=" + quote(port), "user=" + quote(cc.user), "dbname=" + quote(cc.database), "sslmode=disable"}
	if cc.password != "" {
		kv = append(kv, "password="+quote(cc.password))
	}
	return strings.Join(kv, " "), nil
}

// quote makes v one value of a keyword/value connection string.
func quote(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// errNoCancel is the refusal of a cancel request's connection.
var errNoCancel = errors.New("postgres: faultline sends no cancel requests")

// connectTo opens one session to the server at ep.
func connectTo(ctx context.Context, ep endpoint, cc connConfig) (*pgx.Conn, error) {
	dsn, err := cc.dsn(ep.addr)
	if err != nil {
		return nil, err
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: connection config: %w", err)
	}
	// One host, no fallbacks: a connection error must mean this node.
	cfg.Fallbacks = nil
	// No cancel requests: pgx sends one (over a second connection) when an
	// op times out, and a cancel ends a COMMIT's wait for a synchronous
	// standby and makes the commit visible on the primary though no
	// standby has it; a failover then loses what reads saw. We found that
	// with replication=sync; a client that just drops the connection
	// leaves the commit waiting, invisible, as sync replication means.
	// Only CancelRequest dials a second time.
	dial := cfg.DialFunc
	var dialed atomic.Bool
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if dialed.Swap(true) {
			return nil, errNoCancel
		}
		return dial(ctx, network, addr)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: connect: %w", ep.name, err)
	}
	return conn, nil
}

// connect opens one session to n as faultline's deployment is reached.
func connect(ctx context.Context, n node.Node) (*pgx.Conn, error) {
	return connectTo(ctx, endpointOf(n), defaultConn())
}

// clientConfig is what a Client needs of its deployment.
type clientConfig struct {
	isolation string
	readFrom  string
	conn      connConfig
	// primary names the server writes go to now; false when none is known.
	primary func() (endpoint, bool)
	// self is the worker's own server, where reads go with
	// read-from=standby.
	self endpoint
}

// newClient is the one constructor of Client, for NewClient and Dial.
// Connections are opened lazily, within each op's deadline.
func newClient(cfg clientConfig) *Client {
	return &Client{cfg: cfg}
}

// Names of the options of Dial that are not the target's.
const (
	OptUser     = "user"
	OptPassword = "password"
	OptDatabase = "database"
)

// DialOptions describes the options Dial and Prepare take.
func DialOptions() map[string]string {
	return map[string]string{
		OptIsolation: Options()[OptIsolation],
		OptUser:      "the role to log in as (default postgres)",
		OptPassword:  "its password (default none: trust authentication)",
		OptDatabase:  "the database holding the workloads' tables (default postgres)",
	}
}

// DialWorkloads names the workloads a Client serves.
func DialWorkloads() []string { return []string{"register", "set", "bank", "list-append"} }

// parseDialOptions checks opts against DialOptions; an unknown option or
// a bad value is refused in one line.
func parseDialOptions(opts map[string]string) (isolation string, cc connConfig, err error) {
	isolation, cc = IsolationSerializable, defaultConn()
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the same error for the same options
	for _, k := range keys {
		v := opts[k]
		switch k {
		case OptIsolation:
			if allowed := optionValues()[OptIsolation]; !contains(allowed, v) {
				return "", connConfig{}, fmt.Errorf("postgres: option %s=%q: must be one of %s", k, v, strings.Join(allowed, ", "))
			}
			isolation = v
		case OptUser, OptDatabase:
			if v == "" {
				return "", connConfig{}, fmt.Errorf("postgres: option %s: must not be empty", k)
			}
			if k == OptUser {
				cc.user = v
			} else {
				cc.database = v
			}
		case OptPassword:
			cc.password = v
		default:
			known := make([]string, 0, len(DialOptions()))
			for n := range DialOptions() {
				known = append(known, n)
			}
			sort.Strings(known)
			return "", connConfig{}, fmt.Errorf("postgres: unknown option %q (known: %s)", k, strings.Join(known, ", "))
		}
	}
	return isolation, cc, nil
}

// prepareTimeout bounds Prepare when Dial calls it.
const prepareTimeout = 20 * time.Second

// Dial opens a client that speaks the PostgreSQL wire protocol to the
// server at addr (host:port) only, reads and writes alike: the client
// protocol apart from faultline's own deployment (which follows its
// primary across failovers), for any server that speaks it. It first runs
// Prepare, so the workloads' tables exist. Options are DialOptions; an
// unknown one is refused before anything is sent.
func Dial(ctx context.Context, addr string, opts map[string]string) (workloads.Client, error) {
	iso, cc, err := parseDialOptions(opts)
	if err != nil {
		return nil, err
	}
	ep := endpoint{name: addr, addr: addr}
	pctx, cancel := context.WithTimeout(ctx, prepareTimeout)
	defer cancel()
	if err := prepare(pctx, ep, cc); err != nil {
		return nil, err
	}
	return newClient(clientConfig{
		isolation: iso, readFrom: ReadFromPrimary, conn: cc, self: ep,
		primary: func() (endpoint, bool) { return ep, true },
	}), nil
}

// Prepare creates the tables the workloads use on the server at addr
// (host:port), as the user and database opts name (DialOptions), unless
// they exist; it is idempotent and safe to run from several clients at
// once. faultline's own deployment does it in Setup; Dial does it for any
// other.
func Prepare(ctx context.Context, addr string, opts map[string]string) error {
	_, cc, err := parseDialOptions(opts)
	if err != nil {
		return err
	}
	return prepare(ctx, endpoint{name: addr, addr: addr}, cc)
}

func prepare(ctx context.Context, ep endpoint, cc connConfig) error {
	conn, err := connectTo(ctx, ep, cc)
	if err != nil {
		return fmt.Errorf("postgres: create schema: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var ready bool
	err = conn.QueryRow(ctx, `SELECT to_regclass('registers') IS NOT NULL AND to_regclass('set_elems') IS NOT NULL
		AND to_regclass('accounts') IS NOT NULL AND to_regclass('lists') IS NOT NULL`).Scan(&ready)
	if err != nil {
		return fmt.Errorf("postgres: %s: look for the schema: %w", ep.name, err)
	}
	if ready {
		// Nothing to write, so also a standby (read-only) will do.
		return nil
	}
	return createSchemaOn(ctx, conn)
}

// schema is every table the workloads use. It runs as one implicit
// transaction (one simple-protocol query), serialized by an advisory lock
// so that concurrent creators do not collide on the catalog; it commits
// locally, without waiting for a synchronous standby (on faultline's own
// deployment it runs before any standby exists; standbys get it with their
// base backup).
const schema = `
SET synchronous_commit = local;
SELECT pg_advisory_xact_lock(7462019385);
CREATE TABLE IF NOT EXISTS faultline_health (id int PRIMARY KEY, at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS registers (id text PRIMARY KEY, val bigint NOT NULL);
CREATE TABLE IF NOT EXISTS set_elems (k text NOT NULL, elem bigint NOT NULL, PRIMARY KEY (k, elem));
CREATE TABLE IF NOT EXISTS accounts (id text PRIMARY KEY, balance bigint NOT NULL);
CREATE TABLE IF NOT EXISTS lists (id text PRIMARY KEY, vals bigint[] NOT NULL);
`

// createSchemaOn creates the tables on conn's server.
func createSchemaOn(ctx context.Context, conn *pgx.Conn) error {
	// Simple protocol: several statements in one go.
	if _, err := conn.PgConn().Exec(ctx, schema).ReadAll(); err != nil {
		return fmt.Errorf("postgres: create schema: %w", err)
	}
	return nil
}
