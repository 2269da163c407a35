// Package kafkalog is the in-memory state behind the kafka example nodes:
// append-only logs named by keys, whose messages get offsets 0, 1, 2, ...
// in the order they arrive, and a committed offset per key that only
// rises. It applies Maelstrom's kafka requests (send, poll, commit_offsets,
// list_committed_offsets) one at a time and gives the protocol's answers.
package kafkalog

import (
	"encoding/json"
	"sync"

	"example.com/maelstrom-examples/node"
)

// PollLimit bounds the messages of one key in one poll_ok, so answers stay
// small; a client polls again from where the answer ended.
const PollLimit = 200

// Request is the body of any of the four kafka requests.
type Request struct {
	Type    string           `json:"type"`
	Key     string           `json:"key,omitempty"`
	Msg     json.RawMessage  `json:"msg,omitempty"`
	Offsets map[string]int64 `json:"offsets,omitempty"`
	Keys    []string         `json:"keys,omitempty"`
}

// Logs holds every key's log and committed offset. Its methods are safe
// for concurrent use.
type Logs struct {
	mu        sync.Mutex
	logs      map[string][]json.RawMessage // message at index = offset
	committed map[string]int64
}

// New returns empty logs.
func New() *Logs {
	return &Logs{logs: map[string][]json.RawMessage{}, committed: map[string]int64{}}
}

// Types are the request types Apply serves.
var Types = []string{"send", "poll", "commit_offsets", "list_committed_offsets"}

// Apply applies one request and returns the reply body, or an
// *node.RPCError for a request it cannot serve.
func (l *Logs) Apply(req Request) (map[string]any, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch req.Type {
	case "send":
		if req.Key == "" || len(req.Msg) == 0 {
			return nil, node.Errorf(node.CodeMalformedRequest, "send needs key and msg")
		}
		off := len(l.logs[req.Key])
		l.logs[req.Key] = append(l.logs[req.Key], req.Msg)
		return map[string]any{"type": "send_ok", "offset": off}, nil
	case "poll":
		msgs := map[string][][2]any{}
		for k, from := range req.Offsets {
			log := l.logs[k]
			for off := max(from, 0); off < int64(len(log)) && len(msgs[k]) < PollLimit; off++ {
				msgs[k] = append(msgs[k], [2]any{off, log[off]})
			}
		}
		return map[string]any{"type": "poll_ok", "msgs": msgs}, nil
	case "commit_offsets":
		for k, off := range req.Offsets {
			// Committed offsets only rise: a consumer behind another must
			// not move the group back.
			if old, ok := l.committed[k]; !ok || off > old {
				l.committed[k] = off
			}
		}
		return map[string]any{"type": "commit_offsets_ok"}, nil
	case "list_committed_offsets":
		offs := map[string]int64{}
		for _, k := range req.Keys {
			if off, ok := l.committed[k]; ok {
				offs[k] = off
			}
		}
		return map[string]any{"type": "list_committed_offsets_ok", "offsets": offs}, nil
	}
	return nil, node.Errorf(node.CodeNotSupported, "kafkalog: unknown request type %q", req.Type)
}

// Decode reads a kafka request body.
func Decode(m node.Message) (Request, error) {
	var r Request
	if err := m.Decode(&r); err != nil {
		return Request{}, node.Errorf(node.CodeMalformedRequest, "%v", err)
	}
	if r.Type == "" {
		return Request{}, node.Errorf(node.CodeMalformedRequest, "no type in %s", m.Body)
	}
	return r, nil
}
