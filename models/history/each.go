package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// ReadEach reads a faultline history file as ReadWithInfo does, with the
// same errors, but hands each op to each instead of keeping them all, so a
// checker with a compact form of its own can read a history larger than
// memory would hold as []Op. Each op comes without its Value: value is
// its JSON (nil for null or none), valid until each returns, for the
// checker to decode what it needs. An error from each stops the reading
// and is returned as it is.
//
// Lines of the usual shape (the fields Op writes, integers, strings without
// escapes) are decoded by a scanner without encoding/json, several times
// faster; any other line goes through encoding/json, so the two agree.
func ReadEach(r io.Reader, each func(op Op, value []byte) error) (ReadInfo, error) {
	return readEach(r, true, nil, each)
}

// readEach reads as ReadEach does. With raw, each op comes without its
// Value and with its JSON; else with its Value decoded as encoding/json
// (UseNumber) decodes it, through vals for lines of the usual shape.
func readEach(r io.Reader, raw bool, vals *valueCache, each func(Op, []byte) error) (ReadInfo, error) {
	var info ReadInfo
	br := bufio.NewReaderSize(r, 256*1024)
	b, nl, err := readLine(br, maxLine)
	if err == io.EOF {
		return info, errors.New("empty history: no header line")
	}
	if err != nil {
		return info, fmt.Errorf("history line 1: %w", err)
	}
	var hd header
	if err := json.Unmarshal(b, &hd); err != nil || hd.Format != Format {
		if !nl && !json.Valid(b) && bytes.HasPrefix(b, []byte(`{"format"`)) {
			return info, errors.New("history line 1: torn header line: the history is empty")
		}
		return info, fmt.Errorf("history line 1: not a faultline history (first line must be {\"format\":%q,...})", Format)
	}
	if hd.Version < 1 || hd.Version > Version {
		return info, fmt.Errorf("history line 1: format version %d is not supported (this faultline reads versions 1 to %d)", hd.Version, Version)
	}
	info.Version = hd.Version
	var count int64
	strs := interner{}
	n := 1
	for {
		b, nl, err := readLine(br, maxLine)
		if err == io.EOF {
			break
		}
		n++
		if err != nil {
			return info, fmt.Errorf("history line %d: %w", n, err)
		}
		t := bytes.TrimSpace(b)
		if len(t) == 0 {
			continue
		}
		if info.End != nil {
			return info, fmt.Errorf("history line %d: a line after the end record", n)
		}
		var l line
		var value []byte
		fast := false
		if (raw || vals != nil) && nl {
			l.Op, value, fast = scanOp(t, &strs)
			if fast && !raw {
				if l.Value, err = vals.decode(value); err != nil {
					return info, fmt.Errorf("history line %d: %w", n, err)
				}
				value = nil
			}
		}
		if !fast {
			if !nl && !json.Valid(t) {
				info.Torn = &TornLine{Line: n, Bytes: len(b)}
				break
			}
			if l, err = parseLine(t, hd.Version); err != nil {
				return info, fmt.Errorf("history line %d: %w", n, err)
			}
			if raw && l.End == nil {
				var v struct {
					Value json.RawMessage `json:"value"`
				}
				if err := json.Unmarshal(t, &v); err != nil {
					return info, fmt.Errorf("history line %d: %w", n, err)
				}
				l.Value, value = nil, rawValue(v.Value)
			}
		}
		if l.End != nil {
			if l.End.Ops != count {
				return info, fmt.Errorf("history line %d: the end record counts %d ops, the file holds %d", n, l.End.Ops, count)
			}
			info.End = l.End
			continue
		}
		count++
		if err := each(l.Op, value); err != nil {
			return info, err
		}
	}
	return info, nil
}

// rawValue is nil for JSON null, as encoding/json decodes it, else v.
func rawValue(v []byte) []byte {
	if string(v) == "null" {
		return nil
	}
	return v
}

