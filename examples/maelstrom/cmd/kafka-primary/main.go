// Command kafka-primary is a Maelstrom kafka node that is correct: the
// first node of init's node_ids (n1) keeps every log and committed offset
// and applies requests one at a time, so offsets are given in order, once,
// and every poll sees one log. Every other node forwards each client
// request to n1 and relays n1's answer.
//
// As in lin-kv-primary, a forwarded request n1 does not answer within 1 s
// may or may not have been applied: the client gets code 0 (timeout,
// indefinite). Code 11 (temporarily unavailable, definite) is given only
// for requests that never left this node: writing them out failed, or n1
// timed out less than 250 ms ago and this node backs off instead of piling
// up more requests. State is in memory: a killed n1 forgets every log,
// which the kafka checker rightly reports.
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

	"example.com/maelstrom-examples/internal/kafkalog"
	"example.com/maelstrom-examples/node"
)

type server struct {
	n    *node.Node
	logs *kafkalog.Logs
	// timeout bounds a forwarded request; backoff is how long after a
	// timeout new requests are refused with code 11 without being sent.
	timeout, backoff time.Duration

	mu           sync.Mutex
	suspectUntil time.Time
}

func newServer(n *node.Node) *server {
	s := &server{n: n, logs: kafkalog.New(), timeout: time.Second, backoff: 250 * time.Millisecond}
	for _, typ := range kafkalog.Types {
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
	if s.n.ID() != primary {
		return s.forward(ctx, primary, req)
	}
	body, err := kafkalog.Decode(req)
	if err != nil {
		return err
	}
	reply, err := s.logs.Apply(body)
	if err != nil {
		return err
	}
	return s.n.Reply(req, reply)
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
	n := node.New(os.Stdin, os.Stdout, os.Stderr)
	newServer(n)
	if err := n.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "kafka-primary:", err)
		os.Exit(1)
	}
}
