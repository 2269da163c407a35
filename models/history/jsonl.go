package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// Format and Version identify faultline's history file; they are its first line.
const (
	Format  = "faultline-history"
	Version = 1
)

type header struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
}

// Writer appends ops to a history file, one JSON object per line, and writes
// each line through to the file as it is appended, so a crash of the
// controller loses at most the op being written. It is safe for concurrent
// use and assigns each op its Index.
type Writer struct {
	mu   sync.Mutex
	w    io.Writer
	next int64
	ops  []Op
	err  error
}

// NewWriter writes the header line to w and returns a Writer appending to it.
// Every appended op is also kept in memory (see Ops).
func NewWriter(w io.Writer) (*Writer, error) {
	b, err := json.Marshal(header{Format, Version})
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("write history header: %w", err)
	}
	return &Writer{w: w}, nil
}

// Append assigns op the next index, writes it and returns it. The first
// write error is kept and returned by every later call; the op is still kept
// in memory so the run's own check sees it.
func (h *Writer) Append(op Op) (Op, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	op.Index = h.next
	h.next++
	h.ops = append(h.ops, op)
	if h.err != nil {
		return op, h.err
	}
	b, err := json.Marshal(op)
	if err != nil {
		h.err = fmt.Errorf("encode op %d: %w", op.Index, err)
		return op, h.err
	}
	if _, err := h.w.Write(append(b, '\n')); err != nil {
		h.err = fmt.Errorf("write op %d: %w", op.Index, err)
	}
	return op, h.err
}

// Ops returns a copy of every op appended so far.
func (h *Writer) Ops() []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Op(nil), h.ops...)
}

// Err returns the first write error, if any.
func (h *Writer) Err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// Read parses a faultline history file. A torn last line (the controller
// died while writing it) is dropped rather than failing the whole read,
// since everything before it is intact.
func Read(r io.Reader) ([]Op, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 64*1024*1024)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("history line 1: %w", err)
		}
		return nil, errors.New("empty history: no header line")
	}
	var hd header
	if err := json.Unmarshal(sc.Bytes(), &hd); err != nil || hd.Format != Format {
		return nil, fmt.Errorf("history line 1: not a faultline history (first line must be {\"format\":%q,...})", Format)
	}
	if hd.Version != Version {
		return nil, fmt.Errorf("history line 1: format version %d is not supported (this faultline reads version %d)", hd.Version, Version)
	}
	var ops []Op
	line := 1
	var pending error
	for sc.Scan() {
		line++
		if pending != nil {
			return nil, pending
		}
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		var op Op
		if err := d.Decode(&op); err != nil {
			// Only tolerated on the last line.
			pending = fmt.Errorf("history line %d: %w", line, err)
			continue
		}
		if !op.Type.Valid() {
			return nil, fmt.Errorf("history line %d: unknown op type %q", line, op.Type)
		}
		ops = append(ops, op)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("history line %d: %w", line+1, err)
	}
	return ops, nil
}

// ReadFile reads a faultline history file from disk.
func ReadFile(path string) ([]Op, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ops, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ops, nil
}
