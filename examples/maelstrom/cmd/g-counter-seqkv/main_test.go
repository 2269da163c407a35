package main

import (
	"context"
	"io"
	"testing"
	"time"

	"example.com/maelstrom-examples/internal/sim"
	"example.com/maelstrom-examples/node"
)

func add(t *testing.T, ctx context.Context, c *sim.Cluster, at string, delta int) {
	t.Helper()
	reply, err := c.Call(ctx, at, map[string]any{"type": "add", "delta": delta})
	if err != nil || reply.Type() != "add_ok" {
		t.Fatalf("add %d at %s: %v %s", delta, at, err, reply.Body)
	}
}

func readAt(t *testing.T, ctx context.Context, c *sim.Cluster, at string) int64 {
	t.Helper()
	reply, err := c.Call(ctx, at, map[string]any{"type": "read"})
	var body struct {
		Type  string `json:"type"`
		Value int64  `json:"value"`
	}
	if err != nil || reply.Decode(&body) != nil || body.Type != "read_ok" {
		t.Fatalf("read at %s: %v %s", at, err, reply.Body)
	}
	return body.Value
}

// TestCounterOnStaleSeqKV runs the counter against a seq-kv stand-in that
// is as stale as sequential consistency allows (a node sees the store as
// of its own last update): reads are still exact, thanks to the write
// before them, also at a node that never added and at one restarted
// without its memory.
func TestCounterOnStaleSeqKV(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := sim.Start(ctx, []string{"n1", "n2", "n3"}, func(n *node.Node) { newCounter(n, 500*time.Millisecond) }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Serve(service, sim.NewKV(true).Serve)

	add(t, ctx, c, "n1", 3)
	add(t, ctx, c, "n2", 4)
	add(t, ctx, c, "n1", 2)
	for _, at := range []string{"n3", "n1", "n2"} {
		if got := readAt(t, ctx, c, at); got != 9 {
			t.Fatalf("read at %s: %d, want 9", at, got)
		}
	}
	// Partitions between nodes change nothing: they never talk.
	c.Isolate("n2")
	add(t, ctx, c, "n2", 1)
	if got := readAt(t, ctx, c, "n3"); got != 10 {
		t.Fatalf("read at n3 with n2 isolated: %d, want 10", got)
	}
	if err := c.Restart(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	add(t, ctx, c, "n1", 5) // from the value in seq-kv, not from memory
	if got := readAt(t, ctx, c, "n2"); got != 15 {
		t.Fatalf("read at n2 after n1 restarted and added 5: %d, want 15", got)
	}
}
