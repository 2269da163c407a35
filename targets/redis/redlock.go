package redis

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-redsync/redsync/v4"
	redsyncredis "github.com/go-redsync/redsync/v4/redis"
	rsgoredis "github.com/go-redsync/redsync/v4/redis/goredis/v9"
	goredis "github.com/redis/go-redis/v9"

	"github.com/faultline/faultline/workloads"
)

// RedlockClient serves the lock workload with Redlock (redsync) over
// independent masters: a lock is held when a majority granted it within
// its validity. Redlock issues no fencing token, so tokens are 0.
type RedlockClient struct {
	clients []*goredis.Client
	rs      *redsync.Redsync

	mu   sync.Mutex
	seq  int
	held map[string]*redsync.Mutex // lock name -> last mutex tried
}

var _ workloads.LockClient = (*RedlockClient)(nil)

func newRedlockClient(addrs []string) *RedlockClient {
	c := &RedlockClient{held: map[string]*redsync.Mutex{}}
	pools := make([]redsyncredis.Pool, len(addrs))
	for i, a := range addrs {
		cl := goredis.NewClient(clientOptions(a))
		c.clients = append(c.clients, cl)
		pools[i] = rsgoredis.NewPool(cl)
	}
	c.rs = redsync.New(pools...)
	return c
}

// Close closes the connections to every master.
func (c *RedlockClient) Close() error {
	var err error
	for _, cl := range c.clients {
		err = errors.Join(err, cl.Close())
	}
	return err
}

// Acquire tries once to take the lock on a majority of masters. A refusal
// in which every master answered (the lock taken, or the grant too late
// to be valid) is definite: redsync has released what it got. When some
// master did not answer, the grant there is unknown: indeterminate.
func (c *RedlockClient) Acquire(ctx context.Context, name string, ttl time.Duration) (int64, bool, error) {
	c.mu.Lock()
	c.seq++
	value := fmt.Sprintf("%p-%d", c, c.seq)
	c.mu.Unlock()
	// Our own value, set before trying, so that Release can free a grant
	// whose outcome was unknown.
	m := c.rs.NewMutex("redlock:"+name, redsync.WithExpiry(ttl), redsync.WithTries(1), redsync.WithValue(value),
		redsync.WithGenValueFunc(func() (string, error) { return value, nil }))
	c.mu.Lock()
	c.held[name] = m
	c.mu.Unlock()
	err := m.LockContext(ctx)
	if err == nil {
		return 0, true, nil
	}
	if unanswered(err) || ctx.Err() != nil {
		return 0, false, fmt.Errorf("redlock acquire %s: %w", name, err)
	}
	return 0, false, nil
}

// Release unlocks on every master. Released on a majority: held. Every
// master answered and fewer than a majority still had our value: the
// lease had lapsed, certainly not held.
func (c *RedlockClient) Release(ctx context.Context, name string) (bool, error) {
	c.mu.Lock()
	m := c.held[name]
	c.mu.Unlock()
	if m == nil || m.Value() == "" {
		return false, nil
	}
	ok, err := m.UnlockContext(ctx)
	if ok {
		return true, nil
	}
	if err != nil && (unanswered(err) || ctx.Err() != nil) {
		return false, fmt.Errorf("redlock release %s: %w", name, err)
	}
	return false, nil
}

// unanswered reports whether err includes a master whose reply was lost
// (a redsync.RedisError that is not a definite Redis refusal). redsync
// joins one error per master, so every branch is looked at.
func unanswered(err error) bool {
	if err == nil {
		return false
	}
	if re, ok := err.(*redsync.RedisError); ok {
		return !definite(re.Err)
	}
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if unanswered(e) {
				return true
			}
		}
	case interface{ Unwrap() error }:
		return unanswered(u.Unwrap())
	}
	return false
}
