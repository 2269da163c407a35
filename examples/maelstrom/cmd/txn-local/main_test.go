package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"example.com/maelstrom-examples/internal/sim"
	"example.com/maelstrom-examples/node"
)

// TestCopiesLostAcrossAPartition shows the flaw the checker must find: a
// write made while a node is cut off never reaches it.
func TestCopiesLostAcrossAPartition(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := sim.Start(ctx, []string{"n1", "n2"}, func(n *node.Node) { newServer(n) }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	txn := func(at string, mops ...any) string {
		reply, err := c.Call(ctx, at, map[string]any{"type": "txn", "txn": mops})
		if err != nil {
			t.Fatal(err)
		}
		return string(reply.Body)
	}
	txn("n1", []any{"append", 1, 5})
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(txn("n2", []any{"r", 1, nil}), `[5]`) {
		if time.Now().After(deadline) {
			t.Fatal("n2 never got the copy of the first append")
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.Cut("n1", "n2")
	txn("n1", []any{"append", 1, 6})
	time.Sleep(200 * time.Millisecond) // the copy is sent after the reply
	c.Heal()
	time.Sleep(200 * time.Millisecond)
	if got := txn("n2", []any{"r", 1, nil}); !strings.Contains(got, `["r",1,[5]]`) {
		t.Errorf("n2 after the heal: %s, want the append made during the cut missing", got)
	}
}
