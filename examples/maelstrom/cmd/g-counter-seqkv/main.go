// Command g-counter-seqkv is a Maelstrom g-counter node in the way of the
// Gossip Glomers challenge: it keeps the counter in Maelstrom's seq-kv
// service, one key per node, so nodes never talk to each other.
//
// An add moves this node's own key from its last value to the sum by cas
// (create_if_not_exists for the first), retrying on a failed comparison;
// only this node writes its key, and seq-kv shows a caller its own
// writes, so the retries end. A read first writes a value never written
// before to this node's sync key: an update that changes the store takes
// effect at seq-kv's newest state and moves this node there, so the
// reads of every node's key that follow see at least every add that had
// completed before the read began. Without that write, seq-kv may answer
// from a past state, and the sum would be stale.
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

	"example.com/maelstrom-examples/node"
)

const service = "seq-kv"

type counter struct {
	n       *node.Node
	timeout time.Duration

	mu    sync.Mutex // one add at a time: they cas the same key
	own   int64      // this node's key's value, when known
	known bool

	syncMu sync.Mutex
	sync   int64 // the last value written to the sync key
}

func countKey(id string) string { return "count-" + id }

// call sends body to seq-kv, mapping a lost or unanswered request to the
// error the client should see.
func (c *counter) call(ctx context.Context, body map[string]any) (node.Message, error) {
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	reply, err := c.n.RPC(rctx, service, body)
	var rerr *node.RPCError
	switch {
	case err == nil, errors.As(err, &rerr):
		return reply, err
	case errors.Is(err, node.ErrNotSent):
		return reply, node.Errorf(node.CodeTemporarilyUnavailable, "could not send to %s: %v", service, err)
	default:
		return reply, node.Errorf(node.CodeTimeout, "%s did not answer in %v", service, c.timeout)
	}
}

// readKey reads key from seq-kv; a missing key is 0.
func (c *counter) readKey(ctx context.Context, key string) (int64, error) {
	reply, err := c.call(ctx, map[string]any{"type": "read", "key": key})
	var rerr *node.RPCError
	if errors.As(err, &rerr) && rerr.Code == node.CodeKeyDoesNotExist {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var body struct {
		Value int64 `json:"value"`
	}
	if err := reply.Decode(&body); err != nil {
		return 0, err
	}
	return body.Value, nil
}

func (c *counter) add(ctx context.Context, req node.Message) error {
	var body struct {
		Delta *int64 `json:"delta"`
	}
	if err := req.Decode(&body); err != nil || body.Delta == nil {
		return node.Errorf(node.CodeMalformedRequest, "add needs an integer delta")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	key := countKey(c.n.ID())
	for {
		if !c.known {
			v, err := c.readKey(ctx, key)
			if err != nil {
				return err
			}
			c.own, c.known = v, true
		}
		_, err := c.call(ctx, map[string]any{"type": "cas", "key": key, "from": c.own, "to": c.own + *body.Delta, "create_if_not_exists": true})
		var rerr *node.RPCError
		switch {
		case err == nil:
			c.own += *body.Delta
			return c.n.Reply(req, map[string]any{"type": "add_ok"})
		case errors.As(err, &rerr) && rerr.Code == node.CodePreconditionFailed:
			c.known = false // read again: our copy was stale (say, after a restart)
		default:
			// Unanswered: the cas may have been applied; read again.
			c.known = false
			return err
		}
		if ctx.Err() != nil {
			return node.Errorf(node.CodeTimeout, "add: %v", ctx.Err())
		}
	}
}

func (c *counter) read(ctx context.Context, req node.Message) error {
	// A value never written before, even by this node's earlier life: a
	// write of the value already there changes nothing and syncs nothing.
	c.syncMu.Lock()
	c.sync = max(c.sync+1, time.Now().UnixNano())
	token := c.sync
	c.syncMu.Unlock()
	if _, err := c.call(ctx, map[string]any{"type": "write", "key": "sync-" + c.n.ID(), "value": token}); err != nil {
		return err
	}
	var sum int64
	for _, id := range c.n.NodeIDs() {
		v, err := c.readKey(ctx, countKey(id))
		if err != nil {
			return err
		}
		sum += v
	}
	return c.n.Reply(req, map[string]any{"type": "read_ok", "value": sum})
}

// newCounter serves add and read on n, waiting at most timeout for each
// answer of seq-kv.
func newCounter(n *node.Node, timeout time.Duration) *counter {
	c := &counter{n: n, timeout: timeout}
	n.Handle("add", c.add)
	n.Handle("read", c.read)
	return c
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n := node.New(os.Stdin, os.Stdout, os.Stderr)
	newCounter(n, time.Second)
	if err := n.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "g-counter-seqkv:", err)
		os.Exit(1)
	}
}
