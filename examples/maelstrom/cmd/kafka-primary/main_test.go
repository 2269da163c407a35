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

type step struct {
	at   string
	req  map[string]any
	want string // the reply body without msg_id, in_reply_to and text
}

// reply returns a reply body as compact JSON without its ids and text.
func reply(t *testing.T, m node.Message) string {
	t.Helper()
	var body map[string]any
	if err := m.Decode(&body); err != nil {
		t.Fatal(err)
	}
	delete(body, "msg_id")
	delete(body, "in_reply_to")
	delete(body, "text")
	b, _ := json.Marshal(body)
	return string(b)
}

func run(ctx context.Context, t *testing.T, c *sim.Cluster, steps []step) {
	t.Helper()
	for i, s := range steps {
		m, err := c.Call(ctx, s.at, s.req)
		if err != nil {
			t.Fatalf("step %d %v at %s: %v", i, s.req, s.at, err)
		}
		if got := reply(t, m); got != s.want {
			t.Errorf("step %d %v at %s: %s, want %s", i, s.req, s.at, got, s.want)
		}
	}
}

func start(ctx context.Context, t *testing.T, timeout time.Duration) *sim.Cluster {
	t.Helper()
	c, err := sim.Start(ctx, []string{"n1", "n2", "n3"}, func(n *node.Node) {
		newServer(n).timeout = timeout
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func send(k string, m int) map[string]any {
	return map[string]any{"type": "send", "key": k, "msg": m}
}

func poll(offs map[string]int) map[string]any { return map[string]any{"type": "poll", "offsets": offs} }

// Every node gives offsets from one log and sees every message.
func TestOneLog(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := start(ctx, t, time.Second)
	run(ctx, t, c, []step{
		{at: "n2", req: send("a", 10), want: `{"offset":0,"type":"send_ok"}`},
		{at: "n3", req: send("a", 11), want: `{"offset":1,"type":"send_ok"}`},
		{at: "n1", req: send("a", 12), want: `{"offset":2,"type":"send_ok"}`},
		{at: "n3", req: poll(map[string]int{"a": 1}), want: `{"msgs":{"a":[[1,11],[2,12]]},"type":"poll_ok"}`},
		{at: "n2", req: map[string]any{"type": "commit_offsets", "offsets": map[string]int{"a": 1}}, want: `{"type":"commit_offsets_ok"}`},
		{at: "n3", req: map[string]any{"type": "list_committed_offsets", "keys": []string{"a", "b"}}, want: `{"offsets":{"a":1},"type":"list_committed_offsets_ok"}`},
		{at: "n1", req: map[string]any{"type": "frob"}, want: `{"code":10,"type":"error"}`},
	})
}

// When n1 cannot be reached, a forwarded send is indeterminate (code 0);
// right after, requests are refused unsent (code 11); after the heal the
// log goes on where it was.
func TestPrimaryUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := start(ctx, t, 200*time.Millisecond)
	run(ctx, t, c, []step{{at: "n2", req: send("a", 1), want: `{"offset":0,"type":"send_ok"}`}})
	c.Cut("n1", "n2")
	run(ctx, t, c, []step{
		{at: "n2", req: send("a", 2), want: `{"code":0,"type":"error"}`},
		{at: "n2", req: send("a", 3), want: `{"code":11,"type":"error"}`},
		{at: "n3", req: poll(map[string]int{"a": 0}), want: `{"msgs":{"a":[[0,1]]},"type":"poll_ok"}`},
	})
	c.Heal()
	time.Sleep(300 * time.Millisecond) // past the back-off
	run(ctx, t, c, []step{
		{at: "n2", req: send("a", 4), want: `{"offset":1,"type":"send_ok"}`},
	})
}
