package history

import (
	"bytes"
	"encoding/json"
)

// valueCache decodes op values from JSON into what encoding/json with
// UseNumber gives (nil, bool, json.Number, string, []any, map[string]any)
// without going through it for the usual shapes: numbers, plain strings,
// literals and lists of them. A history repeats small values (register
// values, node names), so each distinct number or string is boxed once
// and shared, up to maxInterned of them; lists are never shared, since a
// caller may change one.
type valueCache struct {
	nums, strs map[string]any
}

// decode returns the value of b, which scanOp has found well formed; nil
// b is null.
func (c *valueCache) decode(b []byte) (any, error) {
	if b == nil {
		return nil, nil
	}
	s := scanner{b: b}
	if v, ok := c.value(&s, 0); ok && s.peek() == 0 && s.i == len(b) {
		return v, nil
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// value decodes one value of the usual shape; false for anything else
// (objects, escaped or non-ASCII strings, lists nested deeper than one).
func (c *valueCache) value(s *scanner, depth int) (any, bool) {
	switch ch := s.peek(); {
	case ch == '-' || ch >= '0' && ch <= '9':
		start := s.i
		if !s.skipNumber() {
			return nil, false
		}
		return c.box(s.b[start:s.i], true), true
	case ch == '"':
		v, ok := s.plainString()
		if !ok {
			return nil, false
		}
		return c.box(v, false), true
	case ch == 'n':
		return nil, s.literal("null")
	case ch == 't':
		return true, s.literal("true")
	case ch == 'f':
		return false, s.literal("false")
	case ch == '[' && depth == 0:
		s.i++
		out := []any{}
		if s.byte(']') {
			return out, true
		}
		for {
			v, ok := c.value(s, depth+1)
			if !ok {
				return nil, false
			}
			out = append(out, v)
			if s.byte(']') {
				return out, true
			}
			if !s.byte(',') {
				return nil, false
			}
		}
	}
	return nil, false
}

// box returns the number literal or string b as an interface value,
// shared with earlier equal ones while the cache has room.
func (c *valueCache) box(b []byte, number bool) any {
	// Numbers and strings apart: "1" and 1 differ.
	m := &c.strs
	if number {
		m = &c.nums
	}
	if v, ok := (*m)[string(b)]; ok {
		return v
	}
	var v any
	if number {
		v = json.Number(b)
	} else {
		v = string(b)
	}
	if *m == nil {
		*m = map[string]any{}
	}
	if len(*m) < maxInterned {
		(*m)[string(b)] = v
	}
	return v
}
