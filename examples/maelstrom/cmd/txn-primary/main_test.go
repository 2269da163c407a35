package main

import (
	"context"
	"io"
	"testing"
	"time"

	"example.com/maelstrom-examples/internal/sim"
	"example.com/maelstrom-examples/node"
)

func call(ctx context.Context, t *testing.T, c *sim.Cluster, at string, txn []any) string {
	t.Helper()
	reply, err := c.Call(ctx, at, map[string]any{"type": "txn", "txn": txn})
	if err != nil {
		t.Fatal(err)
	}
	return string(reply.Body)
}

// TestForwardsToPrimary: a transaction sent to any node is applied by n1,
// so the next one, at another node, sees it; cut off from n1, a node
// answers timeout (indefinite), never a definite error.
func TestForwardsToPrimary(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := sim.Start(ctx, []string{"n1", "n2", "n3"}, func(n *node.Node) {
		s := newServer(n)
		s.timeout = 300 * time.Millisecond
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	call(ctx, t, c, "n2", []any{[]any{"append", 1, 5}, []any{"w", 2, 7}})
	got := call(ctx, t, c, "n3", []any{[]any{"r", 1, nil}, []any{"r", 2, nil}})
	if want := `"txn":[["r",1,[5]],["r",2,7]]`; !contains(got, want) {
		t.Errorf("read at n3: %s, want %s", got, want)
	}
	c.Cut("n1", "n3")
	reply, err := c.Call(ctx, "n3", map[string]any{"type": "txn", "txn": []any{[]any{"append", 1, 6}}})
	if err != nil {
		t.Fatal(err)
	}
	if code, err := sim.ErrorCode(reply); err != nil || code != node.CodeTimeout {
		t.Errorf("cut off from the primary: %s, want error 0 (timeout)", reply.Body)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
