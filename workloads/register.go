package workloads

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"

	"github.com/faultline/faultline/models/history"
)

// RegisterClient is what a target implements to serve the register
// workload: a map of independent integer registers.
type RegisterClient interface {
	Client
	// Read returns the key's value; found is false when it was never written.
	Read(ctx context.Context, key string) (value int64, found bool, err error)
	// Write sets the key's value.
	Write(ctx context.Context, key string, value int64) error
	// CAS sets the key to new if it holds old. swapped=false with a nil
	// error means the comparison certainly failed and nothing was written.
	CAS(ctx context.Context, key string, old, new int64) (swapped bool, err error)
}

// Register is the register workload: reads, writes of unique values and
// compare-and-sets over independent keys. Each key takes a bounded number of
// ops from a group of workers, then the group moves to a fresh key, so each
// key's history stays small enough to check for linearizability.
type Register struct{}

// Name implements Workload.
func (Register) Name() string { return "register" }

// Summary implements Workload.
func (Register) Summary() string {
	return "read, write and compare-and-set on independent integer keys; checked for linearizability"
}

// Models implements Workload.
func (Register) Models() []string { return []string{"cas-register"} }

// CheckClient implements Workload.
func (Register) CheckClient(c Client) error {
	if _, ok := c.(RegisterClient); !ok {
		return fmt.Errorf("client %T does not implement the register workload", c)
	}
	return nil
}

// Defaults for the independent-key generator.
const (
	DefaultOpsPerKey     = 200
	DefaultThreadsPerKey = 5
)

// NewGenerator implements Workload.
func (Register) NewGenerator(cfg Config) Generator {
	if cfg.OpsPerKey <= 0 {
		cfg.OpsPerKey = DefaultOpsPerKey
	}
	if cfg.ThreadsPerKey <= 0 {
		cfg.ThreadsPerKey = min(DefaultThreadsPerKey, max(cfg.Concurrency, 1))
	}
	return &registerGen{cfg: cfg, groups: map[int]*keyGroup{}, keys: map[string]*keyState{}}
}

type keyGroup struct {
	key string
	ops int
}

type keyState struct {
	next  int64   // next unique value to write
	known []int64 // recent values seen or written, candidates for cas
}

type registerGen struct {
	cfg     Config
	mu      sync.Mutex
	groups  map[int]*keyGroup
	keys    map[string]*keyState
	order   []string // keys in order of first use
	nextKey int
}

func (g *registerGen) Next(w int, rng *rand.Rand) history.Op {
	g.mu.Lock()
	defer g.mu.Unlock()
	gid := w / g.cfg.ThreadsPerKey
	grp := g.groups[gid]
	if grp == nil || grp.ops >= g.cfg.OpsPerKey {
		grp = &keyGroup{key: strconv.Itoa(g.nextKey)}
		g.nextKey++
		g.groups[gid] = grp
		g.keys[grp.key] = &keyState{next: 1}
		g.order = append(g.order, grp.key)
	}
	grp.ops++
	ks := g.keys[grp.key]
	op := history.Op{Type: history.Invoke, Key: grp.key}
	switch r := rng.IntN(4); {
	case r < 2:
		op.F = "read"
	case r == 2:
		op.F, op.Value = "write", ks.next
		ks.next++
	default:
		old := int64(0)
		if len(ks.known) > 0 {
			old = ks.known[rng.IntN(len(ks.known))]
		}
		op.F, op.Value = "cas", []int64{old, ks.next}
		ks.next++
	}
	return op
}

func (g *registerGen) Complete(op history.Op) {
	if op.Type != history.OK {
		return
	}
	var v int64
	switch op.F {
	case "read", "write":
		x, ok := history.Int(op.Value)
		if !ok {
			return
		}
		v = x
	case "cas":
		_, x, ok := history.IntPair(op.Value)
		if !ok {
			return
		}
		v = x
	default:
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	ks := g.keys[op.Key]
	if ks == nil {
		return
	}
	// Recent values only: a cas on an old value is a cas meant to fail.
	ks.known = append(ks.known, v)
	if len(ks.known) > 3 {
		ks.known = ks.known[len(ks.known)-3:]
	}
}

func (g *registerGen) Final() []history.Op {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]history.Op, 0, len(g.order))
	for _, k := range g.order {
		out = append(out, history.Op{Type: history.Invoke, F: "read", Key: k})
	}
	return out
}

// errCompare is the error of a cas whose comparison failed: a definite
// "no" that still counts as served.
var errCompare = Answer(errors.New("compare failed: value differs"))

// Invoke implements Workload.
func (Register) Invoke(ctx context.Context, c Client, op history.Op) history.Op {
	rc, ok := c.(RegisterClient)
	if !ok {
		return complete(op, Definite(fmt.Errorf("client %T does not serve the register workload", c)), false)
	}
	switch op.F {
	case "read":
		v, found, err := rc.Read(ctx, op.Key)
		out := complete(op, err, true)
		if err == nil && found {
			out.Value = v
		}
		return out
	case "write":
		v, _ := history.Int(op.Value)
		return complete(op, rc.Write(ctx, op.Key, v), false)
	case "cas":
		old, nw, _ := history.IntPair(op.Value)
		swapped, err := rc.CAS(ctx, op.Key, old, nw)
		if err == nil && !swapped {
			err = errCompare
		}
		return complete(op, err, false)
	}
	return complete(op, Definite(fmt.Errorf("register workload: unknown f %q", op.F)), false)
}
