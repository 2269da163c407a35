package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/workloads"
)

// NewClient opens a client for one worker. Single statements (register,
// set) run at PostgreSQL's default, read committed, which makes each one
// atomic and, on the primary, linearizable; the isolation option applies
// to the transactions of bank and list-append. Its writes go to the current
// primary (it reconnects when the primary changes); its reads go to the
// primary too, or with read-from=standby to node n, the worker's own node.
// Connections are opened lazily, within each op's deadline.
func (t *Target) NewClient(ctx context.Context, n node.Node) (workloads.Client, error) {
	if t.byName[n.Name()] == nil {
		return nil, fmt.Errorf("postgres: node %s is not part of this cluster", n.Name())
	}
	return newClient(clientConfig{
		isolation: t.cfg.isolation, readFrom: t.cfg.readFrom, conn: defaultConn(), self: endpointOf(n),
		primary: func() (endpoint, bool) {
			p := t.currentPrimary()
			if p == nil {
				return endpoint{}, false
			}
			return endpointOf(p), true
		},
	}), nil
}

// Client serves the register, set, bank and list-append workloads. A
// worker has one op outstanding, so a Client is not used concurrently.
type Client struct {
	cfg clientConfig

	primary     *pgx.Conn
	primaryNode string
	local       *pgx.Conn // to self, for reads with read-from=standby
}

var (
	_ workloads.RegisterClient = (*Client)(nil)
	_ workloads.SetClient      = (*Client)(nil)
	_ workloads.BankClient     = (*Client)(nil)
	_ workloads.TxnClient      = (*Client)(nil)
)

// Close closes the connections.
func (c *Client) Close() error {
	ctx := context.Background()
	if c.primary != nil {
		c.primary.Close(ctx)
	}
	if c.local != nil {
		c.local.Close(ctx)
	}
	return nil
}

// session is a connection an op runs on.
type session struct {
	conn    *pgx.Conn
	standby bool // the connection may be to a standby: no serializable, no writes
}

// writer returns a session on the current primary.
func (c *Client) writer(ctx context.Context) (session, error) {
	p, ok := c.cfg.primary()
	if !ok {
		return session{}, workloads.Definite(errors.New("postgres: no primary known"))
	}
	if c.primary != nil && (c.primary.IsClosed() || c.primaryNode != p.name) {
		c.primary.Close(context.WithoutCancel(ctx))
		c.primary = nil
	}
	if c.primary == nil {
		conn, err := dial(ctx, p, c.cfg.conn)
		if err != nil {
			return session{}, classify(err, phaseConnect)
		}
		c.primary, c.primaryNode = conn, p.name
	}
	return session{conn: c.primary}, nil
}

// reader returns the session reads use.
func (c *Client) reader(ctx context.Context) (session, error) {
	if c.cfg.readFrom == ReadFromPrimary {
		return c.writer(ctx)
	}
	if c.local != nil && c.local.IsClosed() {
		c.local = nil
	}
	if c.local == nil {
		conn, err := dial(ctx, c.cfg.self, c.cfg.conn)
		if err != nil {
			return session{}, classify(err, phaseConnect)
		}
		c.local = conn
	}
	return session{conn: c.local, standby: true}, nil
}

// connectTimeout bounds opening a session. It is not the op's deadline: a
// backend can take seconds to start on a loaded machine, and an op deadline
// of a second would then fail every op without ever getting a session.
// Nothing of the op is sent while connecting, so running over the op's
// deadline here only delays its (definite) outcome.
const connectTimeout = 5 * time.Second

// dial opens a session to ep for an op with context ctx: within
// connectTimeout rather than ctx's deadline, but given up when ctx is
// cancelled.
func dial(ctx context.Context, ep endpoint, cc connConfig) (*pgx.Conn, error) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), connectTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		if errors.Is(ctx.Err(), context.Canceled) {
			cancel()
		}
	})
	defer stop()
	conn, err := connectTo(cctx, ep, cc)
	if err != nil {
		// A node that is down refuses at once: pause a moment so a worker
		// does not fill the history with thousands of refusals a second.
		select {
		case <-ctx.Done():
		case <-time.After(dialBackoff):
		}
	}
	return conn, err
}

