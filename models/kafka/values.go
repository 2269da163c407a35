package kafka

import (
	"encoding/json"
	"sort"
	"strconv"

	"github.com/faultline/faultline/models/history"
)

// The ops of a log history (F).
const (
	// SendF appends a message: Key is the log, the invocation's value the
	// message, the ok value [offset, message].
	SendF = "send"
	// PollF reads logs from offsets: the invocation's value maps keys to
	// the offsets asked for, the ok value maps keys to [[offset, message]
	// ...] in the order returned.
	PollF = "poll"
	// FinalPollF reads one whole log (Key) from its start after the faults
	// are healed, polling until a poll returns nothing more: its value as
	// a poll's. Only an ok one read the whole log; an info one holds what
	// it read before it was cut short.
	FinalPollF = "final-poll"
	// CommitF commits offsets: its value maps keys to offsets processed.
	CommitF = "commit-offsets"
	// ListCommittedF asks for committed offsets: the invocation's value
	// lists keys, the ok value maps keys to their committed offsets.
	ListCommittedF = "list-committed-offsets"
)

// Offsets reads a map of keys to integer offsets, as the workload writes
// it or as it comes back from JSON or EDN.
func Offsets(v any) (map[string]int64, bool) {
	switch x := v.(type) {
	case map[string]int64:
		return x, true
	case map[string]any:
		out := make(map[string]int64, len(x))
		for k, o := range x {
			n, ok := history.Int(o)
			if !ok {
				return nil, false
			}
			out[k] = n
		}
		return out, true
	}
	return nil, false
}

// Entry is one [offset, message] pair; Msg is the message's canonical
// text (its decimal when an integer, else its JSON).
type Entry struct {
	Offset int64
	Msg    string
}

// MsgText is the canonical text of a message value.
func MsgText(v any) string {
	if n, ok := history.Int(v); ok {
		return strconv.FormatInt(n, 10)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "?"
	}
	return string(b)
}

// pair reads [offset, message].
func pair(v any) (Entry, bool) {
	l, ok := v.([]any)
	if !ok || len(l) != 2 {
		return Entry{}, false
	}
	o, ok := history.Int(l[0])
	if !ok {
		return Entry{}, false
	}
	return Entry{Offset: o, Msg: MsgText(l[1])}, true
}

// Msgs reads a poll's value: keys to lists of [offset, message].
func Msgs(v any) (map[string][]Entry, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, v == nil
	}
	out := make(map[string][]Entry, len(m))
	for k, l := range m {
		if l == nil {
			out[k] = nil
			continue
		}
		list, ok := l.([]any)
		if !ok {
			return nil, false
		}
		es := make([]Entry, 0, len(list))
		for _, p := range list {
			e, ok := pair(p)
			if !ok {
				return nil, false
			}
			es = append(es, e)
		}
		out[k] = es
	}
	return out, true
}

// sortedKeys returns m's keys in order, for deterministic reports.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
