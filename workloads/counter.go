package workloads

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/faultline/faultline/models/history"
)

// Counter is the counter workload: increments by small positive deltas and
// reads of integer counters on independent keys, as Jepsen's counter test.
//
// History: F "add" with the delta (int) as value; F "read" whose ok value is
// the counter (int).
type Counter struct{}

// DefaultCounterOpsPerKey is how many ops a counter takes before its
// workers move to a fresh one.
const DefaultCounterOpsPerKey = 500

// maxDelta bounds an increment: small deltas keep the read bounds tight.
const maxDelta = 5

// Name implements Workload.
func (Counter) Name() string { return "counter" }

// Summary implements Workload.
func (Counter) Summary() string {
	return "increments by small positive deltas and reads of counters on independent keys; every read within the bounds of the adds around it"
}

// Models implements Workload.
func (Counter) Models() []string { return []string{"counter"} }

// CheckClient implements Workload.
func (Counter) CheckClient(c Client) error {
	if _, ok := c.(CounterClient); !ok {
		return fmt.Errorf("client %T does not implement the counter workload", c)
	}
	return nil
}

// NewGenerator implements Workload.
func (Counter) NewGenerator(cfg Config) Generator {
	return &counterGen{keys: newKeyGroups(cfg, DefaultCounterOpsPerKey)}
}

type counterGen struct {
	mu   sync.Mutex
	keys *keyGroups
}

func (g *counterGen) Next(w int, rng *rand.Rand) history.Op {
	g.mu.Lock()
	defer g.mu.Unlock()
	key, _ := g.keys.key(w)
	if rng.IntN(2) == 0 {
		return history.Op{Type: history.Invoke, F: "read", Key: key}
	}
	return history.Op{Type: history.Invoke, F: "add", Key: key, Value: 1 + rng.Int64N(maxDelta)}
}

func (g *counterGen) Complete(history.Op) {}

func (g *counterGen) Final() []history.Op {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.keys.finalReads("read")
}

// Invoke implements Workload.
func (Counter) Invoke(ctx context.Context, c Client, op history.Op) history.Op {
	cc, ok := c.(CounterClient)
	if !ok {
		return complete(op, Definite(fmt.Errorf("client %T does not serve the counter workload", c)), false)
	}
	switch op.F {
	case "add":
		d, ok := history.Int(op.Value)
		if !ok {
			return complete(op, Definite(fmt.Errorf("counter add: delta %v is not an integer", op.Value)), false)
		}
		return complete(op, cc.Increment(ctx, op.Key, d), false)
	case "read":
		v, err := cc.ReadCounter(ctx, op.Key)
		out := complete(op, err, true)
		if err == nil {
			out.Value = v
		}
		return out
	}
	return complete(op, Definite(fmt.Errorf("counter workload: unknown f %q", op.F)), false)
}
