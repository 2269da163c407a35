// Command unique-ids is a Maelstrom node for the unique-ids workload whose
// ids stay unique across restarts, with no coordination between nodes
// (so it stays available under any partition).
//
// An id is "<node>-<life>-<n>": the node's id, which no other node has; the
// number of this node's lives, which a restart cannot repeat; and a count
// within this life. The life number is kept in a file: before the first id
// of a life is handed out, the node reads the last one, adds one, and
// writes it back durably (write, fsync, rename, fsync of the directory). A
// life that crashes before that completes handed out no id, so its number
// may be used again. The file is UNIQUE_IDS_DIR/unique-ids-<node>.life
// (default: the system's temporary directory, which survives a kill of the
// process but not a new container).
package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"example.com/maelstrom-examples/node"
)

type server struct {
	n   *node.Node
	dir string

	mu   sync.Mutex
	life int64 // 0 until this life's number is on disk
	next int64
}

func newServer(n *node.Node, dir string) *server {
	s := &server{n: n, dir: dir}
	n.Handle("generate", s.generate)
	return s
}

func (s *server) generate(ctx context.Context, req node.Message) error {
	s.mu.Lock()
	if s.life == 0 {
		life, err := nextLife(filepath.Join(s.dir, "unique-ids-"+s.n.ID()+".life"))
		if err != nil {
			s.mu.Unlock()
			// No id was handed out: the request certainly did not happen.
			return node.Errorf(node.CodeTemporarilyUnavailable, "%v", err)
		}
		s.life = life
		s.n.Logf("life %d", life)
	}
	id := fmt.Sprintf("%s-%d-%d", s.n.ID(), s.life, s.next)
	s.next++
	s.mu.Unlock()
	return s.n.Reply(req, map[string]any{"type": "generate_ok", "id": id})
}

// nextLife reads the last life number from path (0 when there is none),
// and stores and returns the next, durably.
func nextLife(path string) (int64, error) {
	var last int64
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return 0, fmt.Errorf("read life number: %w", err)
	default:
		if last, err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err != nil {
			return 0, fmt.Errorf("life number in %s: %w", path, err)
		}
	}
	life := last + 1
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return 0, fmt.Errorf("store life number: %w", err)
	}
	_, err = fmt.Fprintln(f, life)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		return 0, fmt.Errorf("store life number: %w", err)
	}
	return life, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir := os.Getenv("UNIQUE_IDS_DIR")
	if dir == "" {
		dir = os.TempDir()
	}
	n := node.New(os.Stdin, os.Stdout, os.Stderr)
	newServer(n, dir)
	if err := n.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "unique-ids:", err)
		os.Exit(1)
	}
}
