package history

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// Format and Version identify faultline's history file; they are its first
// line. Version 2 added the end record (see EndRecord); version 1 files,
// which have none, are still read.
const (
	Format  = "faultline-history"
	Version = 2
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
	// ended is set once the end record is written: nothing may follow it.
	ended bool
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
	if h.ended && h.err == nil {
		h.err = fmt.Errorf("op %d appended after the history's end record", op.Index)
	}
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

// Read parses a faultline history file: ReadWithInfo without the info.
// A torn last line is dropped, and a file without its end record is read
// as far as it goes; callers that judge a run must use ReadWithInfo.
func Read(r io.Reader) ([]Op, error) {
	ops, _, err := ReadWithInfo(r)
	return ops, err
}

// ReadFile reads a faultline history file from disk (see Read).
func ReadFile(path string) ([]Op, error) {
	ops, _, err := ReadFileInfo(path)
	return ops, err
}

// ReadFileInfo reads a faultline history file from disk (see ReadWithInfo).
func ReadFileInfo(path string) ([]Op, ReadInfo, error) {
	return ReadFileInfoContext(context.Background(), path)
}

// WriteFile writes ops as the history file of a finished run at path: the
// header, each op (indexed in order, as Append does) and the end record.
// It is ReadFile's counterpart, for histories made whole (tests, imports).
func WriteFile(path string, ops []Op) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	w, err := NewWriter(f)
	if err != nil {
		return err
	}
	for _, op := range ops {
		if _, err := w.Append(op); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return w.End(EndRecord{})
}
