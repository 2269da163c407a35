// Command unique-ids-counter is a Maelstrom node for the unique-ids
// workload that is wrong on purpose: an id is "<node>-<n>", n counting up
// from 0 in memory. Unique while every node lives, since node ids differ;
// but a node that crashes and restarts counts from 0 again and hands out
// the ids of its previous life a second time. Maelstrom, which never
// crashes a node, finds nothing wrong with it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"example.com/maelstrom-examples/node"
)

func setup(n *node.Node) {
	var mu sync.Mutex
	var next int64
	n.Handle("generate", func(ctx context.Context, req node.Message) error {
		mu.Lock()
		id := fmt.Sprintf("%s-%d", n.ID(), next)
		next++
		mu.Unlock()
		return n.Reply(req, map[string]any{"type": "generate_ok", "id": id})
	})
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n := node.New(os.Stdin, os.Stdout, os.Stderr)
	setup(n)
	if err := n.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "unique-ids-counter:", err)
		os.Exit(1)
	}
}
