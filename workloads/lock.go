package workloads

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/faultline/faultline/models/history"
)

// Lock is the lock workload: workers take named locks with a lease (TTL),
// keep them for a short critical section, and release them; one holder is
// expected at a time. Locks rotate like the register's keys, each shared by
// a group of workers.
//
// History (per models/lock, in the shape package linear's mutex model also
// reads): F "acquire" on Key whose value names the owner, a string unique
// to that attempt ("<worker>.<n>"); its ok completion carries
// {"owner": owner, "token": t} with the fencing token t the service
// issued, or just the owner when it issues none; F "release" on Key with
// the owner of the hold it ends. An acquire refused because the lock is
// held, and a release that found the lease already lapsed, are fails
// marked answered.
//
// The checker is "lock" (mutual exclusion from the acquire's completion to
// the next release's invocation, and strictly increasing fencing tokens).
// Porcupine's "mutex" model reads the same history (faultline check
// --model mutex) but is not named: a lease that lapses frees the lock with
// no op in the history, so a lease lock that behaves as designed would
// still fail it after any fault that outlasts the TTL.
type Lock struct {
	// TTL is the lease each acquire asks for (DefaultLockTTL when 0).
	TTL time.Duration
	// Hold bounds the critical section: a holder waits a random time up to
	// Hold before it releases (DefaultLockHold when 0, none when negative).
	// Overlapping holds can only be seen if holders hold.
	Hold time.Duration
}

// Defaults of the lock workload: the hold is far shorter than the lease,
// so a correct lease lock never lapses under a holder that is not stalled.
const (
	DefaultLockTTL       = 5 * time.Second
	DefaultLockHold      = 50 * time.Millisecond
	DefaultLockOpsPerKey = 200
)

// errLockHeld is an acquire's answer when someone else holds the lock.
var errLockHeld = Answer(errors.New("lock held by another client"))

// errNotHeld is a release's answer when the client no longer held it.
var errNotHeld = Answer(errors.New("lock not held any more (lease lapsed)"))

// Name implements Workload.
func (Lock) Name() string { return "lock" }

// Summary implements Workload.
func (l Lock) Summary() string {
	l = l.withDefaults()
	return fmt.Sprintf("acquire (lease %s) and release of named locks, held up to %s; checked for two holders at once and fencing tokens that do not increase",
		l.TTL, max(l.Hold, 0))
}

// Models implements Workload.
func (Lock) Models() []string { return []string{"lock"} }

// CheckClient implements Workload.
func (Lock) CheckClient(c Client) error {
	if _, ok := c.(LockClient); !ok {
		return fmt.Errorf("client %T does not implement the lock workload", c)
	}
	return nil
}

func (l Lock) withDefaults() Lock {
	if l.TTL <= 0 {
		l.TTL = DefaultLockTTL
	}
	if l.Hold == 0 {
		l.Hold = DefaultLockHold
	}
	return l
}

// NewGenerator implements Workload.
func (l Lock) NewGenerator(cfg Config) Generator {
	return &lockGen{l: l.withDefaults(), conc: max(cfg.Concurrency, 1),
		keys: newKeyGroups(cfg, DefaultLockOpsPerKey), holding: map[int]lockHold{}}
}

type lockGen struct {
	l    Lock
	conc int

	mu      sync.Mutex
	keys    *keyGroups
	holding map[int]lockHold // worker -> lock it holds, as far as it knows
	seq     int              // acquires handed out, for unique owners
}

// lockHold is a lock a worker holds and the owner it took it as.
type lockHold struct{ key, owner string }

// ownerOf reads the owner from an acquire's value: the owner itself, or
// the {"owner", "token"} map of an ok completion.
func ownerOf(v any) string {
	if m, ok := v.(map[string]any); ok {
		v = m["owner"]
	}
	s, _ := v.(string)
	return s
}

// Next hands a holder the release of its lock, after its critical section;
// anyone else an acquire of its group's lock.
func (g *lockGen) Next(w int, rng *rand.Rand) history.Op {
	g.mu.Lock()
	held, holds := g.holding[w]
	if !holds {
		key, _ := g.keys.key(w)
		g.seq++
		owner := fmt.Sprintf("%d.%d", w, g.seq)
		g.mu.Unlock()
		return history.Op{Type: history.Invoke, F: "acquire", Key: key, Value: owner}
	}
	g.mu.Unlock()
	if g.l.Hold > 0 {
		// The critical section, before the release is invoked: the time a
		// second holder would be caught in. Outside the mutex.
		time.Sleep(time.Duration(rng.Int64N(int64(g.l.Hold) + 1)))
	}
	return history.Op{Type: history.Invoke, F: "release", Key: held.key, Value: held.owner}
}

// Complete tracks what each worker holds. A worker's processes are w,
// w+Concurrency, ... (the harness renumbers after an info), so the worker
// is the process modulo Concurrency.
func (g *lockGen) Complete(op history.Op) {
	if !op.IsClient() || op.Process < 0 {
		return
	}
	w := int(op.Process) % g.conc
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case op.Type == history.Info:
		// The process is abandoned with whatever it may hold; its lease
		// runs out.
		delete(g.holding, w)
	case op.F == "acquire" && op.Type == history.OK:
		g.holding[w] = lockHold{key: op.Key, owner: ownerOf(op.Value)}
	case op.F == "release" && (op.Type == history.OK || op.Answered):
		delete(g.holding, w)
		// A refused release (fail, not answered) leaves the lock held: the
		// worker releases again.
	}
}

// Final has nothing to read: a lock's history is its acquires and releases.
func (g *lockGen) Final() []history.Op { return nil }

// Invoke implements Workload.
func (l Lock) Invoke(ctx context.Context, c Client, op history.Op) history.Op {
	lc, ok := c.(LockClient)
	if !ok {
		return complete(op, Definite(fmt.Errorf("client %T does not serve the lock workload", c)), false)
	}
	switch op.F {
	case "acquire":
		token, held, err := lc.Acquire(ctx, op.Key, l.withDefaults().TTL)
		if err == nil && !held {
			err = errLockHeld
		}
		out := complete(op, err, false)
		if err == nil && token != 0 {
			out.Value = map[string]any{"owner": op.Value, "token": token}
		}
		return out
	case "release":
		held, err := lc.Release(ctx, op.Key)
		if err == nil && !held {
			err = errNotHeld
		}
		return complete(op, err, false)
	}
	return complete(op, Definite(fmt.Errorf("lock workload: unknown f %q", op.F)), false)
}
