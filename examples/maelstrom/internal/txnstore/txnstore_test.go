package txnstore

import (
	"encoding/json"
	"testing"
)

func TestApply(t *testing.T) {
	s := New()
	tests := []struct{ req, want string }{
		{`{"txn":[["r",1,null],["append",1,5],["r",1,null],["w",2,7],["r",2,null]]}`, `[["r",1,null],["append",1,5],["r",1,[5]],["w",2,7],["r",2,7]]`},
		{`{"txn":[["append",1,6],["r",1,null],["r",3,null]]}`, `[["append",1,6],["r",1,[5,6]],["r",3,null]]`},
		{`{"txn":[["w",2,8],["r",2,null]]}`, `[["w",2,8],["r",2,8]]`},
	}
	for _, tt := range tests {
		txn, err := Parse(json.RawMessage(tt.req))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := json.Marshal(s.Apply(txn))
		if string(got) != tt.want {
			t.Errorf("%s: %s, want %s", tt.req, got, tt.want)
		}
	}
	copyOf := New()
	txn, _ := Parse(json.RawMessage(`{"txn":[["r",1,null],["append",1,9],["w",4,1]]}`))
	copyOf.ApplyWrites(txn)
	got, _ := json.Marshal(copyOf.Apply([]MicroOp{{F: "r", K: json.RawMessage("1")}, {F: "r", K: json.RawMessage("4")}}))
	if string(got) != `[["r",1,[9]],["r",4,1]]` {
		t.Errorf("after ApplyWrites: %s", got)
	}
}

func TestParseRefuses(t *testing.T) {
	for _, req := range []string{`{"txn":[["x",1,null]]}`, `{"txn":[["r",1]]}`, `{"txn":"no"}`, `{"txn":[[1,1,null]]}`} {
		if _, err := Parse(json.RawMessage(req)); err == nil {
			t.Errorf("%s: no error", req)
		}
	}
}
