package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/faultline/faultline/workloads"
)

// Lua scripts; each runs atomically on the primary.
const (
	// casScript sets KEYS[1] to ARGV[2] if it holds ARGV[1]: 1 swapped, 0 not.
	casScript = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0`
	// acquireScript takes lock KEYS[1] for owner ARGV[1] for ARGV[2] ms and,
	// in the same step, draws the fencing token from counter KEYS[2]: 0
	// means the lock is held by someone else.
	acquireScript = `if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return 0`
	// releaseScript deletes lock KEYS[1] only if owner ARGV[1] holds it.
	releaseScript = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`
)

// Client serves the register, set, counter and lock workloads for one
// worker: writes on w (the primary, through Sentinel when it runs), reads
// on r (w, or the worker's own node with replica-reads=true).
type Client struct {
	w, r *goredis.Client
	wait int
	id   string

	mu    sync.Mutex
	seq   int
	owned map[string]string // lock name -> owner value last used
}

var (
	_ workloads.RegisterClient = (*Client)(nil)
	_ workloads.SetClient      = (*Client)(nil)
	_ workloads.CounterClient  = (*Client)(nil)
	_ workloads.LockClient     = (*Client)(nil)
)

// Close closes the connections.
func (c *Client) Close() error {
	err := c.w.Close()
	if c.r != c.w {
		err = errors.Join(err, c.r.Close())
	}
	return err
}

// errShortWait is the error of a write WAIT did not see on enough
// replicas: the write is on the primary, so it stays indeterminate.
type errShortWait struct{ want, got int64 }

func (e errShortWait) Error() string {
	return fmt.Sprintf("WAIT %d: only %d replicas acknowledged (the write is on the primary)", e.want, e.got)
}

// write runs one write command on the primary, followed on the same
// connection by WAIT when the target runs with wait=n. add appends the
// command to a pipeline and returns it.
func (c *Client) write(ctx context.Context, add func(goredis.Pipeliner) goredis.Cmder) (goredis.Cmder, error) {
	pipe := c.w.Pipeline()
	cmd := add(pipe)
	var wait *goredis.Cmd
	if c.wait > 0 {
		// Leave half the op's time for the reply, at least 10 ms for WAIT.
		timeout := time.Second
		if d, ok := ctx.Deadline(); ok {
			timeout = max(time.Until(d)/2, 10*time.Millisecond)
		}
		// Pipeliner has no Wait: WAIT by name, on the write's connection.
		wait = pipe.Do(ctx, "WAIT", c.wait, timeout.Milliseconds())
	}
	_, err := pipe.Exec(ctx)
	if cerr := cmd.Err(); cerr != nil && !errors.Is(cerr, goredis.Nil) {
		return cmd, classify(cerr)
	}
	if wait != nil {
		if werr := wait.Err(); werr != nil {
			// The write itself succeeded: whatever WAIT says, it may stay.
			return cmd, fmt.Errorf("WAIT after a successful write: %w", werr)
		}
		if got, _ := wait.Int64(); got < int64(c.wait) {
			return cmd, errShortWait{int64(c.wait), got}
		}
	}
	if err != nil && !errors.Is(err, goredis.Nil) {
		return cmd, classify(err)
	}
	return cmd, nil
}

// Read gets a register.
func (c *Client) Read(ctx context.Context, key string) (int64, bool, error) {
	v, err := c.r.Get(ctx, key).Int64()
	switch {
	case errors.Is(err, goredis.Nil):
		return 0, false, nil
	case err != nil:
		return 0, false, classify(err)
	}
	return v, true, nil
}

// Write sets a register.
func (c *Client) Write(ctx context.Context, key string, value int64) error {
	_, err := c.write(ctx, func(p goredis.Pipeliner) goredis.Cmder { return p.Set(ctx, key, value, 0) })
	return err
}

// CAS sets a register to new if it holds old, in a Lua script.
func (c *Client) CAS(ctx context.Context, key string, old, new int64) (bool, error) {
	cmd, err := c.write(ctx, func(p goredis.Pipeliner) goredis.Cmder {
		return p.Eval(ctx, casScript, []string{key}, old, new)
	})
	if err != nil {
		// A failed comparison wrote nothing, whatever WAIT said.
		var sw errShortWait
		if errors.As(err, &sw) && cmd.(*goredis.Cmd).Val() == int64(0) {
			return false, nil
		}
		return false, err
	}
	n, _ := cmd.(*goredis.Cmd).Int64()
	return n == 1, nil
}

// AddElement adds elem to the set at key (SADD).
func (c *Client) AddElement(ctx context.Context, key string, elem int64) error {
	_, err := c.write(ctx, func(p goredis.Pipeliner) goredis.Cmder { return p.SAdd(ctx, key, elem) })
	return err
}

