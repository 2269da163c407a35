// Command lin-kv-proxy is a Maelstrom lin-kv node that keeps nothing: it
// forwards every read, write and cas to Maelstrom's lin-kv service and
// relays the answer (see internal/kvproxy). It is linearizable, since the
// service is, and survives kills and partitions: the state lives in the
// service, which faultline never cuts off (nor does Maelstrom).
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
	kvproxy.Register(n, "lin-kv", time.Second)
	if err := n.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "lin-kv-proxy:", err)
		os.Exit(1)
	}
}