// dialBackoff is the pause after a failed connection attempt.
const dialBackoff = 100 * time.Millisecond

// done drops s's connection when err may have broken it, and classifies
// err for phase ph.
func (c *Client) done(s session, err error, ph phase) error {
	if err == nil {
		return nil
	}
	if brokenConn(err) {
		s.conn.Close(context.Background())
		if s.conn == c.primary {
			c.primary = nil
		}
		if s.conn == c.local {
			c.local = nil
		}
	}
	return classify(err, ph)
}

// Read returns the register's value.
func (c *Client) Read(ctx context.Context, key string) (int64, bool, error) {
	s, err := c.reader(ctx)
	if err != nil {
		return 0, false, err
	}
	var v int64
	err = s.conn.QueryRow(ctx, `SELECT val FROM registers WHERE id = $1`, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, c.done(s, err, phaseRead)
	}
	return v, true, nil
}

// Write sets the register in one autocommit statement.
func (c *Client) Write(ctx context.Context, key string, value int64) error {
	s, err := c.writer(ctx)
	if err != nil {
		return err
	}
	_, err = s.conn.Exec(ctx, `INSERT INTO registers (id, val) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET val = EXCLUDED.val`, key, value)
	return c.done(s, err, phaseCommit)
}

// CAS swaps the register from old to new in one autocommit statement.
func (c *Client) CAS(ctx context.Context, key string, old, new int64) (bool, error) {
	s, err := c.writer(ctx)
	if err != nil {
		return false, err
	}
	tag, err := s.conn.Exec(ctx, `UPDATE registers SET val = $3 WHERE id = $1 AND val = $2`, key, old, new)
	if err != nil {
		return false, c.done(s, err, phaseCommit)
	}
	return tag.RowsAffected() == 1, nil
}

// AddElement inserts one row per element.
func (c *Client) AddElement(ctx context.Context, key string, elem int64) error {
	s, err := c.writer(ctx)
	if err != nil {
		return err
	}
	_, err = s.conn.Exec(ctx, `INSERT INTO set_elems (k, elem) VALUES ($1, $2) ON CONFLICT DO NOTHING`, key, elem)
	return c.done(s, err, phaseCommit)
}

