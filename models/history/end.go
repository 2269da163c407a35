package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
)

// EndRecord is the last line of the history of a run that finished, written
// once the run's last op is recorded and the cluster torn down:
//
//	{"end":{"ops":1234,"interrupted":false,"harness_error":"..."}}
//
// A history without it is the record of a run that never finished (the
// controller was killed, the machine stopped): what it holds is a prefix
// of the run, and no verdict on the whole run can be drawn from it.
type EndRecord struct {
	// Ops is the number of ops written before the end record.
	Ops int64 `json:"ops"`
	// Interrupted is true when the run was stopped by a signal; it still
	// finished in order (faults healed, cluster torn down).
	Interrupted bool `json:"interrupted"`
	// HarnessError is why the harness could not complete the test, if so.
	HarnessError string `json:"harness_error,omitempty"`
}

// TornLine is a last line that ends without its newline and does not parse:
// the writer was stopped in the middle of it. It is dropped.
type TornLine struct {
	// Line is its line number, from 1.
	Line int `json:"line"`
	// Bytes is its length.
	Bytes int `json:"bytes"`
}

// ReadInfo is what a reader found about a history file besides its ops.
type ReadInfo struct {
	// Version is the faultline history format version (0 for other formats).
	Version int `json:"version,omitempty"`
	// End is the end record; nil when the file has none.
	End *EndRecord `json:"end,omitempty"`
	// Torn is the dropped torn last line, if any.
	Torn *TornLine `json:"torn_line,omitempty"`
}

// Complete reports whether the file ends with its end record.
func (i ReadInfo) Complete() bool { return i.End != nil }

// End writes the end record e, with e.Ops set to the number of ops
// appended. Nothing may be appended after it. It returns the first write
// error, as Append does.
func (h *Writer) End(e EndRecord) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ended {
		return errors.New("history end record written twice")
	}
	h.ended = true
	if h.err != nil {
		return h.err
	}
	e.Ops = h.next
	b, err := json.Marshal(endLine{End: &e})
	if err != nil {
		h.err = fmt.Errorf("encode history end record: %w", err)
		return h.err
	}
	if _, err := h.w.Write(append(b, '\n')); err != nil {
		h.err = fmt.Errorf("write history end record: %w", err)
	}
	return h.err
}

type endLine struct {
	End *EndRecord `json:"end"`
}

// maxLine bounds one line of a history file.
const maxLine = 64 << 20

// noProcess marks an op line without "process" (no real process is this).
const noProcess = Process(math.MinInt)

// line is one line of a history file as read from its op or end record.
type line struct {
	Op
	End *EndRecord `json:"end"`
}

// ReadWithInfo parses a faultline history file: the header line, one op per
// line, and in a finished run's file the end record (see EndRecord).
//
// Every complete line (one that ends with a newline) must be a well-formed
// op or the end record: a line that does not parse, that has a field of the
// wrong type, an unknown field, no "type", "process" or "f", or a negative
// process number (the fault injector is "nuker", never a number) is an
// error naming the line. Only the last line, when it lacks its newline and
// is not complete JSON, is taken as torn (the writer was stopped while
// writing it): it is dropped and reported in ReadInfo.Torn.
func ReadWithInfo(r io.Reader) ([]Op, ReadInfo, error) {
	return ReadWithInfoLines(r, 0)
}

// ReadWithInfoLines is ReadWithInfo for a file of about lines lines (see
// CountLines; 0 if not known): the ops are read into a slice of that
// size, not grown and copied as they come, which at a million ops costs
// a second and a third more memory at the peak.
func ReadWithInfoLines(r io.Reader, lines int) ([]Op, ReadInfo, error) {
	ops := make([]Op, 0, max(lines, 0))
	info, err := readEach(r, false, &valueCache{}, func(op Op, _ []byte) error {
		ops = append(ops, op)
		return nil
	})
	if err != nil || len(ops) == 0 {
		// nil for no ops, as without the hint.
		return nil, info, err
	}
	return ops, info, nil
}

// parseLine decodes one complete line: an op, or (from version 2) the end
// record.
func parseLine(b []byte, version int) (line, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	d.DisallowUnknownFields()
	l := line{Op: Op{Process: noProcess}}
	if err := d.Decode(&l); err != nil {
		return line{}, err
	}
	// Decoder.More is false before a stray '}' or ']': look at the rest.
	if len(bytes.TrimSpace(b[d.InputOffset():])) > 0 {
		return line{}, errors.New("more than one JSON value on the line")
	}
	if l.End != nil {
		if version < 2 {
			return line{}, fmt.Errorf("an end record in a version %d history", version)
		}
		if l.Type != "" || l.Process != noProcess || l.F != "" {
			return line{}, errors.New("the end record mixed with an op's fields")
		}
		return l, nil
	}
	switch {
	case !l.Type.Valid():
		return line{}, fmt.Errorf("unknown op type %q", l.Type)
	case l.Process == noProcess:
		return line{}, errors.New(`op without "process"`)
	case l.F == "":
		return line{}, errors.New(`op without "f"`)
	}
	return l, nil
}

// readLine returns the next line of br without its newline, and whether it
// had one; io.EOF when nothing is left. A line longer than max bytes is an
// error.
func readLine(br *bufio.Reader, max int) ([]byte, bool, error) {
	var buf []byte
	for {
		frag, err := br.ReadSlice('\n')
		if err == nil && buf == nil {
			return frag[:len(frag)-1], true, nil
		}
		if len(buf)+len(frag) > max {
			return nil, false, fmt.Errorf("line longer than %d MiB", max>>20)
		}
		buf = append(buf, frag...)
		switch {
		case err == nil:
			return buf[:len(buf)-1], true, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF:
			if len(buf) == 0 {
				return nil, false, io.EOF
			}
			return buf, false, nil
		default:
			return nil, false, err
		}
	}
}
