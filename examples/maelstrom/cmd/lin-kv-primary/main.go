// Command lin-kv-primary is a Maelstrom lin-kv node that is linearizable.
//
// The first node of init's node_ids (n1) holds every key and applies
// requests one at a time. Every other node forwards each client request to
// n1 and relays n1's answer. When n1 does not answer in time the request may
// or may not have been applied, so the client gets code 0 (timeout,
// indefinite). Code 11 (temporarily unavailable, definite) is used only when
// the request was certainly never applied: this node did not send it, either
// because writing it failed or because n1 timed out very recently and this
// node backs off for a moment instead of piling up more requests.
//
// n1 keeps its state in memory unless LIN_KV_STATE names a file, to which it
// appends and syncs every change before answering. Without that file a
// killed n1 forgets every key, which a linearizability checker rightly
// reports; with it, n1 may be killed and restarted safely.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"example.com/maelstrom-examples/internal/kvstore"
	"example.com/maelstrom-examples/node"
)

type server struct {
	n     *node.Node
	store *kvstore.Store
	// timeout bounds a forwarded request; backoff is how long after a
	// timeout new requests are refused with code 11 without being sent.
	timeout, backoff time.Duration

	mu           sync.Mutex
	suspectUntil time.Time
}

func newServer(n *node.Node, store *kvstore.Store) *server {
	s := &server{n: n, store: store, timeout: time.Second, backoff: 250 * time.Millisecond}
	for _, typ := range []string{"read", "write", "cas"} {
		n.Handle(typ, s.handle)
	}
	return s
}

func (s *server) handle(ctx context.Context, req node.Message) error {
	ids := s.n.NodeIDs()
	if len(ids) == 0 {
		return node.Errorf(node.CodeTemporarilyUnavailable, "no nodes known")
	}
	primary := ids[0]
	if s.n.ID() == primary {
		var body kvstore.Request
		if err := req.Decode(&body); err != nil {
			return node.Errorf(node.CodeMalformedRequest, "%v", err)
		}
		reply, err := s.store.Apply(body)
		if err != nil {
			return err
		}
		return s.n.Reply(req, reply)
	}
	return s.forward(ctx, primary, req)
}

func (s *server) forward(ctx context.Context, primary string, req node.Message) error {
	s.mu.Lock()
	suspect := time.Now().Before(s.suspectUntil)
	s.mu.Unlock()
	if suspect {
		return node.Errorf(node.CodeTemporarilyUnavailable, "primary %s timed out just now; request not sent", primary)
	}
	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	reply, err := s.n.RPC(rctx, primary, req.Body)
	var rerr *node.RPCError
	switch {
	case err == nil || errors.As(err, &rerr):
		// An answer, success or error: relay it as it is.
		s.mu.Lock()
		s.suspectUntil = time.Time{}
		s.mu.Unlock()
		return s.n.Reply(req, reply.Body)
	case errors.Is(err, node.ErrNotSent):
		return node.Errorf(node.CodeTemporarilyUnavailable, "could not send to primary %s: %v", primary, err)
	default:
		s.mu.Lock()
		s.suspectUntil = time.Now().Add(s.backoff)
		s.mu.Unlock()
		return node.Errorf(node.CodeTimeout, "primary %s did not answer in %v; the request may have been applied", primary, s.timeout)
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	store := kvstore.New()
	if path := os.Getenv("LIN_KV_STATE"); path != "" {
		var err error
		if store, err = kvstore.Open(path); err != nil {
			fmt.Fprintln(os.Stderr, "lin-kv-primary:", err)
			os.Exit(1)
		}
	}
	defer store.Close()
	n := node.New(os.Stdin, os.Stdout, os.Stderr)
	newServer(n, store)
	if err := n.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "lin-kv-primary:", err)
		os.Exit(1)
	}
}
