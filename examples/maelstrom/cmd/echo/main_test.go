package main

import (
	"context"
	"encoding/json"
	"io"
	"testing"
	"time"

	"example.com/maelstrom-examples/internal/sim"
)

func TestEcho(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := sim.Start(ctx, []string{"n1", "n2"}, setup, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, echo := range []any{"Please echo 35", 7.5, map[string]any{"a": []any{1.0, "b"}}} {
		reply, err := c.Call(ctx, "n2", map[string]any{"type": "echo", "echo": echo})
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Type string `json:"type"`
			Echo any    `json:"echo"`
		}
		if err := reply.Decode(&body); err != nil {
			t.Fatal(err)
		}
		if body.Type != "echo_ok" || !equalJSON(body.Echo, echo) || reply.Src != "n2" {
			t.Errorf("echo %v: got %s from %s", echo, reply.Body, reply.Src)
		}
	}
}

func equalJSON(a, b any) bool {
	return fmtJSON(a) == fmtJSON(b)
}

func fmtJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
