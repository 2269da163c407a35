// Command kafka-local is a Maelstrom kafka node that is wrong on purpose:
// each node keeps its own logs and committed offsets and answers at once,
// with no coordination at all. It looks right to a client that only ever
// talks to one node, but two nodes give the same offset of a key to
// different messages, a client of one node never sees what was sent
// through another, and an offset committed on one node is unknown to the
// others. The kafka checker reports inconsistent offsets and lost commits.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"example.com/maelstrom-examples/internal/kafkalog"
	"example.com/maelstrom-examples/node"
)

func setup(n *node.Node) {
	logs := kafkalog.New()
	for _, typ := range kafkalog.Types {
		n.Handle(typ, func(_ context.Context, req node.Message) error {
			body, err := kafkalog.Decode(req)
			if err != nil {
				return err
			}
			reply, err := logs.Apply(body)
			if err != nil {
				return err
			}
			return n.Reply(req, reply)
		})
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n := node.New(os.Stdin, os.Stdout, os.Stderr)
	setup(n)
	if err := n.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "kafka-local:", err)
		os.Exit(1)
	}
}
