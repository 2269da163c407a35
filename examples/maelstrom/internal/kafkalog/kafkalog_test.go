package kafkalog

import (
	"encoding/json"
	"errors"
	"testing"

	"example.com/maelstrom-examples/node"
)

func TestApply(t *testing.T) {
	l := New()
	steps := []struct {
		req  Request
		want string // the reply as JSON, or "error N"
	}{
		{Request{Type: "send", Key: "a", Msg: json.RawMessage(`7`)}, `{"offset":0,"type":"send_ok"}`},
		{Request{Type: "send", Key: "a", Msg: json.RawMessage(`"x"`)}, `{"offset":1,"type":"send_ok"}`},
		{Request{Type: "send", Key: "b", Msg: json.RawMessage(`9`)}, `{"offset":0,"type":"send_ok"}`},
		{Request{Type: "poll", Offsets: map[string]int64{"a": 1, "b": 0, "c": 0}}, `{"msgs":{"a":[[1,"x"]],"b":[[0,9]]},"type":"poll_ok"}`},
		{Request{Type: "poll", Offsets: map[string]int64{"a": 2}}, `{"msgs":{},"type":"poll_ok"}`},
		{Request{Type: "commit_offsets", Offsets: map[string]int64{"a": 1}}, `{"type":"commit_offsets_ok"}`},
		{Request{Type: "commit_offsets", Offsets: map[string]int64{"a": 0, "b": 0}}, `{"type":"commit_offsets_ok"}`},
		{Request{Type: "list_committed_offsets", Keys: []string{"a", "b", "c"}}, `{"offsets":{"a":1,"b":0},"type":"list_committed_offsets_ok"}`},
		{Request{Type: "send", Key: "a"}, "error 12"},
		{Request{Type: "frob"}, "error 10"},
	}
	for i, s := range steps {
		reply, err := l.Apply(s.req)
		got := ""
		var rerr *node.RPCError
		switch {
		case errors.As(err, &rerr):
			got = "error " + itoa(rerr.Code)
		case err != nil:
			t.Fatalf("step %d: %v", i, err)
		default:
			b, _ := json.Marshal(reply)
			got = string(b)
		}
		if got != s.want {
			t.Errorf("step %d %+v: %s, want %s", i, s.req, got, s.want)
		}
	}
}

// TestPollLimit: a long log comes back in pieces of PollLimit.
func TestPollLimit(t *testing.T) {
	l := New()
	for range PollLimit + 3 {
		if _, err := l.Apply(Request{Type: "send", Key: "a", Msg: json.RawMessage(`1`)}); err != nil {
			t.Fatal(err)
		}
	}
	for from, want := range map[int64]int{0: PollLimit, PollLimit: 3} {
		reply, _ := l.Apply(Request{Type: "poll", Offsets: map[string]int64{"a": from}})
		if got := len(reply["msgs"].(map[string][][2]any)["a"]); got != want {
			t.Errorf("poll from %d: %d messages, want %d", from, got, want)
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
