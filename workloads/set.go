package workloads

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"

	"github.com/faultline/faultline/models/history"
)

// Set is the set workload: unique adds to grow-only sets of integers and
// reads of whole sets, over independent keys that rotate like the
// register's, so each set stays a few hundred elements. After the run every
// node reads every set (Final), which the convergence checker compares.
//
// History: F "add" with the element (int) as value; F "read" whose ok value
// is the set as a list. The node of each op is recorded by the harness.
type Set struct{}

// DefaultSetOpsPerKey is how many ops a set takes before its workers move
// to a fresh one: about 300 adds, so reads stay cheap.
const DefaultSetOpsPerKey = 400

// Name implements Workload.
func (Set) Name() string { return "set" }

// Summary implements Workload.
func (Set) Summary() string {
	return "unique adds to grow-only sets on independent keys, reads of whole sets, final reads from every node; checked for lost, stale and unexpected elements, session guarantees and convergence"
}

// Models implements Workload.
func (Set) Models() []string { return []string{"set", "session", "convergence"} }

// CheckClient implements Workload.
func (Set) CheckClient(c Client) error {
	if _, ok := c.(SetClient); !ok {
		return fmt.Errorf("client %T does not implement the set workload", c)
	}
	return nil
}

// NewGenerator implements Workload.
func (Set) NewGenerator(cfg Config) Generator {
	return &setGen{keys: newKeyGroups(cfg, DefaultSetOpsPerKey), next: map[string]int64{}}
}

type setGen struct {
	mu   sync.Mutex
	keys *keyGroups
	next map[string]int64 // next element to add, per key
}

func (g *setGen) Next(w int, rng *rand.Rand) history.Op {
	g.mu.Lock()
	defer g.mu.Unlock()
	key, _ := g.keys.key(w)
	// Three adds to a read: sets grow steadily and every worker reads often
	// enough for the session and stale-element checks.
	if rng.IntN(4) == 0 {
		return history.Op{Type: history.Invoke, F: "read", Key: key}
	}
	g.next[key]++
	return history.Op{Type: history.Invoke, F: "add", Key: key, Value: g.next[key]}
}

func (g *setGen) Complete(history.Op) {}

func (g *setGen) Final() []history.Op {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.keys.finalReads("read")
}

// Invoke implements Workload.
func (Set) Invoke(ctx context.Context, c Client, op history.Op) history.Op {
	sc, ok := c.(SetClient)
	if !ok {
		return complete(op, Definite(fmt.Errorf("client %T does not serve the set workload", c)), false)
	}
	switch op.F {
	case "add":
		v, ok := history.Int(op.Value)
		if !ok {
			return complete(op, Definite(fmt.Errorf("set add: element %v is not an integer", op.Value)), false)
		}
		return complete(op, sc.AddElement(ctx, op.Key, v), false)
	case "read":
		elems, err := sc.ReadSet(ctx, op.Key)
		out := complete(op, err, true)
		if err == nil {
			out.Value = intList(elems, true)
		}
		return out
	}
	return complete(op, Definite(fmt.Errorf("set workload: unknown f %q", op.F)), false)
}

// intList is a read's value as the checkers take it: a []any of int64
// (what a history read back from JSON holds too), sorted when asked.
func intList(xs []int64, sorted bool) []any {
	if sorted {
		xs = slices.Clone(xs)
		slices.Sort(xs)
	}
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}
