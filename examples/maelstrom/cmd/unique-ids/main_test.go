package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"example.com/maelstrom-examples/internal/sim"
	"example.com/maelstrom-examples/node"
)

// generate asks node id for an id and returns its JSON text.
func generate(ctx context.Context, t *testing.T, c *sim.Cluster, id string) string {
	t.Helper()
	reply, err := c.Call(ctx, id, map[string]any{"type": "generate"})
	if err != nil {
		t.Fatalf("generate at %s: %v", id, err)
	}
	var body struct {
		Type string `json:"type"`
		ID   any    `json:"id"`
	}
	if err := reply.Decode(&body); err != nil {
		t.Fatal(err)
	}
	s, ok := body.ID.(string)
	if body.Type != "generate_ok" || !ok {
		t.Fatalf("generate at %s: %s", id, reply.Body)
	}
	return s
}

// TestUniqueAcrossRestarts: ids from every node, through restarts of
// nodes (twice for n1, once while cut off), are never repeated, and a
// life's number comes from the file.
func TestUniqueAcrossRestarts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dir := t.TempDir()
	ids := []string{"n1", "n2", "n3"}
	c, err := sim.Start(ctx, ids, func(n *node.Node) { newServer(n, dir) }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	seen := map[string]string{}
	round := func(what string) {
		for i := range 30 {
			at := ids[i%len(ids)]
			id := generate(ctx, t, c, at)
			if prev, dup := seen[id]; dup {
				t.Fatalf("%s: id %s from %s was handed out already (%s)", what, id, at, prev)
			}
			seen[id] = what + " at " + at
		}
	}
	round("first life")
	for _, r := range []struct{ node, what string }{{"n1", "n1 restarted"}, {"n1", "n1 restarted twice"}, {"n2", "n2 restarted while cut off"}} {
		if r.node == "n2" {
			c.Isolate("n2")
		}
		if err := c.Restart(ctx, r.node); err != nil {
			t.Fatal(err)
		}
		round(r.what)
	}
	if len(seen) != 120 {
		t.Errorf("%d distinct ids, want 120", len(seen))
	}
	if id := generate(ctx, t, c, "n1"); !strings.HasPrefix(id, "n1-3-") {
		t.Errorf("n1's id after two restarts: %s, want life 3 (n1-3-...)", id)
	}
	b, err := os.ReadFile(filepath.Join(dir, "unique-ids-n1.life"))
	if err != nil || strings.TrimSpace(string(b)) != "3" {
		t.Errorf("n1's life file: %q %v, want 3", b, err)
	}
}

// TestUnwritableLifeFile: without its life number on disk a node hands out
// no id, and says so with a definite error.
func TestUnwritableLifeFile(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	missing := filepath.Join(t.TempDir(), "no", "such", "dir")
	c, err := sim.Start(ctx, []string{"n1"}, func(n *node.Node) { newServer(n, missing) }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	reply, err := c.Call(ctx, "n1", map[string]any{"type": "generate"})
	if err != nil {
		t.Fatal(err)
	}
	if code, err := sim.ErrorCode(reply); err != nil || code != node.CodeTemporarilyUnavailable {
		t.Errorf("generate without a life file: %s, want error %d", reply.Body, node.CodeTemporarilyUnavailable)
	}
}
