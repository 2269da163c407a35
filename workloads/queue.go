package workloads

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/models/queue"
)

// Queue is the queue workload: producers enqueue messages with unique
// integer ids on a few stream keys (subjects), consumers dequeue small
// batches from one shared queue and acknowledge each batch in a following
// op, and after the faults are healed every node drains what is left.
//
// History, as package models/queue reads it: F "enqueue" with the id as
// value and the stream key as Key; F "dequeue" whose invocation value is
// the batch limit and whose ok value lists the ids delivered ([] when the
// queue was empty); F "ack" with the list of ids; F "drain" whose value
// lists every id it took and acknowledged, ok only when it saw the queue
// empty (a drain cut short is info and still lists what it took).
type Queue struct{}

var _ CheckerMaker = Queue{}

// Queue workload defaults.
const (
	// QueueKeys is how many stream keys (subjects) producers spread over.
	QueueKeys = 4
	// QueueBatch is the batch limit of one dequeue.
	QueueBatch = 4
	// QueueFinalDrains is how many drains each node runs after the heal: a
	// drain cut short by the op timeout leaves the rest to the next, and
	// one that finds the queue empty is quick.
	QueueFinalDrains = 8
	// QueueFinalPatience is how long a node repeats a final drain that did
	// not complete ok (FinalUntilOK).
	QueueFinalPatience = 30 * time.Second
)

// Name implements Workload.
func (Queue) Name() string { return "queue" }

// Summary implements Workload.
func (Queue) Summary() string {
	return "unique enqueues on a few subjects, batched dequeues with explicit acks, a final drain from every node; checked for lost, duplicated, unexpected and reordered (per subject) messages, and which delivery guarantee held"
}

// Models implements Workload.
func (Queue) Models() []string { return []string{queue.Name} }

// Checker implements CheckerMaker: the queue checker told that consumers
// acknowledge explicitly, and that each stream key (subject) is a FIFO:
// one shared consumer hands out a subject's messages in stream order, so a
// first delivery of a later message before an earlier one is a reordering.
func (Queue) Checker(model string) models.Checker {
	if model != queue.Name {
		return nil
	}
	return &queue.Checker{Promise: queue.ExactlyOnce, Order: queue.PerKey, Acks: true}
}

// CheckClient implements Workload.
func (Queue) CheckClient(c Client) error {
	if _, ok := c.(QueueClient); !ok {
		return fmt.Errorf("client %T does not implement the queue workload", c)
	}
	return nil
}

// NewGenerator implements Workload.
func (Queue) NewGenerator(cfg Config) Generator {
	return &queueGen{workers: max(cfg.Concurrency, 1), acks: map[int][]int64{}}
}

type queueGen struct {
	workers int
	mu      sync.Mutex
	next    int64           // last id handed out
	acks    map[int][]int64 // worker -> ids its last dequeue took, to ack next
}

func (g *queueGen) Next(w int, rng *rand.Rand) history.Op {
	g.mu.Lock()
	defer g.mu.Unlock()
	if ids := g.acks[w]; len(ids) > 0 {
		delete(g.acks, w)
		return history.Op{Type: history.Invoke, F: "ack", Value: ids}
	}
	if rng.IntN(2) == 0 {
		g.next++
		return history.Op{Type: history.Invoke, F: "enqueue", Key: "s" + strconv.Itoa(rng.IntN(QueueKeys)), Value: g.next}
	}
	return history.Op{Type: history.Invoke, F: "dequeue", Value: int64(QueueBatch)}
}

// Complete remembers what an ok dequeue took, so its worker acks it next.
// A worker's processes are w, w+W, w+2W, ... (a new one after each info).
func (g *queueGen) Complete(op history.Op) {
	if op.F != "dequeue" || op.Type != history.OK || op.Process < 0 {
		return
	}
	ids := queueIDs(op.Value)
	if len(ids) == 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.acks[int(op.Process)%g.workers] = ids
}

// FinalPatience implements FinalUntilOK: a replicated queue can take tens
// of seconds after a heal to elect a leader and serve again.
func (g *queueGen) FinalPatience() time.Duration { return QueueFinalPatience }

func (g *queueGen) Final() []history.Op {
	out := make([]history.Op, QueueFinalDrains)
	for i := range out {
		out[i] = history.Op{Type: history.Invoke, F: "drain"}
	}
	return out
}

// queueIDs reads a list of ids as the workload writes it ([]int64) or as
// it comes back from JSON.
func queueIDs(v any) []int64 {
	switch x := v.(type) {
	case []int64:
		return x
	case []any:
		out := make([]int64, 0, len(x))
		for _, e := range x {
			if n, ok := history.Int(e); ok {
				out = append(out, n)
			}
		}
		return out
	}
	return nil
}

// errNothingToAck is an ack op without ids: nothing was sent.
var errNothingToAck = Definite(errors.New("ack of no message"))

// Invoke implements Workload.
func (Queue) Invoke(ctx context.Context, c Client, op history.Op) history.Op {
	qc, ok := c.(QueueClient)
	if !ok {
		return complete(op, Definite(fmt.Errorf("client %T does not serve the queue workload", c)), false)
	}
	switch op.F {
	case "enqueue":
		id, ok := history.Int(op.Value)
		if !ok {
			return complete(op, Definite(fmt.Errorf("enqueue of %v: not an integer id", op.Value)), false)
		}
		return complete(op, qc.Enqueue(ctx, op.Key, id), false)
	case "dequeue":
		n, ok := history.Int(op.Value)
		if !ok || n <= 0 {
			n = QueueBatch
		}
		ids, err := qc.Dequeue(ctx, int(n))
		if err != nil && len(ids) > 0 {
			// Messages were taken: not a definite failure, whatever the error.
			err = indeterminate(err)
		}
		out := complete(op, err, false)
		if out.Type == history.OK {
			out.Value = nonNilIDs(ids)
		}
		return out
	case "ack":
		ids := queueIDs(op.Value)
		if len(ids) == 0 {
			return complete(op, errNothingToAck, false)
		}
		return complete(op, qc.Ack(ctx, ids), false)
	case "drain":
		ids, err := qc.Drain(ctx)
		if err != nil && len(ids) > 0 {
			err = indeterminate(err)
		}
		out := complete(op, err, false)
		if out.Type != history.Fail {
			// A drain cut short (info) still took and acknowledged these.
			out.Value = nonNilIDs(ids)
		}
		return out
	}
	return complete(op, Definite(fmt.Errorf("queue workload: unknown f %q", op.F)), false)
}

func nonNilIDs(ids []int64) []int64 {
	if ids == nil {
		return []int64{}
	}
	return ids
}

// indeterminate strips the Definite mark from err: used when an op took
// effect in part before failing.
func indeterminate(err error) error {
	if IsDefinite(err) {
		return fmt.Errorf("after taking messages: %s", err.Error())
	}
	return err
}
