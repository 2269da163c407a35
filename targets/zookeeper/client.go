package zookeeper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/faultline/faultline/workloads"
)

// sessionTimeout is the session timeout of register and set clients; lock
// clients ask for the workload's lease instead. The server bounds it to
// 2..20 ticks (1..10 s).
const sessionTimeout = 5 * time.Second

// connectWait bounds how long an op waits for its client to have a
// session before it gives up without sending anything: while the server
// is down or outside a quorum every op would otherwise queue in the
// library and time out, each an indeterminate op.
const connectWait = time.Second

// Client serves the register, set and lock workloads on one server. A
// worker uses its client from one goroutine.
//
// Re-sends: the zk library never writes a request twice. When the
// connection breaks it fails the requests on the wire (ErrConnectionClosed
// or ErrSessionExpired: indeterminate) and, before each reconnect attempt,
// those still queued and never written (ErrNoServer: definite). A request
// queued after that flush would be written once the connection is back,
// so an op is only issued while the client has a session (else it is
// refused at once, definitely); the race left between that check and the
// queueing can only delay a request, and every op cut short by its
// deadline is indeterminate (writes info), which covers a late effect.
// The lock's requests are the exception that matters: a contender znode
// created late would hold or block the lock unseen, so a lock op cut
// short, or uncertain, ends the client's session (Close: anything still
// queued fails with ErrClosing; ZooKeeper deletes the session's ephemeral
// znodes) and the next op opens a new one.
type Client struct {
	server   string // host:port of its one server
	node     string
	sync     bool // sync(path) before every read
	versions *workloads.Versions[int32]
	lookup   bool // CAS may read a version it does not know (Dial's clients)
	log      *slog.Logger

	conn *zk.Conn      // nil until the first op and after a drop
	ttl  time.Duration // conn's session timeout
	held map[string]heldLock
}

// heldLock is a lock this client was granted: its contender znode and
// the session timeout it was taken with.
type heldLock struct {
	path string
	ttl  time.Duration
}

var (
	_ workloads.RegisterClient = (*Client)(nil)
	_ workloads.SetClient      = (*Client)(nil)
	_ workloads.LockClient     = (*Client)(nil)
)

// errNotConnected is an op's answer when its client has no session with
// its server: nothing was sent.
var errNotConnected = errors.New("no session with the server")

// errNoAnswer marks an op whose requests were still unanswered when its
// context ended.
var errNoAnswer = errors.New("no answer")

// Close ends the client's session (its ephemeral znodes go with it).
func (c *Client) Close() error {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
	return nil
}

// drop abandons the connection in the background: Close waits up to a
// second for the server to acknowledge the end of the session.
func (c *Client) drop() {
	if conn := c.conn; conn != nil {
		c.conn = nil
		go conn.Close()
	}
}

// connection returns a connection with a session timeout of ttl that has
// a session, waiting for one briefly; else a definite error.
func (c *Client) connection(ctx context.Context, ttl time.Duration) (*zk.Conn, error) {
	if c.conn != nil && c.ttl != ttl {
		c.drop()
	}
	if c.conn == nil {
		conn, _, err := zk.Connect([]string{c.server}, ttl,
			zk.WithLogger(zkLogger{c.log}), zk.WithLogInfo(false))
		if err != nil {
			return nil, workloads.Definite(fmt.Errorf("%s: connect: %w", c.node, err))
		}
		c.conn, c.ttl = conn, ttl
	}
	if c.conn.State() == zk.StateHasSession {
		return c.conn, nil
	}
	wait := time.NewTimer(connectWait)
	defer wait.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, workloads.Definite(fmt.Errorf("%s: %w (%s)", c.node, errNotConnected, c.conn.State()))
		case <-wait.C:
			return nil, workloads.Definite(fmt.Errorf("%s: %w (%s)", c.node, errNotConnected, c.conn.State()))
		case <-tick.C:
			if c.conn.State() == zk.StateHasSession {
				return c.conn, nil
			}
		}
	}
}

