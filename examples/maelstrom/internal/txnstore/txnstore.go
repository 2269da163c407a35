// Package txnstore applies the transactions of Maelstrom's txn-list-append
// and txn-rw-register workloads to an in-memory map: a txn is a list of
// micro-ops [f, k, v], where f is "r" (read k, v null in the request), "append"
// (append v to the list at k) or "w" (set k to v). A key is a list once
// appended to and a register once written; a key never touched reads as
// null. Keys and values are kept as their JSON text, so any JSON type works.
package txnstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
)

// MicroOp is one [f, k, v] of a transaction.
type MicroOp struct {
	F string
	K json.RawMessage
	V json.RawMessage
}

// MarshalJSON writes the micro-op as [f, k, v].
func (m MicroOp) MarshalJSON() ([]byte, error) {
	v := m.V
	if len(v) == 0 {
		v = json.RawMessage("null")
	}
	return json.Marshal([]any{m.F, m.K, v})
}

// Parse reads the txn field of a request body and checks every micro-op.
func Parse(body json.RawMessage) ([]MicroOp, error) {
	var req struct {
		Txn [][]json.RawMessage `json:"txn"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("txn: %w", err)
	}
	out := make([]MicroOp, 0, len(req.Txn))
	for i, m := range req.Txn {
		if len(m) != 3 {
			return nil, fmt.Errorf("micro-op %d has %d elements, want [f, k, v]", i, len(m))
		}
		var op MicroOp
		if err := json.Unmarshal(m[0], &op.F); err != nil {
			return nil, fmt.Errorf("micro-op %d: f %s is not a string", i, m[0])
		}
		switch op.F {
		case "r", "append", "w":
		default:
			return nil, fmt.Errorf("micro-op %d: unknown f %q", i, op.F)
		}
		var k bytes.Buffer
		if err := json.Compact(&k, m[1]); err != nil {
			return nil, fmt.Errorf("micro-op %d: key: %w", i, err)
		}
		op.K, op.V = k.Bytes(), m[2]
		out = append(out, op)
	}
	return out, nil
}

// Store is the map. Its methods are safe for concurrent use; each applies
// a whole transaction under one lock, so transactions are atomic and
// serial.
type Store struct {
	mu    sync.Mutex
	lists map[string][]json.RawMessage
	regs  map[string]json.RawMessage
}

// New returns an empty store.
func New() *Store {
	return &Store{lists: map[string][]json.RawMessage{}, regs: map[string]json.RawMessage{}}
}

// Apply runs txn and returns it with every read's value filled in.
func (s *Store) Apply(txn []MicroOp) []MicroOp {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]MicroOp, len(txn))
	for i, m := range txn {
		out[i] = m
		k := string(m.K)
		switch m.F {
		case "r":
			switch l, ok := s.lists[k]; {
			case ok:
				b, _ := json.Marshal(l)
				out[i].V = b
			case s.regs[k] != nil:
				out[i].V = s.regs[k]
			default:
				out[i].V = json.RawMessage("null")
			}
		default:
			s.write(m)
		}
	}
	return out
}

// ApplyWrites applies only the appends and writes of txn: a copy of
// another node's transaction.
func (s *Store) ApplyWrites(txn []MicroOp) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range txn {
		if m.F != "r" {
			s.write(m)
		}
	}
}

// write applies one append or write; the caller holds s.mu.
func (s *Store) write(m MicroOp) {
	k := string(m.K)
	if m.F == "append" {
		s.lists[k] = append(s.lists[k], m.V)
		return
	}
	s.regs[k] = m.V
}
