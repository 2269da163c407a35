// Package histtest builds small histories for checker tests from one line
// per op, so table-driven tests read like the histories they describe.
package histtest

import (
	"strconv"
	"strings"
	"testing"

	"github.com/faultline/faultline/models/history"
)

// Build builds a history from lines "process type f [value] [key=K] [node=N]
// [nodes=N,M] [failed=N,M]", e.g. "0 invoke add 1 node=n1", "1 ok read [1 2]
// node=n2" or "nuker info start-power nodes=n1,n2 failed=n2" (a fault's
// nodes, and those where it did not take effect). A value is nil, an integer, a list [1 2] or else a
// string. Op i has index i and time 10*i.
func Build(t testing.TB, lines ...string) []history.Op {
	t.Helper()
	ops := make([]history.Op, 0, len(lines))
	for i, line := range lines {
		f := strings.Fields(line)
		op := history.Op{Index: int64(i), Time: int64(10 * i)}
		for len(f) > 3 {
			last := f[len(f)-1]
			if k, ok := strings.CutPrefix(last, "key="); ok {
				op.Key = k
			} else if n, ok := strings.CutPrefix(last, "node="); ok {
				op.Node = n
			} else if n, ok := strings.CutPrefix(last, "nodes="); ok {
				op.Nodes = strings.Split(n, ",")
			} else if n, ok := strings.CutPrefix(last, "failed="); ok {
				op.Failed = strings.Split(n, ",")
			} else {
				break
			}
			f = f[:len(f)-1]
		}
		if len(f) < 3 {
			t.Fatalf("line %d %q: want process type f [value]", i, line)
		}
		if f[0] == "nuker" {
			op.Process = history.Nuker
		} else {
			p, err := strconv.Atoi(f[0])
			if err != nil {
				t.Fatalf("line %d: %v", i, err)
			}
			op.Process = history.Process(p)
		}
		op.Type, op.F = history.Type(f[1]), f[2]
		if len(f) > 3 {
			op.Value = value(strings.Join(f[3:], " "))
		}
		ops = append(ops, op)
	}
	return ops
}

func value(s string) any {
	if s == "nil" {
		return nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		out := []any{}
		for _, f := range strings.Fields(s[1 : len(s)-1]) {
			out = append(out, value(f))
		}
		return out
	}
	return s
}