// ReadSet returns the set's elements in ascending order.
func (c *Client) ReadSet(ctx context.Context, key string) ([]int64, error) {
	s, err := c.reader(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := s.conn.Query(ctx, `SELECT elem FROM set_elems WHERE k = $1 ORDER BY elem`, key)
	if err != nil {
		return nil, c.done(s, err, phaseRead)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, c.done(s, err, phaseRead)
	}
	if out == nil {
		out = []int64{}
	}
	return out, nil
}

// txOptions are the options of a transaction at the target's isolation
// level on s. SERIALIZABLE is refused on a standby: there it is capped at
// snapshot isolation.
func (c *Client) txOptions(s session, readOnly bool) pgx.TxOptions {
	iso := c.cfg.isolation
	if s.standby && iso == IsolationSerializable {
		iso = IsolationRepeatableRead
	}
	o := pgx.TxOptions{}
	switch iso {
	case IsolationSerializable:
		o.IsoLevel = pgx.Serializable
	case IsolationRepeatableRead:
		o.IsoLevel = pgx.RepeatableRead
	default:
		o.IsoLevel = pgx.ReadCommitted
	}
	if readOnly {
		o.AccessMode = pgx.ReadOnly
	}
	return o
}

// inTx runs body in a transaction on s and commits it, classifying errors
// by how far it got: everything before COMMIT is definite.
func (c *Client) inTx(ctx context.Context, s session, readOnly bool, body func(pgx.Tx) error) error {
	tx, err := s.conn.BeginTx(ctx, c.txOptions(s, readOnly))
	if err != nil {
		return c.done(s, err, phaseBefore)
	}
	if err := body(tx); err != nil {
		// A refusal (Answer) or server error leaves the session usable
		// once rolled back; a broken one is replaced.
		rerr := tx.Rollback(context.WithoutCancel(ctx))
		if workloads.IsDefinite(err) {
			if rerr != nil {
				c.done(s, rerr, phaseBefore)
			}
			return err
		}
		return c.done(s, err, phaseBefore)
	}
	ph := phaseCommit
	if readOnly {
		ph = phaseRead
	}
	if err := tx.Commit(ctx); err != nil {
		return c.done(s, err, ph)
	}
	return nil
}

// CreateAccounts inserts the accounts that do not exist yet, all in one
// transaction.
func (c *Client) CreateAccounts(ctx context.Context, balances map[string]int64) error {
	s, err := c.writer(ctx)
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(balances))
	for id := range balances {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	bals := make([]int64, len(ids))
	for i, id := range ids {
		bals[i] = balances[id]
	}
	_, err = s.conn.Exec(ctx, `INSERT INTO accounts (id, balance) SELECT * FROM unnest($1::text[], $2::bigint[]) ON CONFLICT (id) DO NOTHING`, ids, bals)
	return c.done(s, err, phaseCommit)
}

// errInsufficient is the bank's refusal of an overdraft.
var errInsufficient = workloads.Answer(errors.New("insufficient funds"))

// Transfer reads both balances and writes both in one transaction, refusing
// an overdraft. No row locks: what keeps concurrent transfers apart is the
// isolation level alone (read committed loses updates).
func (c *Client) Transfer(ctx context.Context, from, to string, amount int64) error {
	s, err := c.writer(ctx)
	if err != nil {
		return err
	}
	return c.inTx(ctx, s, false, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, balance FROM accounts WHERE id = ANY($1)`, []string{from, to})
		if err != nil {
			return err
		}
		bal := map[string]int64{}
		var id string
		var b int64
		if _, err := pgx.ForEachRow(rows, []any{&id, &b}, func() error { bal[id] = b; return nil }); err != nil {
			return err
		}
		for _, a := range []string{from, to} {
			if _, ok := bal[a]; !ok {
				return workloads.Definite(fmt.Errorf("no account %q", a))
			}
		}
		if bal[from] < amount {
			return errInsufficient
		}
		if _, err := tx.Exec(ctx, `UPDATE accounts SET balance = $2 WHERE id = $1`, from, bal[from]-amount); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE accounts SET balance = $2 WHERE id = $1`, to, bal[to]+amount)
		return err
	})
}

// ReadBalances reads every account in one read-only transaction.
func (c *Client) ReadBalances(ctx context.Context) (map[string]int64, error) {
	s, err := c.reader(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	err = c.inTx(ctx, s, true, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, balance FROM accounts`)
		if err != nil {
			return err
		}
		var id string
		var b int64
		_, err = pgx.ForEachRow(rows, []any{&id, &b}, func() error { out[id] = b; return nil })
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Transact runs a list-append transaction: appends extend a bigint[] per
// key (the row is created by the first append), reads return it. A
// transaction with appends runs on the primary; a read-only one where reads
// go.
func (c *Client) Transact(ctx context.Context, ops []workloads.MicroOp) ([]workloads.MicroOp, error) {
	readOnly := true
	for _, op := range ops {
		switch op.F {
		case workloads.MicroAppend:
			readOnly = false
		case workloads.MicroRead:
		default:
			return nil, workloads.Definite(fmt.Errorf("list-append: unknown micro-op %q", op.F))
		}
	}
	var s session
	var err error
	if readOnly {
		s, err = c.reader(ctx)
	} else {
		s, err = c.writer(ctx)
	}
	if err != nil {
		return nil, err
	}
	out := make([]workloads.MicroOp, len(ops))
	copy(out, ops)
	err = c.inTx(ctx, s, readOnly, func(tx pgx.Tx) error {
		for i, op := range out {
			if op.F == workloads.MicroAppend {
				if _, err := tx.Exec(ctx, `INSERT INTO lists (id, vals) VALUES ($1, ARRAY[$2::bigint]) ON CONFLICT (id) DO UPDATE SET vals = lists.vals || EXCLUDED.vals`, op.Key, op.Value); err != nil {
					return err
				}
				continue
			}
			var vals []int64
			err := tx.QueryRow(ctx, `SELECT vals FROM lists WHERE id = $1`, op.Key).Scan(&vals)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				out[i].Read = nil
			case err != nil:
				return err
			default:
				if vals == nil {
					vals = []int64{}
				}
				out[i].Read = vals
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
