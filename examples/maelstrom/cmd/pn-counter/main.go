// Command pn-counter is a correct Maelstrom pn-counter (and g-counter)
// node: a state-based CRDT.
//
// Each node counts its own increments and decrements apart (two totals
// that only grow) and knows the totals of every other node it has heard
// of; the counter is the sum of all increments minus all decrements. Every
// gossip interval it sends its whole table to every other node, which
// keeps, per node, the larger of each total. Merging is idempotent, so a
// lost or late gossip is simply repeated by the next one, and once
// partitions heal every node converges to the same value.
//
// A node writes its own totals to a file (in the state directory,
// PN_COUNTER_STATE_DIR or the system's temporary directory) before it
// acknowledges an add, so a restarted node continues from them instead of
// from zero, which the merge (keeping the larger total) would otherwise
// make it lose.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"example.com/maelstrom-examples/node"
)

// totals are one node's increments and decrements so far.
type totals struct {
	Inc int64 `json:"inc"`
	Dec int64 `json:"dec"`
}

type server struct {
	n        *node.Node
	dir      string        // where a node keeps its own totals
	interval time.Duration // between gossip rounds

	mu      sync.Mutex
	table   map[string]totals // node -> its totals, as far as known
	loaded  bool
	started bool
}

func newServer(n *node.Node, dir string) *server {
	s := &server{n: n, dir: dir, interval: 100 * time.Millisecond, table: map[string]totals{}}
	n.Handle("add", s.add)
	n.Handle("read", s.read)
	n.Handle("gossip", s.gossip)
	n.OnInit(s.start)
	return s
}

func (s *server) path() string { return filepath.Join(s.dir, "pn-counter-"+s.n.ID()+".json") }

// load reads this node's own totals from its file once; the caller holds
// s.mu.
func (s *server) load() error {
	if s.loaded {
		return nil
	}
	b, err := os.ReadFile(s.path())
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("read state: %w", err)
	}
	if err == nil {
		var own totals
		if err := json.Unmarshal(b, &own); err != nil {
			return fmt.Errorf("state file %s: %w", s.path(), err)
		}
		s.merge(s.n.ID(), own)
	}
	s.loaded = true
	return nil
}

// save writes this node's totals and syncs them; the caller holds s.mu.
func (s *server) save() error {
	b, _ := json.Marshal(s.table[s.n.ID()])
	tmp := s.path() + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, s.path())
}

// merge keeps the larger of each total; the caller holds s.mu.
func (s *server) merge(id string, t totals) {
	cur := s.table[id]
	s.table[id] = totals{Inc: max(cur.Inc, t.Inc), Dec: max(cur.Dec, t.Dec)}
}

func (s *server) add(ctx context.Context, req node.Message) error {
	var body struct {
		Delta *int64 `json:"delta"`
	}
	if err := req.Decode(&body); err != nil || body.Delta == nil {
		return node.Errorf(node.CodeMalformedRequest, "add needs an integer delta: %v", err)
	}
	s.mu.Lock()
	if err := s.load(); err != nil {
		s.mu.Unlock()
		return node.Errorf(node.CodeTemporarilyUnavailable, "%v", err)
	}
	me := s.n.ID()
	prev := s.table[me]
	own := prev
	if d := *body.Delta; d >= 0 {
		own.Inc += d
	} else {
		own.Dec -= d
	}
	s.table[me] = own
	if err := s.save(); err != nil {
		// Not durable: undo, and say it did not happen.
		s.table[me] = prev
		s.mu.Unlock()
		return node.Errorf(node.CodeTemporarilyUnavailable, "save state: %v", err)
	}
	s.mu.Unlock()
	return s.n.Reply(req, map[string]any{"type": "add_ok"})
}

func (s *server) read(ctx context.Context, req node.Message) error {
	s.mu.Lock()
	if err := s.load(); err != nil {
		s.mu.Unlock()
		return node.Errorf(node.CodeTemporarilyUnavailable, "%v", err)
	}
	var v int64
	for _, t := range s.table {
		v += t.Inc - t.Dec
	}
	s.mu.Unlock()
	return s.n.Reply(req, map[string]any{"type": "read_ok", "value": v})
}

func (s *server) gossip(ctx context.Context, req node.Message) error {
	var body struct {
		Table map[string]totals `json:"table"`
	}
	if err := req.Decode(&body); err != nil {
		return node.Errorf(node.CodeMalformedRequest, "%v", err)
	}
	s.mu.Lock()
	for id, t := range body.Table {
		if id != s.n.ID() { // a node's own totals are authoritative
			s.merge(id, t)
		}
	}
	s.mu.Unlock()
	return nil
}

// start gossips the whole table to every peer each interval until the
// node stops.
func (s *server) start(ctx context.Context) {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return
	}
	s.started = true
	if err := s.load(); err != nil {
		s.n.Logf("%v", err)
	}
	s.mu.Unlock()
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		s.mu.Lock()
		table := make(map[string]totals, len(s.table))
		for id, t := range s.table {
			table[id] = t
		}
		s.mu.Unlock()
		for _, p := range s.n.Peers() {
			if err := s.n.Send(p, map[string]any{"type": "gossip", "table": table}); err != nil {
				s.n.Logf("gossip to %s: %v", p, err)
			}
		}
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir := os.Getenv("PN_COUNTER_STATE_DIR")
	if dir == "" {
		dir = os.TempDir()
	}
	n := node.New(os.Stdin, os.Stdout, os.Stderr)
	newServer(n, dir)
	if err := n.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "pn-counter:", err)
		os.Exit(1)
	}
}
