package zookeeper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/faultline/faultline/workloads"
)

// DialOptions describes the options Dial takes: those of the target, all
// of which concern clients.
func DialOptions() map[string]string { return Options() }

// DialWorkloads names the workloads a Client serves.
func DialWorkloads() []string { return []string{"register", "set", "lock"} }

// prepareTimeout bounds the creation of the parent znodes when Dial does it.
const prepareTimeout = 10 * time.Second

// Dial opens a client that speaks ZooKeeper's protocol to the server at
// addr (host:port) only: the client protocol apart from faultline's own
// ensemble, for any server that speaks it. It creates the workloads'
// parent znodes (under /faultline) unless they exist. Without the
// ensemble's shared record of which znode version holds which value, a
// compare-and-set whose value this client has not seen looks the version
// up with a read first (see CAS). Options are DialOptions; an unknown one
// is refused before anything is sent.
func Dial(ctx context.Context, addr string, opts map[string]string) (workloads.Client, error) {
	s, err := parseOptions(opts)
	if err != nil {
		return nil, err
	}
	c := newClient(addr, addr, s, &workloads.Versions[int32]{}, true, slog.Default())
	pctx, cancel := context.WithTimeout(ctx, prepareTimeout)
	defer cancel()
	for {
		err := c.ensureParents(pctx)
		if err == nil {
			return c, nil
		}
		select {
		case <-pctx.Done():
			c.Close()
			return nil, fmt.Errorf("zookeeper: %s: %w", addr, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// newClient is the one constructor of Client, for NewClient and Dial: a
// client of the server at addr (host:port), called name in logs, reading
// as s says, sharing versions with the other clients of its run; lookup
// lets CAS read a version it does not know. The connection is made on the
// first op: the library connects in the background anyway.
func newClient(name, addr string, s settings, versions *workloads.Versions[int32], lookup bool, log *slog.Logger) *Client {
	return &Client{
		server: addr, node: name, sync: s.reads == ReadsSync, versions: versions, lookup: lookup,
		log: log.With("node", name), held: map[string]heldLock{},
	}
}

// ensureParents creates the workloads' parent znodes that are missing.
func (c *Client) ensureParents(ctx context.Context) error {
	for _, p := range []string{rootPath, registerPath, setPath, lockPath} {
		if err := c.ensure(ctx, p); err != nil {
			return fmt.Errorf("create %s: %w", p, err)
		}
	}
	return nil
}

// lookupVersion reads the key's znode: when it holds old, its data version
// is the one that holds old (values are unique per key and register znodes
// are never deleted, so no other version ever held it), whether or not the
// read is stale. A read changes nothing, so its errors are definite for
// the cas that needed it.
func (c *Client) lookupVersion(ctx context.Context, key string, old int64) (int32, bool, error) {
	var data []byte
	var st *zk.Stat
	err := c.call(ctx, sessionTimeout, "look up "+key, func(conn *zk.Conn) error {
		d, s, err := conn.Get(registerZnode(key))
		data, st = d, s
		return err
	})
	switch {
	case errors.Is(err, zk.ErrNoNode):
		return 0, false, nil
	case err != nil:
		return 0, false, workloads.Definite(fmt.Errorf("cas %s: look up the version holding %d: %w", key, old, err))
	}
	if v, perr := strconv.ParseInt(string(data), 10, 64); perr != nil || v != old {
		return 0, false, nil
	}
	c.versions.Remember(key, old, st.Version)
	return st.Version, true, nil
}
