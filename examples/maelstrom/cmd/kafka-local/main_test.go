package main

import (
	"context"
	"encoding/json"
	"io"
	"testing"
	"time"

	"example.com/maelstrom-examples/internal/sim"
)

// Each node answers from its own logs: two nodes give offset 0 of one key
// to different messages, and neither sees the other's message.
func TestNodesDisagree(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := sim.Start(ctx, []string{"n1", "n2"}, setup, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, s := range []struct {
		at   string
		req  map[string]any
		want string
	}{
		{"n1", map[string]any{"type": "send", "key": "a", "msg": 1}, `{"offset":0,"type":"send_ok"}`},
		{"n2", map[string]any{"type": "send", "key": "a", "msg": 2}, `{"offset":0,"type":"send_ok"}`},
		{"n1", map[string]any{"type": "poll", "offsets": map[string]int{"a": 0}}, `{"msgs":{"a":[[0,1]]},"type":"poll_ok"}`},
		{"n2", map[string]any{"type": "commit_offsets", "offsets": map[string]int{"a": 0}}, `{"type":"commit_offsets_ok"}`},
		{"n1", map[string]any{"type": "list_committed_offsets", "keys": []string{"a"}}, `{"offsets":{},"type":"list_committed_offsets_ok"}`},
	} {
		m, err := c.Call(ctx, s.at, s.req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		if err := m.Decode(&body); err != nil {
			t.Fatal(err)
		}
		delete(body, "msg_id")
		delete(body, "in_reply_to")
		if got, _ := json.Marshal(body); string(got) != s.want {
			t.Errorf("%v at %s: %s, want %s", s.req, s.at, got, s.want)
		}
	}
}
