package models

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ValueKey returns a key that is equal for two values exactly when they are
// the same JSON value, whatever Go types carry them: an op kept in memory
// (int64, string, json.RawMessage), read back from history.jsonl
// (json.Number) or imported from EDN (int64, float64) gives the same key.
// Strings compare exactly; numbers by value (1, 1.0 and 1e0 are one
// number: integers written without a fraction or exponent exactly, any
// other number as a float64, written as integer digits when integral);
// arrays element by element; objects by their members, in any order. It
// fails only for a value that is not JSON.
func ValueKey(v any) (string, error) {
	// The common scalars directly: the same keys the general way below
	// gives, without its encoding and decoding.
	switch x := v.(type) {
	case nil:
		return "null", nil
	case bool:
		return strconv.FormatBool(x), nil
	case string:
		if utf8.ValidString(x) { // invalid UTF-8 is replaced when encoded
			return strconv.Quote(x), nil
		}
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			return floatKey(x), nil
		}
	case json.Number:
		if json.Valid([]byte(x)) {
			return NumberKey(string(x)), nil
		}
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("value %s is not JSON: %w", Show(v), err)
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var x any
	if err := d.Decode(&x); err != nil {
		return "", fmt.Errorf("value %s is not JSON: %w", Show(v), err)
	}
	var sb strings.Builder
	writeKey(&sb, x)
	return sb.String(), nil
}

// writeKey writes the canonical text of a decoded JSON value.
func writeKey(sb *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		sb.WriteString("null")
	case bool:
		sb.WriteString(strconv.FormatBool(x))
	case json.Number:
		sb.WriteString(NumberKey(string(x)))
	case string:
		sb.WriteString(strconv.Quote(x))
	case []any:
		sb.WriteByte('[')
		for i, it := range x {
			if i > 0 {
				sb.WriteByte(',')
			}
			writeKey(sb, it)
		}
		sb.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		sb.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(strconv.Quote(k))
			sb.WriteByte(':')
			writeKey(sb, x[k])
		}
		sb.WriteByte('}')
	default:
		// Not produced by the decoder; kept distinct from every JSON value.
		fmt.Fprintf(sb, "?%v", x)
	}
}

// NumberKey returns the canonical text of a JSON number: an integer written
// as one (no fraction, no exponent) exactly, without a sign on zero; any
// other number through float64, as its integer digits when it is integral
// (so 1e3, 1000.0 and 1000 are one key).
func NumberKey(text string) string {
	if isInteger(text) {
		if strings.Trim(text, "-0") == "" {
			return "0"
		}
		return text
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return text // out of float64's range: its own text
	}
	return floatKey(f)
}

// floatKey is the canonical text of a float: an integral one as its exact
// decimal digits (the key of the integer written so), anything else in the
// shortest form.
func floatKey(f float64) string {
	switch {
	case f == 0:
		return "0"
	case f == math.Trunc(f):
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// isInteger reports whether text is an optional minus and digits only.
func isInteger(text string) bool {
	s := strings.TrimPrefix(text, "-")
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
