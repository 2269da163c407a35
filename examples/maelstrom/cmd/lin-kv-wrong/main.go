// Command lin-kv-wrong is a Maelstrom lin-kv node that is NOT linearizable,
// on purpose, for a checker to catch.
//
// Each node applies reads, writes and cas to its own copy and answers at
// once, then tells the other nodes about a change asynchronously, once,
// after a short delay, with no retries and no ordering. So a read on another
// node can return a value older than a write that has already been
// acknowledged (a stale read), concurrent writes on two nodes leave them
// disagreeing, and a partition makes the difference permanent.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"example.com/maelstrom-examples/internal/kvstore"
	"example.com/maelstrom-examples/node"
)

type server struct {
	n     *node.Node
	store *kvstore.Store
	// lag delays replication; it only widens a window that exists anyway,
	// so that short test runs find the anomaly reliably.
	lag time.Duration
}

func newServer(n *node.Node) *server {
	s := &server{n: n, store: kvstore.New(), lag: 100 * time.Millisecond}
	for _, typ := range []string{"read", "write", "cas"} {
		n.Handle(typ, s.handle)
	}
	n.Handle("replicate", func(ctx context.Context, req node.Message) error {
		var body struct {
			Key   json.RawMessage `json:"key"`
			Value json.RawMessage `json:"value"`
		}
		if err := req.Decode(&body); err != nil {
			return err
		}
		if err := s.store.Set(body.Key, body.Value); err != nil {
			n.Logf("replicate from %s: %v", req.Src, err)
		}
		return nil // replicate expects no answer
	})
	return s
}

func (s *server) handle(ctx context.Context, req node.Message) error {
	var body kvstore.Request
	if err := req.Decode(&body); err != nil {
		return node.Errorf(node.CodeMalformedRequest, "%v", err)
	}
	reply, err := s.store.Apply(body)
	if err != nil {
		return err
	}
	if body.Type != "read" {
		value := body.Value
		if body.Type == "cas" {
			value = body.To
		}
		go s.replicate(ctx, body.Key, value)
	}
	return s.n.Reply(req, reply)
}

func (s *server) replicate(ctx context.Context, key, value json.RawMessage) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(s.lag):
	}
	for _, p := range s.n.Peers() {
		if err := s.n.Send(p, map[string]any{"type": "replicate", "key": key, "value": value}); err != nil {
			s.n.Logf("replicate to %s: %v", p, err)
		}
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n := node.New(os.Stdin, os.Stdout, os.Stderr)
	newServer(n)
	if err := n.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "lin-kv-wrong:", err)
		os.Exit(1)
	}
}
