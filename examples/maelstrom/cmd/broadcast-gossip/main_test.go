package main

import (
	"context"
	"io"
	"testing"
	"time"

	"example.com/maelstrom-examples/internal/broadcasttest"
	"example.com/maelstrom-examples/node"
)

func setup(n *node.Node) { newServer(n) }

func TestConvergesAfterPartitionHeals(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, c, err := broadcasttest.Partitioned(ctx, setup, io.Discard, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(res.Missing) != 0 {
		t.Fatalf("after healing, nodes still lack acknowledged messages: %v", res.Missing)
	}
	t.Logf("converged: %d node-to-node messages delivered, %d dropped, for %d broadcasts", res.Sent, res.Dropped, len(res.Want))

	// A restarted node starts empty and must re-learn everything from its
	// peers, even when it comes back while cut off from them.
	c.Isolate("n3")
	if err := c.Restart(ctx, "n3"); err != nil {
		t.Fatal(err)
	}
	got, err := c.ReadSet(ctx, "n3")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("restarted n3 should start empty (state is in memory), has %v", got)
	}
	c.Heal()
	missing, err := broadcasttest.WaitConverged(ctx, c, []string{"n1", "n2", "n3", "n4", "n5"}, res.Want, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) != 0 {
		t.Fatalf("restarted n3 did not re-learn from its peers: missing %v", missing)
	}
}

// A message whose first holder is killed before any peer acknowledged it is
// lost (it was only in memory); one that a single peer acknowledged reaches
// everyone, because every node forwards what it learns.
func TestForwardsWhatItLearns(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, c, err := broadcasttest.Partitioned(ctx, setup, io.Discard, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(res.Missing) != 0 {
		t.Fatalf("no convergence: %v", res.Missing)
	}
	// n1 reaches only n2; n2 reaches only n1. n1 takes 11 and tells n2;
	// then n1 dies and n2 alone must carry 11 to n3, n4, n5.
	c.Isolate("n1")
	c.Isolate("n2")
	c.Heal()
	for _, p := range []string{"n3", "n4", "n5"} {
		c.Cut("n1", p)
	}
	reply, err := c.Call(ctx, "n1", map[string]any{"type": "broadcast", "message": 11})
	if err != nil || reply.Type() != "broadcast_ok" {
		t.Fatalf("broadcast 11: %v %s", err, reply.Body)
	}
	missing, err := broadcasttest.WaitConverged(ctx, c, []string{"n2"}, []string{"11"}, 5*time.Second)
	if err != nil || len(missing) != 0 {
		t.Fatalf("n2 never got 11: %v %v", err, missing)
	}
	if err := c.Restart(ctx, "n1"); err != nil { // loses n1's pending gossip
		t.Fatal(err)
	}
	missing, err = broadcasttest.WaitConverged(ctx, c, []string{"n1", "n2", "n3", "n4", "n5"}, append(res.Want, "11"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) != 0 {
		t.Fatalf("11 did not spread from n2 after n1 died: missing %v", missing)
	}
}
