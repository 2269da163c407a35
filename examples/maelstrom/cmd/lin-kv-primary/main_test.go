package main

import (
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"testing"
	"time"

	"example.com/maelstrom-examples/internal/kvstore"
	"example.com/maelstrom-examples/internal/sim"
	"example.com/maelstrom-examples/node"
)

type step struct {
	at       string
	req      map[string]any
	wantType string // "read_ok", "write_ok", "cas_ok" or "error"
	wantCode int    // when wantType is "error"
	wantVal  string // for read_ok: the value's JSON
}

func run(ctx context.Context, t *testing.T, c *sim.Cluster, steps []step) {
	t.Helper()
	for i, s := range steps {
		reply, err := c.Call(ctx, s.at, s.req)
		if err != nil {
			t.Fatalf("step %d %v at %s: %v", i, s.req, s.at, err)
		}
		var body struct {
			Type  string          `json:"type"`
			Code  int             `json:"code"`
			Value json.RawMessage `json:"value"`
		}
		if err := reply.Decode(&body); err != nil {
			t.Fatal(err)
		}
		bad := body.Type != s.wantType ||
			(s.wantType == "error" && body.Code != s.wantCode) ||
			(s.wantType == "read_ok" && string(body.Value) != s.wantVal)
		if bad {
			t.Errorf("step %d %v at %s: got %s, want %s %d %s", i, s.req, s.at, reply.Body, s.wantType, s.wantCode, s.wantVal)
		}
	}
}

func start(ctx context.Context, t *testing.T, timeout time.Duration) *sim.Cluster {
	t.Helper()
	c, err := sim.Start(ctx, []string{"n1", "n2", "n3"}, func(n *node.Node) {
		s := newServer(n, kvstore.New())
		s.timeout = timeout
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestReadWriteCAS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := start(ctx, t, time.Second)
	rd := func(k int) map[string]any { return map[string]any{"type": "read", "key": k} }
	wr := func(k, v int) map[string]any { return map[string]any{"type": "write", "key": k, "value": v} }
	cas := func(k, from, to int) map[string]any {
		return map[string]any{"type": "cas", "key": k, "from": from, "to": to}
	}
	run(ctx, t, c, []step{
		{at: "n2", req: rd(1), wantType: "error", wantCode: node.CodeKeyDoesNotExist},
		{at: "n1", req: cas(1, 0, 1), wantType: "error", wantCode: node.CodeKeyDoesNotExist},
		{at: "n2", req: wr(1, 10), wantType: "write_ok"},
		{at: "n3", req: rd(1), wantType: "read_ok", wantVal: "10"},
		{at: "n1", req: rd(1), wantType: "read_ok", wantVal: "10"},
		{at: "n3", req: cas(1, 11, 12), wantType: "error", wantCode: node.CodePreconditionFailed},
		{at: "n3", req: cas(1, 10, 12), wantType: "cas_ok"},
		{at: "n2", req: rd(1), wantType: "read_ok", wantVal: "12"},
		{at: "n2", req: rd(2), wantType: "error", wantCode: node.CodeKeyDoesNotExist},
		{at: "n3", req: map[string]any{"type": "cas", "key": 2, "from": 0, "to": 5, "create_if_not_exists": true}, wantType: "cas_ok"},
		{at: "n1", req: rd(2), wantType: "read_ok", wantVal: "5"},
		{at: "n2", req: map[string]any{"type": "frob"}, wantType: "error", wantCode: node.CodeNotSupported},
	})
}

// When n1 cannot be reached, a forwarded request that was sent is
// indeterminate (code 0); right after such a timeout the node refuses new
// requests without sending them (code 11), and those certainly did not
// happen.
func TestPrimaryUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := start(ctx, t, 200*time.Millisecond)
	wr := func(k, v int) map[string]any { return map[string]any{"type": "write", "key": k, "value": v} }
	run(ctx, t, c, []step{{at: "n2", req: wr(1, 1), wantType: "write_ok"}})
	c.Cut("n1", "n2")
	run(ctx, t, c, []step{
		{at: "n2", req: wr(1, 2), wantType: "error", wantCode: node.CodeTimeout},
		{at: "n2", req: wr(1, 3), wantType: "error", wantCode: node.CodeTemporarilyUnavailable},
		// n3 still reaches n1 and sees that neither write happened.
		{at: "n3", req: map[string]any{"type": "read", "key": 1}, wantType: "read_ok", wantVal: "1"},
	})
	c.Heal()
	time.Sleep(300 * time.Millisecond) // past the back-off
	run(ctx, t, c, []step{
		{at: "n2", req: wr(1, 4), wantType: "write_ok"},
		{at: "n3", req: map[string]any{"type": "read", "key": 1}, wantType: "read_ok", wantVal: "4"},
	})
}

// With a state file, n1 keeps acknowledged writes across a restart.
func TestStateSurvivesRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	path := filepath.Join(t.TempDir(), "state")
	c, err := sim.Start(ctx, []string{"n1", "n2"}, func(n *node.Node) {
		store, err := kvstore.Open(path)
		if err != nil {
			t.Error(err)
			store = kvstore.New()
		}
		newServer(n, store)
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	run(ctx, t, c, []step{
		{at: "n2", req: map[string]any{"type": "write", "key": "a", "value": []int{1, 2}}, wantType: "write_ok"},
		{at: "n1", req: map[string]any{"type": "cas", "key": "a", "from": []int{1, 2}, "to": 7}, wantType: "cas_ok"},
	})
	if err := c.Restart(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	run(ctx, t, c, []step{{at: "n2", req: map[string]any{"type": "read", "key": "a"}, wantType: "read_ok", wantVal: "7"}})
}
