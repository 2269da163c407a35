// Command lin-kv-proxy-seq is lin-kv-proxy on Maelstrom's seq-kv service
// instead of lin-kv. It is not linearizable: seq-kv is only sequentially
// consistent, so a node may read a value that another node's client
// overwrote long before, which faultline's linearizability checker
// reports. It shows that seq-kv is weaker than lin-kv.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"example.com/maelstrom-examples/internal/kvproxy"
	"example.com/maelstrom-examples/node"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n := node.New(os.Stdin, os.Stdout, os.Stderr)
	kvproxy.Register(n, "seq-kv", time.Second)
	if err := n.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "lin-kv-proxy-seq:", err)
		os.Exit(1)
	}
}
