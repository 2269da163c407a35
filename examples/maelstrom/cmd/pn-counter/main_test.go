package main

import (
	"context"
	"io"
	"testing"
	"time"

	"example.com/maelstrom-examples/internal/sim"
	"example.com/maelstrom-examples/node"
)

func read(ctx context.Context, t *testing.T, c *sim.Cluster, at string) int64 {
	t.Helper()
	reply, err := c.Call(ctx, at, map[string]any{"type": "read"})
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Type  string `json:"type"`
		Value int64  `json:"value"`
	}
	if err := reply.Decode(&body); err != nil || body.Type != "read_ok" {
		t.Fatalf("read at %s: %s %v", at, reply.Body, err)
	}
	return body.Value
}

func add(ctx context.Context, t *testing.T, c *sim.Cluster, at string, delta int64) {
	t.Helper()
	reply, err := c.Call(ctx, at, map[string]any{"type": "add", "delta": delta})
	if err != nil || reply.Type() != "add_ok" {
		t.Fatalf("add %d at %s: %s %v", delta, at, reply.Body, err)
	}
}

// converged waits until every node reads want.
func converged(ctx context.Context, t *testing.T, c *sim.Cluster, ids []string, want int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, id := range ids {
		for read(ctx, t, c, id) != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s reads %d, want %d", id, read(ctx, t, c, id), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestConvergesAfterPartitionAndRestart: adds on both sides of a
// partition reach every node once it heals; a restarted node keeps its
// own totals.
func TestConvergesAfterPartitionAndRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	ids := []string{"n1", "n2", "n3"}
	c, err := sim.Start(ctx, ids, func(n *node.Node) { newServer(n, dir) }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	add(ctx, t, c, "n1", 5)
	add(ctx, t, c, "n2", -2)
	converged(ctx, t, c, ids, 3)

	c.Isolate("n3")
	add(ctx, t, c, "n3", 10)
	add(ctx, t, c, "n1", -1)
	time.Sleep(300 * time.Millisecond)
	if got := read(ctx, t, c, "n1"); got != 2 {
		t.Errorf("n1 during the partition reads %d, want 2 (n3's add cut off)", got)
	}
	c.Heal()
	converged(ctx, t, c, ids, 12)

	if err := c.Restart(ctx, "n3"); err != nil {
		t.Fatal(err)
	}
	add(ctx, t, c, "n3", 1)
	converged(ctx, t, c, ids, 13)
}
