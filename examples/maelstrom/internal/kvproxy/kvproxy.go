// Package kvproxy serves Maelstrom's lin-kv workload while keeping
// nothing itself: every read, write and cas goes to one of Maelstrom's
// key-value services (lin-kv, seq-kv, lww-kv), and its answer goes back
// to the client. It is as consistent as the service it uses: linearizable
// on lin-kv, only sequentially consistent on seq-kv.
package kvproxy

import (
	"context"
	"errors"
	"time"

	"example.com/maelstrom-examples/node"
)

// Register makes n forward read, write and cas to service, waiting at
// most timeout for each answer.
func Register(n *node.Node, service string, timeout time.Duration) {
	h := func(ctx context.Context, req node.Message) error {
		rctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		reply, err := n.RPC(rctx, service, req.Body)
		var rerr *node.RPCError
		switch {
		case err == nil || errors.As(err, &rerr):
			// An answer, success or error (20 not found, 22 cas
			// failed): relay it with the client's in_reply_to.
			return n.Reply(req, reply.Body)
		case errors.Is(err, node.ErrNotSent):
			return node.Errorf(node.CodeTemporarilyUnavailable, "could not send to %s: %v", service, err)
		default:
			return node.Errorf(node.CodeTimeout, "%s did not answer in %v; the request may have been applied", service, timeout)
		}
	}
	for _, typ := range []string{"read", "write", "cas"} {
		n.Handle(typ, h)
	}
}
