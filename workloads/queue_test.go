package workloads

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/catalog"
	"github.com/faultline/faultline/models/history"
)

// fakeQueue is an in-memory queue with explicit acks, shared by every
// fakeQueueClient: a taken message stays in flight until acknowledged and
// comes back when its taker is gone (as an ack deadline would make it).
// bug injects a defect: "lose" drops every 10th enqueue after answering
// ok, "redeliver-acked" delivers every 7th acked message again, "reorder"
// hands out each batch backwards. flaky makes
// some ops time out after taking effect, as faults would.
type fakeQueue struct {
	bug   string
	flaky bool

	mu       sync.Mutex
	n        int
	ready    []int64
	inFlight map[int64]bool
	acked    []int64
}

var errQueueTimeout = errors.New("fake: timed out waiting for the reply")

func (q *fakeQueue) step() (timeout bool) {
	q.n++
	return q.flaky && q.n%11 == 0
}

type fakeQueueClient struct {
	q    *fakeQueue
	held map[int64]bool
}

var _ QueueClient = (*fakeQueueClient)(nil)

func (c *fakeQueueClient) Close() error { return nil }

func (c *fakeQueueClient) Enqueue(_ context.Context, _ string, id int64) error {
	c.q.mu.Lock()
	defer c.q.mu.Unlock()
	timeout := c.q.step()
	if !(c.q.bug == "lose" && id%10 == 0) {
		c.q.ready = append(c.q.ready, id)
	}
	if timeout {
		return errQueueTimeout
	}
	return nil
}

func (c *fakeQueueClient) Dequeue(_ context.Context, n int) ([]int64, error) {
	c.q.mu.Lock()
	defer c.q.mu.Unlock()
	timeout := c.q.step()
	n = min(n, len(c.q.ready))
	ids := append([]int64(nil), c.q.ready[:n]...)
	c.q.ready = c.q.ready[n:]
	for _, id := range ids {
		c.q.inFlight[id] = true
		if !timeout {
			c.held[id] = true
		}
	}
	if timeout {
		// Taken, but the reply was lost: nobody will ack them.
		return nil, errQueueTimeout
	}
	if c.q.bug == "reorder" {
		slices.Reverse(ids)
	}
	return ids, nil
}

func (c *fakeQueueClient) Ack(_ context.Context, ids []int64) error {
	c.q.mu.Lock()
	defer c.q.mu.Unlock()
	for _, id := range ids {
		if !c.held[id] {
			return Definite(errors.New("fake: not held"))
		}
	}
	for _, id := range ids {
		delete(c.held, id)
		delete(c.q.inFlight, id)
		c.q.acked = append(c.q.acked, id)
		if c.q.bug == "redeliver-acked" && id%7 == 0 {
			c.q.ready = append(c.q.ready, id)
		}
	}
	return nil
}

func (c *fakeQueueClient) Drain(context.Context) ([]int64, error) {
	c.q.mu.Lock()
	defer c.q.mu.Unlock()
	// The run is over: what is in flight and unacknowledged has passed its
	// ack deadline and is delivered again.
	for id := range c.q.inFlight {
		c.q.ready = append(c.q.ready, id)
		delete(c.q.inFlight, id)
	}
	out := c.q.ready
	c.q.ready = nil
	return out, nil
}

// simulateQueue runs the queue workload on q as the harness does: workers
// with one op outstanding each (a new process after an info), then drains
// from three nodes. It returns the history as read back from JSON.
func simulateQueue(t *testing.T, q *fakeQueue, workers, opsEach int) []history.Op {
	t.Helper()
	ctx := context.Background()
	var buf bytes.Buffer
	hw, err := history.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	start := time.Now()
	record := func(op history.Op) history.Op {
		mu.Lock()
		defer mu.Unlock()
		op.Time = time.Since(start).Nanoseconds()
		out, err := hw.Append(op)
		if err != nil {
			t.Errorf("append: %v", err)
		}
		return out
	}
	wl := Queue{}
	gen := wl.NewGenerator(Config{Concurrency: workers, Seed: 1})
	var wg sync.WaitGroup
	maxProc := history.Process(0)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &fakeQueueClient{q: q, held: map[int64]bool{}}
			rng := rand.New(rand.NewPCG(1, uint64(w)))
			proc := history.Process(w)
			for range opsEach {
				op := gen.Next(w, rng)
				op.Type, op.Process = history.Invoke, proc
				done := wl.Invoke(ctx, c, record(op))
				done.Process = proc
				done = record(done)
				gen.Complete(done)
				if done.Type == history.Info {
					proc += history.Process(workers)
				}
			}
			mu.Lock()
			maxProc = max(maxProc, proc)
			mu.Unlock()
		}()
	}
	wg.Wait()
	q.mu.Lock()
	q.flaky = false
	q.mu.Unlock()
	for i := range 3 {
		c := &fakeQueueClient{q: q, held: map[int64]bool{}}
		for _, op := range gen.Final() {
			op.Process = maxProc + 1 + history.Process(i)
			done := wl.Invoke(ctx, c, record(op))
			done.Process = op.Process
			record(done)
		}
	}
	ops, err := history.Read(&buf)
	if err != nil {
		t.Fatalf("read history back: %v", err)
	}
	return ops
}

