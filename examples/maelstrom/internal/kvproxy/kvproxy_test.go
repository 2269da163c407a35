package kvproxy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"testing"
	"time"

	"example.com/maelstrom-examples/internal/sim"
	"example.com/maelstrom-examples/node"
)

func start(t *testing.T, ctx context.Context, service string, kv *sim.KV) *sim.Cluster {
	t.Helper()
	c, err := sim.Start(ctx, []string{"n1", "n2", "n3"}, func(n *node.Node) { Register(n, service, 200*time.Millisecond) }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if kv != nil {
		c.Serve(service, kv.Serve)
	}
	return c
}

// answer is a reply in one short string: "read_ok 3", "error 20", "write_ok".
func answer(t *testing.T, c *sim.Cluster, ctx context.Context, at string, body map[string]any) string {
	t.Helper()
	reply, err := c.Call(ctx, at, body)
	if err != nil {
		t.Fatal(err)
	}
	if code, err := sim.ErrorCode(reply); err == nil {
		return fmt.Sprintf("error %d", code)
	}
	var b struct {
		Type  string          `json:"type"`
		Value json.RawMessage `json:"value"`
	}
	if err := reply.Decode(&b); err != nil {
		t.Fatal(err)
	}
	if b.Value != nil {
		return b.Type + " " + string(b.Value)
	}
	return b.Type
}

// TestProxy: on a linearizable service every node answers as one store,
// with the service's error codes; on a stale (sequential) one a node reads
// the past, which is why lin-kv-proxy-seq is not linearizable; with no
// service answering, the client gets an indeterminate timeout.
func TestProxy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	read := map[string]any{"type": "read", "key": 1}
	for _, tc := range []struct {
		name    string
		service string
		kv      *sim.KV
	}{
		{"lin-kv", "lin-kv", sim.NewKV(false)},
		{"seq-kv", "seq-kv", sim.NewKV(true)},
		{"none", "lin-kv", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := start(t, ctx, tc.service, tc.kv)
			if tc.kv == nil {
				if got := answer(t, c, ctx, "n1", read); got != "error 0" {
					t.Fatalf("no service: %s, want error 0 (timeout, indeterminate)", got)
				}
				return
			}
			if got := answer(t, c, ctx, "n1", read); got != "error 20" {
				t.Fatalf("read of a missing key: %s", got)
			}
			if got := answer(t, c, ctx, "n1", map[string]any{"type": "write", "key": 1, "value": 5}); got != "write_ok" {
				t.Fatalf("write: %s", got)
			}
			if got := answer(t, c, ctx, "n1", map[string]any{"type": "cas", "key": 1, "from": 4, "to": 6}); got != "error 22" {
				t.Fatalf("cas 4->6 on 5: %s", got)
			}
			want := "read_ok 5"
			if tc.service == "seq-kv" {
				want = "error 20" // n2 has not updated anything: it sees the empty store
			}
			if got := answer(t, c, ctx, "n2", read); got != want {
				t.Fatalf("read at n2 after n1 wrote 5: %s, want %s", got, want)
			}
		})
	}
}
