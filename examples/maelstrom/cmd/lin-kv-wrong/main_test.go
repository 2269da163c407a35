package main

import (
	"context"
	"encoding/json"
	"io"
	"testing"
	"time"

	"example.com/maelstrom-examples/internal/sim"
	"example.com/maelstrom-examples/node"
)

// read returns the value's JSON at node at, or "absent" for code 20.
func read(ctx context.Context, t *testing.T, c *sim.Cluster, at string, key int) string {
	t.Helper()
	reply, err := c.Call(ctx, at, map[string]any{"type": "read", "key": key})
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Type  string          `json:"type"`
		Value json.RawMessage `json:"value"`
	}
	if code, err := sim.ErrorCode(reply); err == nil && code == node.CodeKeyDoesNotExist {
		return "absent"
	}
	if err := reply.Decode(&body); err != nil || body.Type != "read_ok" {
		t.Fatalf("read at %s: %v %s", at, err, reply.Body)
	}
	return string(body.Value)
}

func write(ctx context.Context, t *testing.T, c *sim.Cluster, at string, key, value int) {
	t.Helper()
	reply, err := c.Call(ctx, at, map[string]any{"type": "write", "key": key, "value": value})
	if err != nil || reply.Type() != "write_ok" {
		t.Fatalf("write at %s: %v %s", at, err, reply.Body)
	}
}

// The scripted anomaly a linearizability checker must catch: a write is
// acknowledged, then a later read elsewhere returns the value before it.
func TestStaleRead(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := sim.Start(ctx, []string{"n1", "n2", "n3"}, func(n *node.Node) { newServer(n) }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	write(ctx, t, c, "n1", 1, 1)
	await(ctx, t, c, "1")

	// Even without faults: the write is acknowledged before it replicates.
	write(ctx, t, c, "n1", 1, 2)
	if got := read(ctx, t, c, "n2", 1); got != "1" {
		t.Errorf("read at n2 right after write 2 was acknowledged = %s, want the stale 1", got)
	}
	await(ctx, t, c, "2")

	// Under a partition the stale value stays for good.
	c.Cut("n1", "n2")
	write(ctx, t, c, "n1", 1, 3)
	time.Sleep(300 * time.Millisecond) // well past the replication lag
	if got := read(ctx, t, c, "n3", 1); got != "3" {
		t.Errorf("n3 (not cut) = %s, want 3", got)
	}
	if got := read(ctx, t, c, "n2", 1); got != "2" {
		t.Errorf("n2 (cut from n1) = %s, want the stale 2", got)
	}
	c.Heal()
	time.Sleep(300 * time.Millisecond)
	if got := read(ctx, t, c, "n2", 1); got != "2" {
		t.Errorf("after healing n2 = %s: the lost replication should never be repaired", got)
	}
}

func TestErrorsLikeLinKV(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := sim.Start(ctx, []string{"n1"}, func(n *node.Node) { newServer(n) }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tt := range []struct {
		req  map[string]any
		want int
	}{
		{map[string]any{"type": "read", "key": 9}, node.CodeKeyDoesNotExist},
		{map[string]any{"type": "cas", "key": 9, "from": 1, "to": 2}, node.CodeKeyDoesNotExist},
	} {
		reply, err := c.Call(ctx, "n1", tt.req)
		if err != nil {
			t.Fatal(err)
		}
		if code, err := sim.ErrorCode(reply); err != nil || code != tt.want {
			t.Errorf("%v: got %s, want error %d", tt.req, reply.Body, tt.want)
		}
	}
	write(ctx, t, c, "n1", 9, 1)
	reply, err := c.Call(ctx, "n1", map[string]any{"type": "cas", "key": 9, "from": 5, "to": 2})
	if err != nil {
		t.Fatal(err)
	}
	if code, err := sim.ErrorCode(reply); err != nil || code != node.CodePreconditionFailed {
		t.Errorf("cas with wrong from: got %s, want error 22", reply.Body)
	}
}

// await waits until replication has brought value to n2 and n3.
func await(ctx context.Context, t *testing.T, c *sim.Cluster, value string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for read(ctx, t, c, "n2", 1) != value || read(ctx, t, c, "n3", 1) != value {
		if time.Now().After(deadline) {
			t.Fatalf("replication of %s never reached n2 and n3 without faults", value)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
