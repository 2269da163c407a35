// Package kvstore is the in-memory map of registers behind the lin-kv
// example nodes: it applies Maelstrom's lin-kv requests (read, write, cas)
// one at a time and gives the protocol's answers and error codes. It can
// append every change to a file, synced before the answer, so that a node
// killed and restarted keeps what it acknowledged.
package kvstore

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"example.com/maelstrom-examples/node"
)

// Request is the body of a lin-kv read, write or cas request.
type Request struct {
	Type              string          `json:"type"`
	Key               json.RawMessage `json:"key"`
	Value             json.RawMessage `json:"value,omitempty"`
	From              json.RawMessage `json:"from,omitempty"`
	To                json.RawMessage `json:"to,omitempty"`
	CreateIfNotExists bool            `json:"create_if_not_exists,omitempty"`
}

type entry struct {
	Key   json.RawMessage `json:"key"`
	Value json.RawMessage `json:"value"`
}

// Store is a map from keys to values, both any JSON, compared by their
// compact text. Its methods are safe for concurrent use.
type Store struct {
	mu  sync.Mutex
	m   map[string]entry
	log *os.File // nil: memory only
}

// New returns an empty store kept in memory only.
func New() *Store {
	return &Store{m: make(map[string]entry)}
}

// Open returns a store that replays and then appends to the file at path.
func Open(path string) (*Store, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open state file: %w", err)
	}
	s := New()
	var good int64 // bytes up to the end of the last whole change
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			if !errors.Is(err, io.EOF) {
				_ = f.Close()
				return nil, fmt.Errorf("replay state file: %w", err)
			}
			break // a line without its newline is torn
		}
		var e entry
		if json.Unmarshal(line, &e) != nil {
			break
		}
		k, err := compact(e.Key)
		if err != nil {
			break
		}
		s.m[k] = e
		good += int64(len(line))
	}
	// A torn tail is a change that was never acknowledged (the answer waits
	// for the sync); cut it off so later changes start on a line of their own.
	if err := f.Truncate(good); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("truncate torn state file: %w", err)
	}
	s.log = f
	return s, nil
}

// Close closes the state file, if any.
func (s *Store) Close() error {
	if s.log == nil {
		return nil
	}
	return s.log.Close()
}

// Apply performs req atomically and returns the reply body, or an
// *node.RPCError for the protocol's definite errors.
func (s *Store) Apply(req Request) (map[string]any, error) {
	if req.Key == nil {
		return nil, node.Errorf(node.CodeMalformedRequest, "%s without key", req.Type)
	}
	k, err := compact(req.Key)
	if err != nil {
		return nil, node.Errorf(node.CodeMalformedRequest, "%v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.m[k]
	switch req.Type {
	case "read":
		if !ok {
			return nil, node.Errorf(node.CodeKeyDoesNotExist, "key %s does not exist", k)
		}
		return map[string]any{"type": "read_ok", "value": cur.Value}, nil
	case "write":
		if req.Value == nil {
			return nil, node.Errorf(node.CodeMalformedRequest, "write without value")
		}
		if err := s.set(k, req.Key, req.Value); err != nil {
			return nil, err
		}
		return map[string]any{"type": "write_ok"}, nil
	case "cas":
		if req.From == nil || req.To == nil {
			return nil, node.Errorf(node.CodeMalformedRequest, "cas needs from and to")
		}
		switch {
		case !ok && !req.CreateIfNotExists:
			return nil, node.Errorf(node.CodeKeyDoesNotExist, "key %s does not exist", k)
		case ok && !equal(cur.Value, req.From):
			return nil, node.Errorf(node.CodePreconditionFailed, "expected %s, had %s", req.From, cur.Value)
		}
		if err := s.set(k, req.Key, req.To); err != nil {
			return nil, err
		}
		return map[string]any{"type": "cas_ok"}, nil
	}
	return nil, node.Errorf(node.CodeNotSupported, "lin-kv has no %q", req.Type)
}

// Set overwrites key with value, as replication does.
func (s *Store) Set(key, value json.RawMessage) error {
	k, err := compact(key)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.set(k, key, value)
}

// set must be called with mu held. The change is synced to the state file
// before it is visible, so nothing acknowledged is lost to a kill.
func (s *Store) set(k string, key, value json.RawMessage) error {
	e := entry{Key: key, Value: value}
	if s.log != nil {
		line, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode change: %w", err)
		}
		if _, err := s.log.Write(append(line, '\n')); err != nil {
			return fmt.Errorf("append change: %w", err)
		}
		if err := s.log.Sync(); err != nil {
			return fmt.Errorf("sync change: %w", err)
		}
	}
	s.m[k] = e
	return nil
}

func compact(v json.RawMessage) (string, error) {
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		return "", fmt.Errorf("not JSON: %w", err)
	}
	return b.String(), nil
}

func equal(a, b json.RawMessage) bool {
	ca, err1 := compact(a)
	cb, err2 := compact(b)
	return err1 == nil && err2 == nil && ca == cb
}
