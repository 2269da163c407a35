package kvstore

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"example.com/maelstrom-examples/node"
)

func TestReplayDropsTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(Request{Type: "write", Key: json.RawMessage(`1`), Value: json.RawMessage(`10`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(Request{Type: "write", Key: json.RawMessage(`2`), Value: json.RawMessage(`20`)}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// A kill in the middle of a third append.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"key":3,"val`)
	f.Close()

	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(Request{Type: "write", Key: json.RawMessage(`4`), Value: json.RawMessage(`40`)}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tests := []struct {
		key      string
		want     string
		wantCode int
	}{
		{"1", "10", 0}, {"2", "20", 0}, {"3", "", node.CodeKeyDoesNotExist}, {"4", "40", 0},
	}
	for _, tt := range tests {
		reply, err := s.Apply(Request{Type: "read", Key: json.RawMessage(tt.key)})
		var rerr *node.RPCError
		switch {
		case tt.wantCode != 0:
			if !errors.As(err, &rerr) || rerr.Code != tt.wantCode {
				t.Errorf("read %s: %v %v, want error %d", tt.key, reply, err, tt.wantCode)
			}
		case err != nil:
			t.Errorf("read %s: %v", tt.key, err)
		default:
			if got := string(reply["value"].(json.RawMessage)); got != tt.want {
				t.Errorf("read %s = %s, want %s", tt.key, got, tt.want)
			}
		}
	}
}
