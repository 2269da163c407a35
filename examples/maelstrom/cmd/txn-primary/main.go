// Command txn-primary is a Maelstrom node for txn-list-append and
// txn-rw-register that is strictly serializable.
//
// The first node of init's node_ids (n1) holds every key and applies each
// transaction whole, one at a time. Every other node forwards the client's
// txn to n1 and relays n1's answer. When n1 does not answer in time the
// transaction may or may not have been applied, so the client gets code 0
// (timeout, indefinite); code 11 (temporarily unavailable, definite) only
// when the request certainly never left this node.
//
// State lives in memory: a killed n1 forgets everything, which the
// transactional checker rightly reports. Run it under partitions and
// pauses.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"example.com/maelstrom-examples/internal/txnstore"
	"example.com/maelstrom-examples/node"
)

type server struct {
	n     *node.Node
	store *txnstore.Store
	// timeout bounds a forwarded transaction.
	timeout time.Duration
}

func newServer(n *node.Node) *server {
	s := &server{n: n, store: txnstore.New(), timeout: time.Second}
	n.Handle("txn", s.handle)
	return s
}

func (s *server) handle(ctx context.Context, req node.Message) error {
	ids := s.n.NodeIDs()
	if len(ids) == 0 {
		return node.Errorf(node.CodeTemporarilyUnavailable, "no nodes known")
	}
	if primary := ids[0]; s.n.ID() != primary {
		return s.forward(ctx, primary, req)
	}
	txn, err := txnstore.Parse(req.Body)
	if err != nil {
		return node.Errorf(node.CodeMalformedRequest, "%v", err)
	}
	return s.n.Reply(req, map[string]any{"type": "txn_ok", "txn": s.store.Apply(txn)})
}

// forward sends the request to the primary and relays its answer.
func (s *server) forward(ctx context.Context, primary string, req node.Message) error {
	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	reply, err := s.n.RPC(rctx, primary, req.Body)
	var rerr *node.RPCError
	switch {
	case err == nil || errors.As(err, &rerr):
		return s.n.Reply(req, reply.Body)
	case errors.Is(err, node.ErrNotSent):
		return node.Errorf(node.CodeTemporarilyUnavailable, "could not send to primary %s: %v", primary, err)
	default:
		return node.Errorf(node.CodeTimeout, "primary %s did not answer in %v; the transaction may have been applied", primary, s.timeout)
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n := node.New(os.Stdin, os.Stdout, os.Stderr)
	newServer(n)
	if err := n.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "txn-primary:", err)
		os.Exit(1)
	}
}
