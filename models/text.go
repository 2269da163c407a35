package models

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
)

// Helpers for the sentences checkers write, shared so every checker words
// values and orders keys alike.

// Capitalize upper-cases the first letter of an ASCII sentence.
func Capitalize(s string) string {
	if s != "" && s[0] >= 'a' && s[0] <= 'z' {
		return string(s[0]-'a'+'A') + s[1:]
	}
	return s
}

// Show renders a value for an explanation: nil as "nil", strings quoted,
// anything longer than 40 characters cut.
func Show(v any) string {
	if v == nil {
		return "nil"
	}
	s := fmt.Sprint(v)
	if _, ok := v.(string); ok {
		s = strconv.Quote(s)
	}
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return s
}

// CompareKeys orders keys numerically when both are integers, integers
// before other keys, and other keys as strings.
func CompareKeys(a, b string) int {
	x, errA := strconv.ParseInt(a, 10, 64)
	y, errB := strconv.ParseInt(b, 10, 64)
	switch {
	case errA == nil && errB == nil:
		return cmp.Compare(x, y)
	case errA == nil:
		return -1
	case errB == nil:
		return 1
	}
	return strings.Compare(a, b)
}
