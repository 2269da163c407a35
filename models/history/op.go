// Package history defines faultline's operation history: the Op record every
// client operation and every fault becomes, and its on-disk encodings (the
// versioned JSON-lines file a run appends to, and importers for Jepsen's
// history.edn and jepsen.util log lines).
//
// history.jsonl is a header line ({"format":"faultline-history","version":2}),
// one op per line, and, once the run finished, an end record
// ({"end":{"ops":N,"interrupted":false,"harness_error":"..."}}, see
// EndRecord). A file without the end record is the prefix of a run that
// never finished. Only a last line without its newline may be torn; every
// complete line must be a well-formed op (see ReadWithInfo).
//
// Validate checks, once for every checker, the assumptions they pair ops
// by, and says what it set aside and what cannot be judged (see Report).
package history

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Type is the kind of a history entry.
type Type string

// The four entry types, with Jepsen's meaning.
const (
	// Invoke marks the start of an operation.
	Invoke Type = "invoke"
	// OK means the operation certainly took effect.
	OK Type = "ok"
	// Fail means the operation certainly did not take effect.
	Fail Type = "fail"
	// Info means the operation may or may not have taken effect, at any time
	// after its invocation (a timeout, an ambiguous error, a crash).
	Info Type = "info"
)

// Valid reports whether t is one of the four known types.
func (t Type) Valid() bool {
	switch t {
	case Invoke, OK, Fail, Info:
		return true
	}
	return false
}

// Process identifies a logical client. Client processes are numbered from 0;
// the nuker (fault injector) is the special process Nuker.
type Process int

// Nuker is the process id of fault operations. It is written as "nuker".
const Nuker Process = -1

// MarshalJSON writes client processes as numbers and the nuker as "nuker".
func (p Process) MarshalJSON() ([]byte, error) {
	if p == Nuker {
		return []byte(`"nuker"`), nil
	}
	return strconv.AppendInt(nil, int64(p), 10), nil
}

// UnmarshalJSON accepts a client number (0 or more) or the string "nuker"
// (also "nemesis"). A negative number is refused: in memory the nuker is
// -1, and a -1 read from a file must not pass for the fault injector.
func (p *Process) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		switch s {
		case "nuker", "nemesis":
			*p = Nuker
			return nil
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return fmt.Errorf("process %q: not a client number (0 or more) or \"nuker\"", s)
		}
		*p = Process(n)
		return nil
	}
	var n int
	if err := json.Unmarshal(b, &n); err != nil || n < 0 {
		return fmt.Errorf("process %s: not a client number (0 or more) or \"nuker\"", b)
	}
	*p = Process(n)
	return nil
}

func (p Process) String() string {
	if p == Nuker {
		return "nuker"
	}
	return strconv.Itoa(int(p))
}

// Op is one history entry. An operation appears twice: once as Invoke and
// once as its completion (OK, Fail or Info) with the same Process and F.
// Faults are ops of process Nuker: F names the fault ("partition", "kill",
// "pause", ...), Invoke marks the start of its injection and the completion
// marks that it is in effect (F "start-…") or healed (F "stop-…"); see
// package nuker for the exact vocabulary.
type Op struct {
	// Index is the position in the history, from 0.
	Index int64 `json:"index"`
	// Time is nanoseconds since the run started, from a monotonic clock.
	Time int64 `json:"time"`
	// Type is invoke, ok, fail or info.
	Type Type `json:"type"`
	// Process is the logical client, or Nuker.
	Process Process `json:"process"`
	// F is the operation's function: "read", "write", "cas", or a fault name.
	F string `json:"f"`
	// Key is the object the op touches, when the workload has several.
	Key string `json:"key,omitempty"`
	// Value is the op's argument or result; its shape depends on F (for the
	// register: read -> int or null, write -> int, cas -> [old, new]).
	// Decoded JSON numbers are json.Number.
	Value any `json:"value"`
	// Error says why an op failed or is indeterminate.
	Error string `json:"error,omitempty"`
	// Answered marks a fail that was the system's regular answer (a
	// compare-and-set whose comparison failed, a lock already held) rather
	// than a refusal: the op was served, which availability counts.
	Answered bool `json:"answered,omitempty"`
	// Node is the node a client op was sent to.
	Node string `json:"node,omitempty"`
	// Nodes are the nodes a fault acts on.
	Nodes []string `json:"nodes,omitempty"`
	// Failed are the nodes where a fault's start or stop did not take
	// effect (its Error says why); see FaultOutcome.
	Failed []string `json:"failed,omitempty"`
}

// IsClient reports whether o was made by a client rather than the nuker.
func (o Op) IsClient() bool { return o.Process != Nuker }

// Int returns v as an int64 when it is an integer of any Go or JSON numeric
// type.
func Int(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case float64:
		if x == float64(int64(x)) {
			return int64(x), true
		}
	case json.Number:
		n, err := x.Int64()
		return n, err == nil
	}
	return 0, false
}

// IntPair returns v as two integers when it is a two-element list of them
// (a cas argument [old, new]).
func IntPair(v any) (int64, int64, bool) {
	var a, b any
	switch x := v.(type) {
	case []any:
		if len(x) != 2 {
			return 0, 0, false
		}
		a, b = x[0], x[1]
	case []int64:
		if len(x) != 2 {
			return 0, 0, false
		}
		return x[0], x[1], true
	case [2]int64:
		return x[0], x[1], true
	default:
		return 0, 0, false
	}
	x, ok1 := Int(a)
	y, ok2 := Int(b)
	return x, y, ok1 && ok2
}
