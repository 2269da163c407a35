// Command kvsvc is a small replicated key-value service that speaks
// faultline's http-json protocol (registers, sets and counters), written
// as an example of a system to test with faultline.
//
// In safe mode the first node of --peers is the primary: it applies every
// op under one lock and makes it durable (append and fsync to a log in
// --data, replayed at start) before it answers; the other nodes forward
// every request, reads included, to it. That is linearizable, and
// unavailable when the primary is cut off. In unsafe mode every node
// applies writes locally, answers at once, replicates to its peers in the
// background (fire and forget) and serves reads from its own copy: reads
// are stale, and a partition loses writes for good.
//
//	kvsvc --name n1 --listen 0.0.0.0:8080 \
//	    --peers n1=10.0.0.2:8080,n2=10.0.0.3:8080,n3=10.0.0.4:8080 \
//	    --data /var/lib/kvsvc --mode safe
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	logger := log.New(os.Stderr, "kvsvc ", log.LstdFlags|log.Lmicroseconds)
	if err := run(os.Args[1:], logger); err != nil {
		logger.Fatal(err)
	}
}

func run(args []string, logger *log.Logger) error {
	fs := flag.NewFlagSet("kvsvc", flag.ContinueOnError)
	name := fs.String("name", "", "this node's name, one of --peers")
	listen := fs.String("listen", "0.0.0.0:8080", "address to serve http-json on")
	peers := fs.String("peers", "", "every node as name=host:port, comma-separated; the first is the primary in safe mode")
	data := fs.String("data", "", "data directory (the log)")
	mode := fs.String("mode", "safe", "safe (primary, linearizable) or unsafe (async replication, local reads)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := parseConfig(*name, *peers, *data, *mode)
	if err != nil {
		return err
	}
	n, err := newNode(cfg, logger)
	if err != nil {
		return err
	}
	defer n.close()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n.replicate(ctx)
	srv := &http.Server{Handler: n.handler()}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	logger.Printf("%s: serving on %s, mode %s, primary %s, %d peers, data %s",
		cfg.name, ln.Addr(), cfg.mode, cfg.peers[0].name, len(cfg.peers), cfg.data)
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func parseConfig(name, peers, data, mode string) (config, error) {
	cfg := config{name: name, data: data, mode: mode}
	if mode != "safe" && mode != "unsafe" {
		return cfg, fmt.Errorf("--mode %q: want safe or unsafe", mode)
	}
	if data == "" {
		return cfg, errors.New("--data is required")
	}
	self := false
	for _, p := range strings.Split(peers, ",") {
		n, addr, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || n == "" || addr == "" {
			return cfg, fmt.Errorf("--peers: %q is not name=host:port", p)
		}
		cfg.peers = append(cfg.peers, peer{n, addr})
		self = self || n == name
	}
	if !self {
		return cfg, fmt.Errorf("--name %q is not in --peers", name)
	}
	return cfg, nil
}
