package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// change is one state change: what the log holds and what replication
// sends. Reads change nothing and are never logged.
type change struct {
	Kind  string `json:"kind"` // "put" a register, "add" to a set, "incr" a counter
	Key   string `json:"key"`
	Value int64  `json:"value"`
}

// store is a node's state and its log. It is not safe for concurrent use:
// the node holds its lock around every call.
type store struct {
	regs     map[string]int64
	sets     map[string][]int64
	counters map[string]int64
	log      *os.File
}

// openStore replays dir/log.jsonl and opens it for appending. A last line
// cut short by a crash was never acknowledged (its fsync had not returned),
// so it is dropped.
func openStore(dir string) (*store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "log.jsonl"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	s := &store{regs: map[string]int64{}, sets: map[string][]int64{}, counters: map[string]int64{}, log: f}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read log: %w", err)
	}
	good := bytes.LastIndexByte(data, '\n') + 1 // bytes up to the last whole line
	sc := bufio.NewScanner(bytes.NewReader(data[:good]))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var c change
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			f.Close()
			return nil, fmt.Errorf("log line %q: %w", sc.Text(), err)
		}
		s.apply(c)
	}
	if err := f.Truncate(int64(good)); err != nil {
		f.Close()
		return nil, fmt.Errorf("truncate torn log tail: %w", err)
	}
	if _, err := f.Seek(int64(good), io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("seek log: %w", err)
	}
	return s, nil
}

// commit makes changes durable (append, one fsync), then applies them.
// An error leaves the log in doubt, so the caller must stop serving.
func (s *store) commit(cs ...change) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf) // one line per change
	for _, c := range cs {
		if err := enc.Encode(c); err != nil {
			return err
		}
	}
	if _, err := s.log.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("append to log: %w", err)
	}
	if err := s.log.Sync(); err != nil {
		return fmt.Errorf("fsync log: %w", err)
	}
	for _, c := range cs {
		s.apply(c)
	}
	return nil
}

func (s *store) apply(c change) {
	switch c.Kind {
	case "put":
		s.regs[c.Key] = c.Value
	case "add":
		if !slices.Contains(s.sets[c.Key], c.Value) {
			s.sets[c.Key] = append(s.sets[c.Key], c.Value)
		}
	case "incr":
		s.counters[c.Key] += c.Value
	}
}

func (s *store) close() error { return s.log.Close() }
