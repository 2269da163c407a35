// Command broadcast-gossip is a correct Maelstrom broadcast node.
//
// It keeps every message it has seen and gossips each new one to every other
// node (ignoring the suggested topology), retrying until that node
// acknowledges it, so the cluster converges once partitions heal. A node that
// learns a message from anyone forwards it too, so a message survives the
// death of the node that first received it as soon as one peer has it.
//
// State lives in memory only: a killed node loses it. On every init (which a
// restarted node receives again) it asks each peer for everything that peer
// knows, retrying until each has answered, and so re-learns what it lost.
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
	"time"

	"example.com/maelstrom-examples/node"
)

type server struct {
	n *node.Node
	// retry is how often unacknowledged gossip is sent again; rpcTimeout
	// bounds one attempt.
	retry, rpcTimeout time.Duration

	mu      sync.Mutex
	started bool
	seen    map[string]json.RawMessage            // compact JSON text -> value
	pending map[string]map[string]json.RawMessage // peer -> values it has not acknowledged
	kick    map[string]chan struct{}              // peer -> wake its sender now
}

func newServer(n *node.Node) *server {
	s := &server{
		n:          n,
		retry:      200 * time.Millisecond,
		rpcTimeout: time.Second,
		seen:       make(map[string]json.RawMessage),
		pending:    make(map[string]map[string]json.RawMessage),
		kick:       make(map[string]chan struct{}),
	}
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
		if err := s.add("", []json.RawMessage{body.Message}); err != nil {
			return node.Errorf(node.CodeMalformedRequest, "%v", err)
		}
		return n.Reply(req, map[string]any{"type": "broadcast_ok"})
	})
	n.Handle("read", func(ctx context.Context, req node.Message) error {
		return n.Reply(req, map[string]any{"type": "read_ok", "messages": s.all()})
	})
	n.Handle("gossip", func(ctx context.Context, req node.Message) error {
		var body struct {
			Messages []json.RawMessage `json:"messages"`
		}
		if err := req.Decode(&body); err != nil {
			return node.Errorf(node.CodeMalformedRequest, "%v", err)
		}
		if err := s.add(req.Src, body.Messages); err != nil {
			return node.Errorf(node.CodeMalformedRequest, "%v", err)
		}
		return n.Reply(req, map[string]any{"type": "gossip_ok"})
	})
	n.Handle("sync", func(ctx context.Context, req node.Message) error {
		return n.Reply(req, map[string]any{"type": "sync_ok", "messages": s.all()})
	})
	n.OnInit(s.start)
	return s
}

// add records values learned from src ("" for a client) and queues the new
// ones for every peer but src.
func (s *server) add(src string, values []json.RawMessage) error {
	peers := s.n.Peers()
	s.mu.Lock()
	defer s.mu.Unlock()
	fresh := false
	for _, v := range values {
		key, err := compact(v)
		if err != nil {
			return err
		}
		if _, ok := s.seen[key]; ok {
			continue
		}
		s.seen[key] = v
		fresh = true
		for _, p := range peers {
			if p == src {
				continue
			}
			if s.pending[p] == nil {
				s.pending[p] = make(map[string]json.RawMessage)
			}
			s.pending[p][key] = v
		}
	}
	if fresh {
		for _, ch := range s.kick {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
	return nil
}

func (s *server) all() []json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]json.RawMessage, 0, len(s.seen))
	for _, v := range s.seen {
		out = append(out, v)
	}
	return out
}

// start runs, after init, one sender per peer and one catch-up per peer.
func (s *server) start(ctx context.Context) {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return
	}
	s.started = true
	peers := s.n.Peers()
	for _, p := range peers {
		s.kick[p] = make(chan struct{}, 1)
	}
	s.mu.Unlock()

	var wg sync.WaitGroup
	for _, p := range peers {
		wg.Add(2)
		go func() { defer wg.Done(); s.sender(ctx, p) }()
		go func() { defer wg.Done(); s.catchUp(ctx, p) }()
	}
	wg.Wait()
}

// sender sends peer everything it has not acknowledged, in one batch, until
// it does.
func (s *server) sender(ctx context.Context, peer string) {
	s.mu.Lock()
	kick := s.kick[peer]
	s.mu.Unlock()
	tick := time.NewTicker(s.retry)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-kick:
		}
		s.mu.Lock()
		batch := make(map[string]json.RawMessage, len(s.pending[peer]))
		for k, v := range s.pending[peer] {
			batch[k] = v
		}
		s.mu.Unlock()
		if len(batch) == 0 {
			continue
		}
		values := make([]json.RawMessage, 0, len(batch))
		for _, v := range batch {
			values = append(values, v)
		}
		rctx, cancel := context.WithTimeout(ctx, s.rpcTimeout)
		_, err := s.n.RPC(rctx, peer, map[string]any{"type": "gossip", "messages": values})
		cancel()
		if err != nil {
			continue // retried on the next tick
		}
		s.mu.Lock()
		for k := range batch {
			delete(s.pending[peer], k)
		}
		s.mu.Unlock()
	}
}

// catchUp asks peer for all it knows until it answers once.
func (s *server) catchUp(ctx context.Context, peer string) {
	for {
		rctx, cancel := context.WithTimeout(ctx, s.rpcTimeout)
		reply, err := s.n.RPC(rctx, peer, map[string]any{"type": "sync"})
		cancel()
		if err == nil {
			var body struct {
				Messages []json.RawMessage `json:"messages"`
			}
			if err := reply.Decode(&body); err == nil {
				if err := s.add(peer, body.Messages); err == nil {
					return
				}
			}
			s.n.Logf("bad sync_ok from %s: %s", peer, reply.Body)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.retry):
		}
	}
}

func compact(v json.RawMessage) (string, error) {
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		return "", fmt.Errorf("message is not JSON: %w", err)
	}
	return b.String(), nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n := node.New(os.Stdin, os.Stdout, os.Stderr)
	newServer(n)
	if err := n.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "broadcast-gossip:", err)
		os.Exit(1)
	}
}
