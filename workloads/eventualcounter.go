package workloads

import (
	"context"
	"math/rand/v2"

	"github.com/faultline/faultline/models/history"
)

// EventualCounter is Maelstrom's g-counter (Decrements false) or
// pn-counter (Decrements true): one counter, adds of small deltas (also
// negative for pn-counter) and reads from every worker, and after the run
// a final read from every node. It is judged as Maelstrom judges it, by
// the eventual-counter checker: only the final reads must be explained by
// the adds; reads during the run may be stale, as a CRDT's are. The
// counter workload is the strict version of the same traffic: every read
// within its real-time bounds.
//
// History: F "add" with the delta (int) as value; F "read" whose ok value
// is the counter (int); every op on key "0".
type EventualCounter struct {
	// Decrements makes it pn-counter: deltas from -5 to 5, never 0.
	Decrements bool
}

// eventualKey is the one counter's key.
const eventualKey = "0"

// Name implements Workload.
func (e EventualCounter) Name() string {
	if e.Decrements {
		return "pn-counter"
	}
	return "g-counter"
}

// Summary implements Workload.
func (e EventualCounter) Summary() string {
	if e.Decrements {
		return "increments and decrements of one eventually consistent counter (Maelstrom pn-counter); every node's final read must be explained by the adds, stale reads during the run are counted, not judged"
	}
	return "increments of one eventually consistent counter (Maelstrom g-counter); every node's final read must be explained by the adds, stale reads during the run are counted, not judged"
}

// Models implements Workload.
func (EventualCounter) Models() []string { return []string{"eventual-counter"} }

// CheckClient implements Workload.
func (EventualCounter) CheckClient(c Client) error { return Counter{}.CheckClient(c) }

// NewGenerator implements Workload.
func (e EventualCounter) NewGenerator(Config) Generator { return eventualGen{pn: e.Decrements} }

type eventualGen struct{ pn bool }

func (g eventualGen) Next(_ int, rng *rand.Rand) history.Op {
	if rng.IntN(2) == 0 {
		return history.Op{Type: history.Invoke, F: "read", Key: eventualKey}
	}
	d := 1 + rng.Int64N(maxDelta)
	if g.pn && rng.IntN(2) == 0 {
		d = -d
	}
	return history.Op{Type: history.Invoke, F: "add", Key: eventualKey, Value: d}
}

func (eventualGen) Complete(history.Op) {}

// Final is one read of the counter, which the harness makes on every node.
func (eventualGen) Final() []history.Op {
	return []history.Op{{Type: history.Invoke, F: "read", Key: eventualKey}}
}

// Invoke implements Workload.
func (EventualCounter) Invoke(ctx context.Context, c Client, op history.Op) history.Op {
	return Counter{}.Invoke(ctx, c, op)
}
