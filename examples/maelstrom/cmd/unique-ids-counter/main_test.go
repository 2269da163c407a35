package main

import (
	"context"
	"io"
	"testing"
	"time"

	"example.com/maelstrom-examples/internal/sim"
)

func generate(ctx context.Context, t *testing.T, c *sim.Cluster, id string) string {
	t.Helper()
	reply, err := c.Call(ctx, id, map[string]any{"type": "generate"})
	if err != nil {
		t.Fatalf("generate at %s: %v", id, err)
	}
	var body struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	}
	if err := reply.Decode(&body); err != nil || body.Type != "generate_ok" {
		t.Fatalf("generate at %s: %s %v", id, reply.Body, err)
	}
	return body.ID
}

// TestDuplicatesAfterRestart: unique while no node restarts; a restarted
// node hands out its previous life's ids again, as documented.
func TestDuplicatesAfterRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ids := []string{"n1", "n2"}
	c, err := sim.Start(ctx, ids, setup, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	seen := map[string]bool{}
	for i := range 10 {
		id := generate(ctx, t, c, ids[i%2])
		if seen[id] {
			t.Fatalf("id %s repeated before any restart", id)
		}
		seen[id] = true
	}
	if err := c.Restart(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if id := generate(ctx, t, c, "n1"); id != "n1-0" || !seen[id] {
		t.Errorf("n1 after a restart handed out %s, want n1-0 again", id)
	}
}