// TestQueueWorkloadWithRealChecker: the histories the queue workload
// writes are judged by the real queue checker: a correct queue (also with
// indeterminate ops) valid and exactly-once, a lossy or redelivering one
// invalid with the right anomaly.
func TestQueueWorkloadWithRealChecker(t *testing.T) {
	tests := []struct {
		name     string
		bug      string
		flaky    bool
		want     models.Verdict
		kind     string
		delivery string
	}{
		{"correct", "", false, models.Valid, "", "exactly-once"},
		{"correct with timeouts", "", true, models.Valid, "", "exactly-once"},
		{"loses messages", "lose", false, models.Invalid, "lost", "at-most-once"},
		{"redelivers acked", "redeliver-acked", false, models.Invalid, "duplicated", "at-least-once"},
		{"reorders a subject", "reorder", false, models.Invalid, "order", "exactly-once"},
	}
	if _, err := catalog.Default().Lookup(Queue{}.Models()[0]); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := &fakeQueue{bug: tt.bug, flaky: tt.flaky, inFlight: map[int64]bool{}}
			ops := simulateQueue(t, q, 6, 150)
			res := Queue{}.Checker(Queue{}.Models()[0]).Check(context.Background(), ops, models.Options{})
			if res.Verdict != tt.want {
				t.Fatalf("verdict %s (%s), want %s; stats %v", res.Verdict, res.Reason, tt.want, res.Stats)
			}
			if got := res.Properties["delivery"]; got != tt.delivery {
				t.Errorf("delivery %q, want %q", got, tt.delivery)
			}
			if res.Properties["order"] != "key" || res.Properties["acks"] != "explicit" {
				t.Errorf("checker judged order %q, acks %q: want per key, explicit", res.Properties["order"], res.Properties["acks"])
			}
			if res.Stats["acks"] == 0 || res.Stats["drains"] == 0 || res.Stats["enqueued_ok"] < 100 {
				t.Errorf("too little happened: stats %v", res.Stats)
			}
			if tt.kind != "" && (len(res.Anomalies) == 0 || res.Anomalies[0].Kind != tt.kind) {
				t.Errorf("anomalies %v, want %s first", res.Anomalies, tt.kind)
			}
			if tt.flaky && res.Stats["enqueued_info"] == 0 {
				t.Errorf("flaky run had no indeterminate enqueue: %v", res.Stats)
			}
		})
	}
}

// TestQueueGeneratorAcksWhatWasDequeued: after an ok dequeue a worker's
// next op acknowledges exactly those ids; ids are unique.
func TestQueueGeneratorAcksWhatWasDequeued(t *testing.T) {
	gen := Queue{}.NewGenerator(Config{Concurrency: 3})
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[int64]bool{}
	for range 200 {
		op := gen.Next(1, rng)
		switch op.F {
		case "enqueue":
			id, _ := history.Int(op.Value)
			if seen[id] {
				t.Fatalf("id %d enqueued twice", id)
			}
			seen[id] = true
		case "dequeue":
			// Process 4 is worker 1 after one info.
			gen.Complete(history.Op{Type: history.OK, F: "dequeue", Process: 4, Value: []any{int64(7), int64(9)}})
			next := gen.Next(1, rng)
			if ids := queueIDs(next.Value); next.F != "ack" || len(ids) != 2 || ids[0] != 7 || ids[1] != 9 {
				t.Fatalf("after a dequeue of [7 9]: %+v", next)
			}
			if other := gen.Next(0, rng); other.F == "ack" {
				t.Fatalf("worker 0 acks worker 1's messages: %+v", other)
			}
		}
	}
	if got := len(gen.Final()); got != QueueFinalDrains {
		t.Errorf("Final: %d ops, want %d drains", got, QueueFinalDrains)
	}
}
