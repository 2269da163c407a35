// Command broadcast-naive is a Maelstrom broadcast node that is wrong on
// purpose: it sends each message a client gives it once to every other node
// and never retries, so a message sent across a cut link is lost for that
// node for good, even after the partition heals.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"example.com/maelstrom-examples/node"
)

type server struct {
	n    *node.Node
	mu   sync.Mutex
	seen map[string]json.RawMessage
}

func newServer(n *node.Node) *server {
	s := &server{n: n, seen: make(map[string]json.RawMessage)}
	n.Handle("topology", func(ctx context.Context, req node.Message) error {
		return n.Reply(req, map[string]any{"type": "topology_ok"})
	})
	n.Handle("broadcast", func(ctx context.Context, req node.Message) error {
		var body struct {
			Message json.RawMessage `json:"message"`
		}
		if err := req.Decode(&body); err != nil || body.Message == nil {
			return node.Errorf(node.CodeMalformedRequest, "broadcast needs a message: %v", err)
		}
		fresh, err := s.add(body.Message)
		if err != nil {
			return node.Errorf(node.CodeMalformedRequest, "%v", err)
		}
		if fresh {
			for _, p := range n.Peers() {
				// Fire and forget: the flaw this node exists to show.
				if err := n.Send(p, map[string]any{"type": "tell", "message": body.Message}); err != nil {
					n.Logf("tell %s: %v", p, err)
				}
			}
		}
		return n.Reply(req, map[string]any{"type": "broadcast_ok"})
	})
	n.Handle("tell", func(ctx context.Context, req node.Message) error {
		var body struct {
			Message json.RawMessage `json:"message"`
		}
		if err := req.Decode(&body); err != nil {
			return err
		}
		_, err := s.add(body.Message)
		return err // tell expects no answer
	})
	n.Handle("read", func(ctx context.Context, req node.Message) error {
		s.mu.Lock()
		out := make([]json.RawMessage, 0, len(s.seen))
		for _, v := range s.seen {
			out = append(out, v)
		}
		s.mu.Unlock()
		return n.Reply(req, map[string]any{"type": "read_ok", "messages": out})
	})
	return s
}

func (s *server) add(v json.RawMessage) (bool, error) {
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		return false, fmt.Errorf("message is not JSON: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.seen[b.String()]; ok {
		return false, nil
	}
	s.seen[b.String()] = v
	return true, nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n := node.New(os.Stdin, os.Stdout, os.Stderr)
	newServer(n)
	if err := n.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "broadcast-naive:", err)
		os.Exit(1)
	}
}
