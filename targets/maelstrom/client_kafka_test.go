package maelstrom

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/faultline/faultline/targets/targettest"
	"github.com/faultline/faultline/workloads"
)

// TestDialWorkloads: the client serves every workload Dial claims.
func TestDialWorkloads(t *testing.T) {
	targettest.ServesWorkloads(t, &Client{}, DialWorkloads())
}

// TestClientKafka checks the kafka requests the client sends and how the
// answers become results.
func TestClientKafka(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var seen []map[string]any
	addr := fakeNode(t, func(b map[string]any) map[string]any {
		seen = append(seen, b)
		switch b["type"] {
		case "send":
			if b["key"] == "full" {
				return map[string]any{"type": "error", "code": 11}
			}
			if b["key"] == "odd" {
				return map[string]any{"type": "send_ok", "offset": "seven"}
			}
			return map[string]any{"type": "send_ok", "offset": 7}
		case "poll":
			if _, ok := b["offsets"].(map[string]any)["none"]; ok {
				return map[string]any{"type": "poll_ok"}
			}
			return map[string]any{"type": "poll_ok", "msgs": map[string]any{"k1": [][]int{{7, 3}, {9, 4}}}}
		case "commit_offsets":
			return map[string]any{"type": "error", "code": 0}
		case "list_committed_offsets":
			return map[string]any{"type": "list_committed_offsets_ok", "offsets": map[string]int{"k1": 7}}
		}
		return map[string]any{"type": "error", "code": 10}
	})
	c, err := dial(ctx, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if off, err := c.Send(ctx, "k1", 3); err != nil || off != 7 {
		t.Errorf("send: offset %d, %v; want 7", off, err)
	}
	if _, err := c.Send(ctx, "full", 4); !workloads.IsDefinite(err) {
		t.Errorf("send answered temporarily-unavailable: %v, want definite", err)
	}
	if _, err := c.Send(ctx, "odd", 5); err == nil || workloads.IsDefinite(err) {
		t.Errorf("send_ok without an integer offset: %v, want indeterminate (the message may be in the log)", err)
	}
	if got, err := c.Poll(ctx, map[string]int64{"k1": 7}); err != nil || fmt.Sprint(got) != "map[k1:[{7 3} {9 4}]]" {
		t.Errorf("poll: %v %v", got, err)
	}
	if got, err := c.Poll(ctx, map[string]int64{"none": 0}); err != nil || len(got) != 0 {
		t.Errorf("poll_ok without msgs: %v %v, want nothing", got, err)
	}
	if err := c.CommitOffsets(ctx, map[string]int64{"k1": 9}); err == nil || workloads.IsDefinite(err) {
		t.Errorf("commit answered timeout: %v, want indeterminate", err)
	}
	if got, err := c.ListCommittedOffsets(ctx, []string{"k1", "k2"}); err != nil || fmt.Sprint(got) != "map[k1:7]" {
		t.Errorf("list committed offsets: %v %v", got, err)
	}
	want := []string{
		`{"key":"k1","msg":3,"msg_id":1,"type":"send"}`,
		`{"key":"full","msg":4,"msg_id":2,"type":"send"}`,
		`{"key":"odd","msg":5,"msg_id":3,"type":"send"}`,
		`{"msg_id":4,"offsets":{"k1":7},"type":"poll"}`,
		`{"msg_id":5,"offsets":{"none":0},"type":"poll"}`,
		`{"msg_id":6,"offsets":{"k1":9},"type":"commit_offsets"}`,
		`{"keys":["k1","k2"],"msg_id":7,"type":"list_committed_offsets"}`,
	}
	if len(seen) != len(want) {
		t.Fatalf("node saw %d requests, want %d: %v", len(seen), len(want), seen)
	}
	for i, b := range seen {
		got, _ := json.Marshal(b)
		if string(got) != want[i] {
			t.Errorf("request %d: %s, want %s", i, got, want[i])
		}
	}
}