// scanOp decodes an op line of the usual shape: a JSON object with only
// Op's fields, each once, integers for index and time, a client number or
// "nuker" for process, strings without escapes, any well-formed value
// (kept raw). It returns false for anything else, which encoding/json then
// decodes or rejects with its own error.
func scanOp(b []byte, strs *interner) (Op, []byte, bool) {
	s := scanner{b: b, strs: strs}
	op := Op{Process: noProcess}
	var value []byte
	if !s.byte('{') {
		return Op{}, nil, false
	}
	var seen uint16
	if s.peek() == '}' {
		return Op{}, nil, false
	}
	for {
		name, ok := s.plainString()
		if !ok || !s.byte(':') {
			return Op{}, nil, false
		}
		bit := fieldBit(string(name))
		if bit == 0 || seen&bit != 0 {
			return Op{}, nil, false
		}
		seen |= bit
		switch string(name) {
		case "index":
			op.Index, ok = s.int()
		case "time":
			op.Time, ok = s.int()
		case "type":
			var t string
			t, ok = s.str()
			op.Type = Type(t)
		case "process":
			op.Process, ok = s.process()
		case "f":
			op.F, ok = s.str()
		case "key":
			op.Key, ok = s.str()
		case "value":
			start := s.i
			if ok = s.skipValue(0); ok {
				value = rawValue(b[start:s.i])
			}
		case "error":
			op.Error, ok = s.str()
		case "answered":
			op.Answered, ok = s.bool()
		case "node":
			op.Node, ok = s.str()
		case "nodes":
			op.Nodes, ok = s.strings()
		case "failed":
			op.Failed, ok = s.strings()
		}
		if !ok {
			return Op{}, nil, false
		}
		s.space()
		if s.byte(',') {
			continue
		}
		if !s.byte('}') {
			return Op{}, nil, false
		}
		break
	}
	s.space()
	// What parseLine would refuse is left to it, for its error.
	if s.i != len(b) || !op.Type.Valid() || op.Process == noProcess || op.F == "" {
		return Op{}, nil, false
	}
	return op, value, true
}

// ValueScanner reads the JSON of a value ReadEach handed out, for a
// checker that decodes the usual shapes of its values itself (lists,
// integers, strings without escapes, null). A method that does not find
// what it asks for returns false and the checker decodes the value with
// encoding/json instead, so both ways agree.
type ValueScanner struct{ s scanner }

// NewValueScanner starts reading b.
func NewValueScanner(b []byte) *ValueScanner { return &ValueScanner{scanner{b: b}} }

// Peek returns the next byte after white space, 0 at the end.
func (v *ValueScanner) Peek() byte { return v.s.peek() }

// Byte consumes c, after white space.
func (v *ValueScanner) Byte(c byte) bool { return v.s.byte(c) }

// Null consumes null.
func (v *ValueScanner) Null() bool { return v.s.literal("null") }

// PlainString reads a string of printable ASCII without escapes.
func (v *ValueScanner) PlainString() ([]byte, bool) { return v.s.plainString() }

// Int reads an integer in JSON's grammar (no fraction or exponent) that
// fits int64.
func (v *ValueScanner) Int() (int64, bool) { return v.s.int() }

// End reports whether only white space is left.
func (v *ValueScanner) End() bool { return v.s.peek() == 0 && v.s.i == len(v.s.b) }

// fieldBit numbers Op's JSON fields, one bit each, to refuse a repeated
// one; 0 for any other name.
func fieldBit(name string) uint16 {
	switch name {
	case "index":
		return 1
	case "time":
		return 2
	case "type":
		return 4
	case "process":
		return 8
	case "f":
		return 16
	case "key":
		return 32
	case "value":
		return 64
	case "error":
		return 128
	case "answered":
		return 256
	case "node":
		return 512
	case "nodes":
		return 1024
	case "failed":
		return 2048
	}
	return 0
}

// scanner reads JSON from b at i.
type scanner struct {
	b    []byte
	i    int
	strs *interner
}

// interner shares the strings that repeat from line to line (types,
// functions, keys, nodes), so a line allocates none of them again.
type interner map[string]string

// maxInterned bounds an interner: past it, strings are copied each time.
const maxInterned = 4096

