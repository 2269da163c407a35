// Command txn-local is a Maelstrom node for txn-list-append and
// txn-rw-register that is NOT serializable, on purpose: the transactional
// checker must catch it.
//
// Each node applies a transaction to its own copy of the data at once and
// answers, then sends the transaction's appends and writes to every other
// node once, without waiting or retrying. Another node's copy therefore
// lags (a client that moves to it reads the past), two nodes may apply
// concurrent writes in different orders, and a copy sent across a
// partition is lost for good.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"example.com/maelstrom-examples/internal/txnstore"
	"example.com/maelstrom-examples/node"
)

type server struct {
	n     *node.Node
	store *txnstore.Store
}

func newServer(n *node.Node) *server {
	s := &server{n: n, store: txnstore.New()}
	n.Handle("txn", s.txn)
	n.Handle("replicate", s.replicate)
	return s
}

func (s *server) txn(ctx context.Context, req node.Message) error {
	txn, err := txnstore.Parse(req.Body)
	if err != nil {
		return node.Errorf(node.CodeMalformedRequest, "%v", err)
	}
	done := s.store.Apply(txn)
	if err := s.n.Reply(req, map[string]any{"type": "txn_ok", "txn": done}); err != nil {
		return err
	}
	var writes []txnstore.MicroOp
	for _, m := range txn {
		if m.F != "r" {
			writes = append(writes, m)
		}
	}
	if len(writes) == 0 {
		return nil
	}
	for _, p := range s.n.Peers() {
		// Once, no acknowledgement: lost if the link is down.
		if err := s.n.Send(p, map[string]any{"type": "replicate", "txn": writes}); err != nil {
			s.n.Logf("replicate to %s: %v", p, err)
		}
	}
	return nil
}

func (s *server) replicate(ctx context.Context, req node.Message) error {
	txn, err := txnstore.Parse(req.Body)
	if err != nil {
		s.n.Logf("replicate from %s: %v", req.Src, err)
		return nil
	}
	s.store.ApplyWrites(txn)
	return nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n := node.New(os.Stdin, os.Stdout, os.Stderr)
	newServer(n)
	if err := n.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "txn-local:", err)
		os.Exit(1)
	}
}