// call runs f, the requests of one op, on a connection with a session,
// until f returns or ctx ends. f must touch nothing but its connection
// and its own variables: after a timeout it runs on unobserved until the
// library answers or fails its request.
func (c *Client) call(ctx context.Context, ttl time.Duration, what string, f func(*zk.Conn) error) error {
	conn, err := c.connection(ctx, ttl)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- f(conn) }()
	select {
	case err := <-done:
		if err != nil {
			return classify(fmt.Errorf("%s on %s: %w", what, c.node, err))
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s on %s: %w: %w", what, c.node, errNoAnswer, ctx.Err())
	}
}

// classify marks the errors after which ZooKeeper certainly did not apply
// a request: the server's refusals (the node exists, does not, has
// another version, has children; bad arguments; no permission) and the
// library's ErrNoServer, which it gives requests it never sent. A closed
// connection and an expired session fail sent and unsent requests alike,
// and a timeout says nothing: those stay indeterminate.
func classify(err error) error {
	if err == nil || workloads.IsDefinite(err) {
		return err
	}
	for _, d := range []error{zk.ErrNodeExists, zk.ErrNoNode, zk.ErrBadVersion, zk.ErrNotEmpty,
		zk.ErrBadArguments, zk.ErrNoAuth, zk.ErrNoServer} {
		if errors.Is(err, d) {
			return workloads.Definite(err)
		}
	}
	return err
}

// create makes a persistent znode; ensure also when it exists already.
func create(conn *zk.Conn, path string, data []byte) error {
	_, err := conn.Create(path, data, 0, zk.WorldACL(zk.PermAll))
	return err
}

func ensure(conn *zk.Conn, path string) error {
	if err := create(conn, path, nil); err != nil && !errors.Is(err, zk.ErrNodeExists) {
		return err
	}
	return nil
}

// ensure creates the persistent znode path if it is missing.
func (c *Client) ensure(ctx context.Context, path string) error {
	return c.call(ctx, sessionTimeout, "create "+path, func(conn *zk.Conn) error { return ensure(conn, path) })
}

// syncRead runs sync(path) first when the target reads with sync: the
// server then catches up with the leader as of the sync before it answers
// the read that follows on the same session.
func (c *Client) syncRead(conn *zk.Conn, path string) error {
	if !c.sync {
		return nil
	}
	if _, err := conn.Sync(path); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	return nil
}

// --- register: one znode per key holding the value in decimal ---

func registerZnode(key string) string { return registerPath + "/" + key }

// Read gets the key's znode from the client's server (after a sync, with
// reads=sync), and remembers which data version holds the value.
func (c *Client) Read(ctx context.Context, key string) (int64, bool, error) {
	path := registerZnode(key)
	var data []byte
	var st *zk.Stat
	err := c.call(ctx, sessionTimeout, "read "+key, func(conn *zk.Conn) error {
		if err := c.syncRead(conn, path); err != nil {
			return err
		}
		d, s, err := conn.Get(path)
		data, st = d, s
		return err
	})
	if errors.Is(err, zk.ErrNoNode) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	v, err := strconv.ParseInt(string(data), 10, 64)
	if err != nil {
		return 0, false, workloads.Definite(fmt.Errorf("key %s holds %q, not an integer", key, data))
	}
	c.versions.Remember(key, v, st.Version)
	return v, true, nil
}

// Write sets the key's znode whatever its version, creating it on the
// first write. Each step that fails definitely changed nothing, so the
// last step's error is the op's.
func (c *Client) Write(ctx context.Context, key string, value int64) error {
	path := registerZnode(key)
	data := []byte(strconv.FormatInt(value, 10))
	var version int32
	err := c.call(ctx, sessionTimeout, "write "+key, func(conn *zk.Conn) error {
		st, err := conn.Set(path, data, -1)
		if errors.Is(err, zk.ErrNoNode) {
			if err = create(conn, path, data); err == nil {
				version = 0
				return nil
			}
			if errors.Is(err, zk.ErrNodeExists) { // another writer created it meanwhile
				st, err = conn.Set(path, data, -1)
			}
		}
		if err == nil {
			version = st.Version
		}
		return err
	})
	if err != nil {
		return err
	}
	c.versions.Remember(key, value, version)
	return nil
}