// ReadSet returns the set at key, sorted (SMEMBERS).
func (c *Client) ReadSet(ctx context.Context, key string) ([]int64, error) {
	ms, err := c.r.SMembers(ctx, key).Result()
	if err != nil {
		return nil, classify(err)
	}
	out := make([]int64, 0, len(ms))
	for _, m := range ms {
		v, err := strconv.ParseInt(m, 10, 64)
		if err != nil {
			return nil, workloads.Definite(fmt.Errorf("set %s holds %q, not an integer", key, m))
		}
		out = append(out, v)
	}
	slices.Sort(out)
	return out, nil
}

// Increment adds delta to the counter at key (INCRBY).
func (c *Client) Increment(ctx context.Context, key string, delta int64) error {
	_, err := c.write(ctx, func(p goredis.Pipeliner) goredis.Cmder { return p.IncrBy(ctx, key, delta) })
	return err
}

// ReadCounter returns the counter at key, 0 when never written.
func (c *Client) ReadCounter(ctx context.Context, key string) (int64, error) {
	v, err := c.r.Get(ctx, key).Int64()
	switch {
	case errors.Is(err, goredis.Nil):
		return 0, nil
	case err != nil:
		return 0, classify(err)
	}
	return v, nil
}

// lockKeys are the lock's key and its fencing counter's, in one hash slot.
func lockKeys(name string) []string {
	return []string{"lock:{" + name + "}", "fence:{" + name + "}"}
}

// Acquire takes the lock with SET NX PX and draws its fencing token by
// INCR of a per-lock counter in the same script. The owner value is kept
// for Release even when the outcome is unknown, so a later Release can free
// a grant the worker never heard of.
func (c *Client) Acquire(ctx context.Context, name string, ttl time.Duration) (int64, bool, error) {
	c.mu.Lock()
	c.seq++
	owner := fmt.Sprintf("%s-%d", c.id, c.seq)
	c.owned[name] = owner
	c.mu.Unlock()
	ms := max(ttl.Milliseconds(), 1)
	cmd, err := c.write(ctx, func(p goredis.Pipeliner) goredis.Cmder {
		return p.Eval(ctx, acquireScript, lockKeys(name), owner, ms)
	})
	if err != nil {
		var sw errShortWait
		if errors.As(err, &sw) && cmd.(*goredis.Cmd).Val() == int64(0) {
			return 0, false, nil // refused: nothing written
		}
		return 0, false, err
	}
	tok, _ := cmd.(*goredis.Cmd).Int64()
	if tok == 0 {
		return 0, false, nil
	}
	return tok, true, nil
}

// Release deletes the lock if this client's last owner value holds it.
func (c *Client) Release(ctx context.Context, name string) (bool, error) {
	c.mu.Lock()
	owner, ok := c.owned[name]
	c.mu.Unlock()
	if !ok {
		return false, nil // never acquired here: certainly not held
	}
	cmd, err := c.write(ctx, func(p goredis.Pipeliner) goredis.Cmder {
		return p.Eval(ctx, releaseScript, lockKeys(name), owner)
	})
	if err != nil {
		var sw errShortWait
		if errors.As(err, &sw) && cmd.(*goredis.Cmd).Val() == int64(0) {
			return false, nil
		}
		return false, err
	}
	n, _ := cmd.(*goredis.Cmd).Int64()
	c.mu.Lock()
	if c.owned[name] == owner {
		delete(c.owned, name)
	}
	c.mu.Unlock()
	return n == 1, nil
}

// classify marks the errors after which Redis certainly did not apply a
// command (facts file): server error replies (READONLY, NOREPLICAS,
// MASTERDOWN, LOADING, OOM, ...), dial errors, no Sentinel reachable, pool
// timeouts and a closed client, none of which sent anything or which the
// server refused. Timeouts, context deadlines, EOF or a reset after
// sending stay indeterminate.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if definite(err) {
		return workloads.Definite(err)
	}
	return err
}

func definite(err error) bool {
	// A dial error first: go-redis wraps a dial that ran out of time in
	// the context's error, and nothing was sent.
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	switch {
	case errors.Is(err, goredis.ErrClosed), errors.Is(err, goredis.ErrPoolTimeout), errors.Is(err, goredis.ErrPoolExhausted):
		return true
	case strings.Contains(err.Error(), "redis: all sentinels specified in configuration are unreachable"),
		strings.Contains(err.Error(), "redis: no sentinels configured"):
		// The failover client found no primary to dial.
		return true
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return false
	}
	var rerr goredis.Error
	return errors.As(err, &rerr)
}
