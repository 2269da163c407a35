package maelstrom

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/faultline/faultline/workloads"
)

// txnNode answers txn requests like a node holding lists (key 1 = [4 5])
// and registers (key 2 = 7), key 9 absent; a transaction touching key 66
// is refused with txn-conflict, one touching 77 gets a reply of the wrong
// shape, 88 a reply with the keys changed.
func txnNode(t *testing.T, seen *[]string) string {
	return fakeNode(t, func(b map[string]any) map[string]any {
		raw, _ := json.Marshal(b)
		*seen = append(*seen, string(raw))
		mops, _ := b["txn"].([]any)
		out := []any{}
		for _, x := range mops {
			m := x.([]any)
			switch m[1] {
			case 66.0:
				return map[string]any{"type": "error", "code": 30, "text": "conflict"}
			case 77.0:
				return map[string]any{"type": "txn_ok", "txn": "nonsense"}
			case 88.0:
				m = []any{m[0], 89, m[2]}
			}
			if m[0] == "r" {
				switch m[1] {
				case 1.0:
					m = []any{"r", m[1], []int{4, 5}}
				case 2.0:
					m = []any{"r", m[1], 7}
				}
			}
			out = append(out, m)
		}
		return map[string]any{"type": "txn_ok", "txn": out}
	})
}

// TestClientTxn checks the txn requests both transactional workloads
// send, how reads come back, and which errors are definite.
func TestClientTxn(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var seen []string
	c, err := dial(ctx, txnNode(t, &seen), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	la, err := c.Transact(ctx, []workloads.MicroOp{{F: "r", Key: "1"}, {F: "append", Key: "9", Value: 3}, {F: "r", Key: "9"}})
	if err != nil || fmt.Sprint(la[0].Read) != "[4 5]" || la[2].Read != nil || la[1].Value != 3 {
		t.Errorf("list-append txn: %+v %v, want key 1 [4 5], key 9 nil", la, err)
	}
	rw, err := c.TransactRW(ctx, []workloads.RWMicroOp{{F: "r", Key: "2"}, {F: "w", Key: "9", Value: 3}, {F: "r", Key: "9"}})
	if err != nil || !rw[0].Found || rw[0].Value != 7 || rw[2].Found || rw[1].Value != 3 {
		t.Errorf("rw-register txn: %+v %v, want key 2 = 7, key 9 never written", rw, err)
	}

	errs := []struct {
		name     string
		err      error
		definite bool
	}{
		{"txn-conflict", func() error {
			_, err := c.TransactRW(ctx, []workloads.RWMicroOp{{F: "w", Key: "66", Value: 1}})
			return err
		}(), true},
		{"reply not a list", func() error {
			_, err := c.Transact(ctx, []workloads.MicroOp{{F: "append", Key: "77", Value: 1}})
			return err
		}(), false},
		{"reply with another key", func() error {
			_, err := c.TransactRW(ctx, []workloads.RWMicroOp{{F: "w", Key: "88", Value: 1}})
			return err
		}(), false},
		{"key not an integer, not sent", func() error {
			_, err := c.Transact(ctx, []workloads.MicroOp{{F: "append", Key: "x", Value: 1}})
			return err
		}(), true},
		{"list-append micro-op in rw-register, not sent", func() error {
			_, err := c.TransactRW(ctx, []workloads.RWMicroOp{{F: "append", Key: "1", Value: 1}})
			return err
		}(), true},
	}
	for _, e := range errs {
		if e.err == nil || workloads.IsDefinite(e.err) != e.definite {
			t.Errorf("%s: %v, want an error with definite=%v", e.name, e.err, e.definite)
		}
	}

	want := []string{
		`{"msg_id":1,"txn":[["r",1,null],["append",9,3],["r",9,null]],"type":"txn"}`,
		`{"msg_id":2,"txn":[["r",2,null],["w",9,3],["r",9,null]],"type":"txn"}`,
		`{"msg_id":3,"txn":[["w",66,1]],"type":"txn"}`,
		`{"msg_id":4,"txn":[["append",77,1]],"type":"txn"}`,
		`{"msg_id":5,"txn":[["w",88,1]],"type":"txn"}`,
	}
	if len(seen) != len(want) {
		t.Fatalf("node saw %d requests, want %d: %v", len(seen), len(want), seen)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Errorf("request %d: %s, want %s", i, seen[i], want[i])
		}
	}
}
