package etcd

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/faultline/faultline/workloads"
)

// Key spaces of the set and lock workloads, apart from the register's keys.
const (
	setPrefix  = "set/"
	lockPrefix = "lock/"
)

var (
	_ workloads.SetClient  = (*Client)(nil)
	_ workloads.LockClient = (*Client)(nil)
)

// setKey is the key of one element: a set is every key under its prefix,
// so an add is a single put and concurrent adds never conflict.
func setKey(set string, elem int64) string {
	return setPrefix + set + "/" + strconv.FormatInt(elem, 10)
}

// AddElement puts the element's key.
func (c *Client) AddElement(ctx context.Context, key string, elem int64) error {
	_, err := c.cli.Put(clientv3.WithRequireLeader(ctx), setKey(key, elem), "")
	return classify(err)
}

// ReadSet reads every element key of the set in one range read,
// linearizable unless the target runs read=serializable.
func (c *Client) ReadSet(ctx context.Context, key string) ([]int64, error) {
	opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithKeysOnly()}
	if c.serializable {
		opts = append(opts, clientv3.WithSerializable())
	} else {
		ctx = clientv3.WithRequireLeader(ctx)
	}
	pfx := setPrefix + key + "/"
	resp, err := c.cli.Get(ctx, pfx, opts...)
	if err != nil {
		return nil, classify(err)
	}
	out := make([]int64, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		e, err := strconv.ParseInt(strings.TrimPrefix(string(kv.Key), pfx), 10, 64)
		if err != nil {
			return nil, workloads.Definite(fmt.Errorf("set %s holds key %q, not an element", key, kv.Key))
		}
		out = append(out, e)
	}
	return out, nil
}

// lockState is a client's lock session: one lease kept alive while the
// client lives, and the mutexes it holds on it. A worker uses its client
// from one goroutine, so no mutex guards it.
type lockState struct {
	session *concurrency.Session
	ttl     int // the session lease's TTL in seconds
	held    map[string]*concurrency.Mutex
}

// ttlSeconds rounds a TTL up to etcd's lease unit.
func ttlSeconds(ttl time.Duration) int {
	return max(1, int(math.Ceil(ttl.Seconds())))
}

// lockSession returns a live session with the TTL, granting a new lease
// when there is none, it lapsed, or the TTL changed.
func (c *Client) lockSession(ctx context.Context, ttl int) (*concurrency.Session, error) {
	if s := c.lock.session; s != nil {
		select {
		case <-s.Done():
			// The lease lapsed (or could not be kept alive): whatever it
			// held is gone.
			c.dropSession(ctx)
		default:
			if c.lock.ttl == ttl {
				return s, nil
			}
			c.dropSession(ctx)
		}
	}
	// The grant is bounded by the op's context; the keepalive then lives
	// with the client (NewSession's default context).
	g, err := c.cli.Grant(ctx, int64(ttl))
	if err != nil {
		return nil, fmt.Errorf("grant lease: %w", err)
	}
	s, err := concurrency.NewSession(c.cli, concurrency.WithLease(g.ID), concurrency.WithTTL(ttl))
	if err != nil {
		return nil, fmt.Errorf("lock session: %w", err)
	}
	c.lock.session, c.lock.ttl, c.lock.held = s, ttl, map[string]*concurrency.Mutex{}
	return s, nil
}

// dropSession abandons the lock session: keepalives stop and the lease is
// revoked if the cluster answers quickly, else it lapses after its TTL, so
// a lock this client may hold without knowing it is freed either way.
func (c *Client) dropSession(ctx context.Context) {
	s := c.lock.session
	if s == nil {
		return
	}
	c.lock.session, c.lock.held = nil, nil
	s.Orphan()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 500*time.Millisecond)
	defer cancel()
	if _, err := c.cli.Revoke(rctx, s.Lease()); err != nil {
		c.log.Debug("lock lease not revoked; it will lapse", "lease", fmt.Sprintf("%x", s.Lease()), "err", err)
	}
}

// classifyLock is classify, plus: a lease the cluster no longer has makes
// the whole transaction fail, so nothing was taken.
func classifyLock(err error) error {
	if errors.Is(err, rpctypes.ErrLeaseNotFound) || errors.Is(err, rpctypes.ErrGRPCLeaseNotFound) {
		return workloads.Definite(err)
	}
	return classify(err)
}

// Acquire tries etcd's lease-based mutex on name without waiting
// (concurrency.Mutex.TryLock). The fencing token is the revision of the
// grant, which is the lock key's creation revision: it grows with every
// grant of the lock.
func (c *Client) Acquire(ctx context.Context, name string, ttl time.Duration) (int64, bool, error) {
	ctx = clientv3.WithRequireLeader(ctx)
	s, err := c.lockSession(ctx, ttlSeconds(ttl))
	if err != nil {
		// Only a lease was asked for, no lock key written: whatever
		// happened to the lease (it lapses unused), nothing was taken.
		return 0, false, workloads.Definite(err)
	}
	m := concurrency.NewMutex(s, lockPrefix+name)
	err = m.TryLock(ctx)
	switch {
	case err == nil:
		c.lock.held[name] = m
		return m.Header().Revision, true, nil
	case errors.Is(err, concurrency.ErrLocked):
		return 0, false, nil
	}
	// Either the put of our key or the clean-up of a losing key failed, so
	// our key may be in place, even as the holder: drop the session so the
	// lock does not stay taken by a client that does not know it holds it.
	err = classifyLock(err)
	c.dropSession(ctx)
	return 0, false, err
}

// Release deletes the lock key if this client's key still holds it; the
// key is gone when the session's lease lapsed, and then nothing is done.
func (c *Client) Release(ctx context.Context, name string) (bool, error) {
	m := c.lock.held[name]
	if m == nil {
		// Its session was dropped (or it never held it): certainly not ours.
		return false, nil
	}
	resp, err := c.cli.Txn(clientv3.WithRequireLeader(ctx)).
		If(m.IsOwner()).
		Then(clientv3.OpDelete(m.Key())).
		Commit()
	if err != nil {
		err = classifyLock(err)
		if !workloads.IsDefinite(err) {
			// Released or not: revoking the lease settles it.
			c.dropSession(ctx)
		}
		return false, err
	}
	delete(c.lock.held, name)
	return resp.Succeeded, nil
}