func (in *interner) get(b []byte) string {
	if s, ok := (*in)[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(*in) < maxInterned {
		(*in)[s] = s
	}
	return s
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	s.space()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// byte consumes c after white space.
func (s *scanner) byte(c byte) bool {
	if s.peek() == c {
		s.i++
		return true
	}
	return false
}

// plainString reads a string without escapes or control characters.
func (s *scanner) plainString() ([]byte, bool) {
	if !s.byte('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return s.b[start : s.i-1], true
		case c == '\\' || c < 0x20 || c >= 0x80: // escapes, controls, non-ASCII
			return nil, false
		}
		s.i++
	}
	return nil, false
}

// str reads a plain string (see plainString), interned.
func (s *scanner) str() (string, bool) {
	v, ok := s.plainString()
	return s.strs.get(v), ok
}

// int reads an integer in JSON's grammar (no fraction or exponent).
func (s *scanner) int() (int64, bool) {
	s.space()
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	digits := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	if s.i == digits || s.b[digits] == '0' && s.i-digits > 1 {
		return 0, false
	}
	if s.i < len(s.b) && (s.b[s.i] == '.' || s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		return 0, false
	}
	if s.i-digits < 19 { // cannot overflow
		var n int64
		for _, c := range s.b[digits:s.i] {
			n = n*10 + int64(c-'0')
		}
		if digits > start {
			n = -n
		}
		return n, true
	}
	n, err := strconv.ParseInt(string(s.b[start:s.i]), 10, 64)
	return n, err == nil
}

func (s *scanner) process() (Process, bool) {
	if s.peek() == '"' {
		v, ok := s.plainString()
		if ok && (string(v) == "nuker" || string(v) == "nemesis") {
			return Nuker, true
		}
		return 0, false
	}
	n, ok := s.int()
	if !ok || n < 0 || int64(Process(n)) != n {
		return 0, false
	}
	return Process(n), true
}

func (s *scanner) bool() (bool, bool) {
	s.space()
	switch {
	case bytes.HasPrefix(s.b[s.i:], []byte("true")):
		s.i += 4
		return true, true
	case bytes.HasPrefix(s.b[s.i:], []byte("false")):
		s.i += 5
		return false, true
	}
	return false, false
}

// strings reads a list of plain strings (null is none).
func (s *scanner) strings() ([]string, bool) {
	if s.literal("null") {
		return nil, true
	}
	if !s.byte('[') {
		return nil, false
	}
	out := []string{}
	if s.byte(']') {
		return out, true
	}
	for {
		v, ok := s.plainString()
		if !ok {
			return nil, false
		}
		out = append(out, s.strs.get(v))
		if s.byte(']') {
			return out, true
		}
		if !s.byte(',') {
			return nil, false
		}
	}
}

func (s *scanner) literal(lit string) bool {
	s.space()
	if bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
		s.i += len(lit)
		return true
	}
	return false
}

// maxDepth bounds the nesting skipValue follows (encoding/json allows
// 10000; deeper values are left to it).
const maxDepth = 64

// skipValue passes over one well-formed JSON value. Strings may hold
// escapes here (checked, not decoded).
func (s *scanner) skipValue(depth int) bool {
	if depth > maxDepth {
		return false
	}
	switch c := s.peek(); {
	case c == '{':
		return s.skipItems('}', func() bool {
			return s.peek() == '"' && s.skipString() && s.byte(':') && s.skipValue(depth+1)
		})
	case c == '[':
		return s.skipItems(']', func() bool { return s.skipValue(depth + 1) })
	case c == '"':
		return s.skipString()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return s.skipNumber()
	}
	return false
}

// skipItems passes over an object's members or a list's elements (item
// passes over one) and the closing byte end; the opening one is next.
func (s *scanner) skipItems(end byte, item func() bool) bool {
	s.i++
	if s.byte(end) {
		return true
	}
	for {
		if !item() {
			return false
		}
		if s.byte(end) {
			return true
		}
		if !s.byte(',') {
			return false
		}
	}
}

// skipString passes over a string, checking its escapes.
func (s *scanner) skipString() bool {
	s.i++ // the opening quote
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if s.i+1 >= len(s.b) {
				return false
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(s.b) {
					return false
				}
				for _, h := range s.b[s.i+2 : s.i+6] {
					if !isHex(h) {
						return false
					}
				}
				s.i += 6
			default:
				return false
			}
			continue
		}
		s.i++
	}
	return false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// skipNumber passes over a number in JSON's grammar.
func (s *scanner) skipNumber() bool {
	b := s.b
	if b[s.i] == '-' {
		s.i++
	}
	digits := func() int {
		start := s.i
		for s.i < len(b) && b[s.i] >= '0' && b[s.i] <= '9' {
			s.i++
		}
		return s.i - start
	}
	start := s.i
	n := digits()
	if n == 0 || b[start] == '0' && n > 1 {
		return false
	}
	if s.i < len(b) && b[s.i] == '.' {
		s.i++
		if digits() == 0 {
			return false
		}
	}
	if s.i < len(b) && (b[s.i] == 'e' || b[s.i] == 'E') {
		s.i++
		if s.i < len(b) && (b[s.i] == '+' || b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return false
		}
	}
	return true
}
