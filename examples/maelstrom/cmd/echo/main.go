// Command echo is a Maelstrom node for the echo workload: it answers each
// echo request with echo_ok carrying the same echo value.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"example.com/maelstrom-examples/node"
)

func setup(n *node.Node) {
	n.Handle("echo", func(ctx context.Context, req node.Message) error {
		var body struct {
			Echo json.RawMessage `json:"echo"`
		}
		if err := req.Decode(&body); err != nil {
			return node.Errorf(node.CodeMalformedRequest, "%v", err)
		}
		return n.Reply(req, map[string]any{"type": "echo_ok", "echo": body.Echo})
	})
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n := node.New(os.Stdin, os.Stdout, os.Stderr)
	setup(n)
	if err := n.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
}