// CAS sets the key to new if it holds old, as one conditional set: it
// expects the znode's data version to be the one that holds old. Values
// are unique per key and register znodes are never deleted, so that
// version is the only one ever holding old, and the set succeeds exactly
// when the key still holds old; no read is involved, so a stale read
// cannot make a cas wrong. The version is known from the op that wrote or
// read old (the generator offers only values an ok op saw).
func (c *Client) CAS(ctx context.Context, key string, old, new int64) (bool, error) {
	if old == 0 {
		// Workloads never write 0, and an unset key holds nothing: the
		// comparison certainly fails.
		return false, nil
	}
	version, ok := c.versions.Of(key, old)
	if !ok && c.lookup {
		var err error
		if version, ok, err = c.lookupVersion(ctx, key, old); err != nil {
			return false, err
		}
	}
	if !ok {
		// Nothing is sent, so nothing happens; but the comparison's
		// outcome is unknown, so it is no answer.
		return false, workloads.Definite(fmt.Errorf("cas %s: no known version holds %d", key, old))
	}
	path := registerZnode(key)
	var st *zk.Stat
	err := c.call(ctx, sessionTimeout, "cas "+key, func(conn *zk.Conn) error {
		s, err := conn.Set(path, []byte(strconv.FormatInt(new, 10)), version)
		st = s
		return err
	})
	if errors.Is(err, zk.ErrBadVersion) || errors.Is(err, zk.ErrNoNode) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	c.versions.Remember(key, new, st.Version)
	return true, nil
}

// --- set: one child znode per element under the set's znode ---

func setZnode(key string) string { return setPath + "/" + key }

// AddElement creates the element's znode, and the set's on its first add.
func (c *Client) AddElement(ctx context.Context, key string, elem int64) error {
	parent := setZnode(key)
	path := parent + "/" + strconv.FormatInt(elem, 10)
	return c.call(ctx, sessionTimeout, "add to "+key, func(conn *zk.Conn) error {
		err := create(conn, path, nil)
		if errors.Is(err, zk.ErrNoNode) {
			if err = ensure(conn, parent); err != nil {
				return err
			}
			err = create(conn, path, nil)
		}
		if errors.Is(err, zk.ErrNodeExists) {
			// The element is in the set, which is what an add asks for
			// (the workload never adds an element twice, so this can only
			// follow an earlier add of it whose outcome was unknown).
			return nil
		}
		return err
	})
}

// ReadSet lists the set's children (after a sync, with reads=sync).
func (c *Client) ReadSet(ctx context.Context, key string) ([]int64, error) {
	parent := setZnode(key)
	var names []string
	err := c.call(ctx, sessionTimeout, "read set "+key, func(conn *zk.Conn) error {
		if err := c.syncRead(conn, parent); err != nil {
			return err
		}
		kids, _, err := conn.Children(parent)
		names = kids
		return err
	})
	if errors.Is(err, zk.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]int64, 0, len(names))
	for _, n := range names {
		e, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			return nil, workloads.Definite(fmt.Errorf("set %s has child %q, not an element", key, n))
		}
		out = append(out, e)
	}
	return out, nil
}

// --- lock: ZooKeeper's lock recipe without waiting ---

// contenderPrefix names contender znodes; ZooKeeper appends a 10-digit
// sequence number.
const contenderPrefix = "lock-"

func lockZnode(name string) string { return lockPath + "/" + name }

// seqOf returns the sequence number of a contender znode's name or path.
func seqOf(name string) (int64, bool) {
	i := strings.LastIndex(name, contenderPrefix)
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(name[i+len(contenderPrefix):], 10, 64)
	return n, err == nil && n >= 0
}

// lowest returns the smallest sequence number among contender names.
func lowest(names []string) (int64, bool) {
	seqs := make([]int64, 0, len(names))
	for _, n := range names {
		if s, ok := seqOf(n); ok {
			seqs = append(seqs, s)
		}
	}
	if len(seqs) == 0 {
		return 0, false
	}
	return slices.Min(seqs), true
}

