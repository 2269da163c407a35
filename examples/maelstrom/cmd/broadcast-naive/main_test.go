package main

import (
	"context"
	"io"
	"testing"
	"time"

	"example.com/maelstrom-examples/internal/broadcasttest"
	"example.com/maelstrom-examples/internal/sim"
	"example.com/maelstrom-examples/node"
)

// The naive node must fail the very scenario broadcast-gossip passes: what
// it sent across the cut is gone for good once the partition heals.
func TestLosesMessagesAcrossAPartition(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, c, err := broadcasttest.Partitioned(ctx, func(n *node.Node) { newServer(n) }, io.Discard, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t.Logf("missing after healing: %v (%d delivered, %d dropped)", res.Missing, res.Sent, res.Dropped)
	for _, id := range []string{"n2", "n3", "n4", "n5"} {
		if len(res.Missing[id]) != 5 {
			t.Errorf("%s should lack n1's five messages 1-5 for good, lacks %v", id, res.Missing[id])
		}
	}
	if len(res.Missing["n1"]) != 5 {
		t.Errorf("n1 should lack n2's five messages 6-10 for good, lacks %v", res.Missing["n1"])
	}
}

func TestSpreadsWithoutFaults(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := sim.Start(ctx, []string{"n1", "n2", "n3"}, func(n *node.Node) { newServer(n) }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, v := range []int{1, 2, 3} {
		if reply, err := c.Call(ctx, "n2", map[string]any{"type": "broadcast", "message": v}); err != nil || reply.Type() != "broadcast_ok" {
			t.Fatalf("broadcast %d: %v", v, err)
		}
	}
	missing, err := broadcasttest.WaitConverged(ctx, c, []string{"n1", "n2", "n3"}, []string{"1", "2", "3"}, 2*time.Second)
	if err != nil || len(missing) != 0 {
		t.Fatalf("without faults every node should have every message: %v %v", err, missing)
	}
}