// fencingToken is the token of a grant to the contender with sequence
// number seq: seq+1, since the first contender of a lock gets 0 and the
// lock workload takes 0 for "no token".
func fencingToken(seq int64) int64 { return seq + 1 }

// lockOutcome is what one acquire's requests found.
type lockOutcome int

const (
	lockRefused   lockOutcome = iota // someone else holds it; our znode is deleted again
	lockGranted                      // our znode is the lowest
	lockUncertain                    // our znode may exist: the session must go
)

// Acquire takes the lock called name, without waiting: it creates an
// ephemeral sequential contender znode under the lock's znode and holds
// the lock when its znode has the lowest sequence number; else it deletes
// its znode and answers that the lock is held. The session is the lease:
// when it expires ZooKeeper deletes the znode and the lock is lost. The
// fencing token comes from the sequence number, which grows with every
// contender and so with every grant (see fencingToken).
func (c *Client) Acquire(ctx context.Context, name string, ttl time.Duration) (int64, bool, error) {
	dir := lockZnode(name)
	var (
		created string
		outcome = lockRefused // until a create is sent
	)
	err := c.call(ctx, ttl, "acquire "+name, func(conn *zk.Conn) error {
		outcome = lockUncertain
		p, err := conn.Create(dir+"/"+contenderPrefix, nil, zk.FlagEphemeral|zk.FlagSequence, zk.WorldACL(zk.PermAll))
		if errors.Is(err, zk.ErrNoNode) {
			if err = ensure(conn, dir); err != nil {
				// Only the lock's parent may have been made: nothing of
				// ours exists.
				outcome = lockRefused
				return workloads.Definite(err)
			}
			p, err = conn.Create(dir+"/"+contenderPrefix, nil, zk.FlagEphemeral|zk.FlagSequence, zk.WorldACL(zk.PermAll))
		}
		if err != nil {
			if workloads.IsDefinite(classify(err)) {
				outcome = lockRefused
			}
			return err
		}
		created = p
		// Our server has applied our create, and so every contender
		// created before it: the lowest it lists holds the lock.
		kids, _, err := conn.Children(dir)
		if err != nil {
			return fmt.Errorf("list contenders: %w", err)
		}
		mine, _ := seqOf(p)
		if low, ok := lowest(kids); ok && low == mine {
			outcome = lockGranted
			return nil
		}
		if err := conn.Delete(p, -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
			return fmt.Errorf("withdraw %s: %w", p, err)
		}
		outcome = lockRefused
		return nil
	})
	switch {
	case errors.Is(err, errNoAnswer):
		// f may still be running: its variables are not ours to read.
		// Ending the session deletes any contender of ours, also one a
		// request still queued in the library would create.
		c.drop()
		return 0, false, err
	case err == nil && outcome == lockGranted:
		c.held[name] = heldLock{path: created, ttl: ttl}
		seq, _ := seqOf(created)
		return fencingToken(seq), true, nil
	case err == nil:
		return 0, false, nil
	case outcome == lockRefused && workloads.IsDefinite(err):
		return 0, false, err
	}
	// Our contender may exist, holding or queued for the lock without
	// anyone knowing: end the session so that ZooKeeper deletes it.
	c.drop()
	if workloads.IsDefinite(err) {
		// A definite error of a later request (listing, withdrawing) does
		// not undo the create.
		err = fmt.Errorf("after creating a contender: %s", err.Error())
	}
	return 0, false, err
}

// Release deletes the client's contender znode. It is gone when the
// session that created it expired or was dropped: then the lock was lost
// before, and nothing is done.
func (c *Client) Release(ctx context.Context, name string) (bool, error) {
	h, ok := c.held[name]
	if !ok {
		return false, nil
	}
	err := c.call(ctx, h.ttl, "release "+name, func(conn *zk.Conn) error { return conn.Delete(h.path, -1) })
	if errors.Is(err, zk.ErrNoNode) {
		delete(c.held, name)
		return false, nil
	}
	if err != nil && !workloads.IsDefinite(err) {
		// Released or not: ending the session releases it.
		delete(c.held, name)
		c.drop()
	}
	if err != nil {
		return false, err
	}
	delete(c.held, name)
	return true, nil
}
