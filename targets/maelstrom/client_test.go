package maelstrom

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/faultline/faultline/targets/targettest"
	"github.com/faultline/faultline/workloads"
)

// TestClassify checks every Maelstrom error code against its protocol
// document's definite/indeterminate column.
func TestClassify(t *testing.T) {
	code := func(c int) error { return fmt.Errorf("maelstrom write: %w", &Error{Code: c, Text: "x"}) }
	targettest.Classify(t, classify, []targettest.ClassCase{
		{Name: "timeout (0)", Err: code(CodeTimeout), Want: targettest.Indeterminate},
		{Name: "node-not-found (1)", Err: code(CodeNodeNotFound), Want: targettest.Definite},
		{Name: "not-supported (10)", Err: code(CodeNotSupported), Want: targettest.Definite},
		{Name: "temporarily-unavailable (11)", Err: code(CodeTemporarilyUnavailable), Want: targettest.Definite},
		{Name: "malformed-request (12)", Err: code(CodeMalformedRequest), Want: targettest.Definite},
		{Name: "crash (13)", Err: code(CodeCrash), Want: targettest.Indeterminate},
		{Name: "abort (14)", Err: code(CodeAbort), Want: targettest.Definite},
		{Name: "key-does-not-exist (20)", Err: code(CodeKeyDoesNotExist), Want: targettest.Definite},
		{Name: "key-already-exists (21)", Err: code(CodeKeyAlreadyExists), Want: targettest.Definite},
		{Name: "precondition-failed (22)", Err: code(CodePreconditionFailed), Want: targettest.Definite},
		{Name: "txn-conflict (30)", Err: code(CodeTxnConflict), Want: targettest.Definite},
		{Name: "a node's own code", Err: code(1000), Want: targettest.Indeterminate},
		{Name: "not sent", Err: notSent{errors.New("connection refused")}, Want: targettest.Definite},
		{Name: "connection lost after sending", Err: errors.New("maelstrom write: no reply: EOF"), Want: targettest.Indeterminate},
	})
}

// fakeNode serves one connection like a shim would (then refuses more), answering each
// request with answer(body); a nil answer means no reply.
func fakeNode(t *testing.T, answer func(body map[string]any) map[string]any) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		c, err := l.Accept()
		l.Close() // one connection: a redial is refused
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadBytes('\n')
			if err != nil {
				return
			}
			var m struct {
				Src  string         `json:"src"`
				Body map[string]any `json:"body"`
			}
			if json.Unmarshal(line, &m) != nil {
				return
			}
			a := answer(m.Body)
			if a == nil {
				continue
			}
			if a["type"] == "close" {
				return
			}
			a["in_reply_to"] = m.Body["msg_id"]
			out, _ := json.Marshal(map[string]any{"src": "n1", "dest": m.Src, "body": a})
			if _, err := c.Write(append(out, '\n')); err != nil {
				return
			}
		}
	}()
	return l.Addr().String()
}

// TestClientVocabulary checks the requests each workload sends and how
// answers become results.
func TestClientVocabulary(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var seen []map[string]any
	addr := fakeNode(t, func(b map[string]any) map[string]any {
		seen = append(seen, b)
		switch b["type"] {
		case "read":
			if b["key"] == "missing" {
				return map[string]any{"type": "error", "code": 20}
			}
			// Broadcast's read: two keys' elements in one cluster-wide set.
			return map[string]any{"type": "read_ok", "value": 5, "messages": []int{3*setKeySpan + 1, 4*setKeySpan + 2, 3*setKeySpan + 9}}
		case "cas":
			return map[string]any{"type": "error", "code": 22, "text": "no"}
		case "write":
			return map[string]any{"type": "error", "code": 11}
		case "broadcast":
			return map[string]any{"type": "broadcast_ok"}
		case "add":
			return map[string]any{"type": "error", "code": 13}
		}
		return map[string]any{"type": "error", "code": 10}
	})
	c, err := dial(ctx, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if v, found, err := c.Read(ctx, "k"); err != nil || !found || v != 5 {
		t.Errorf("read: %d %v %v, want 5 found", v, found, err)
	}
	if _, found, err := c.Read(ctx, "missing"); err != nil || found {
		t.Errorf("read of key-does-not-exist: found=%v err=%v, want not found", found, err)
	}
	if ok, err := c.CAS(ctx, "k", 1, 2); ok || err != nil {
		t.Errorf("cas answered precondition-failed: %v %v, want a failed comparison", ok, err)
	}
	if err := c.Write(ctx, "k", 1); !workloads.IsDefinite(err) {
		t.Errorf("write answered temporarily-unavailable: %v, want definite", err)
	}
	if err := c.AddElement(ctx, "3", 7); err != nil {
		t.Errorf("broadcast: %v", err)
	}
	if got, err := c.ReadSet(ctx, "3"); err != nil || fmt.Sprint(got) != "[1 9]" {
		t.Errorf("read of set 3: %v %v, want [1 9] (key 4's element left out)", got, err)
	}
	if err := c.Increment(ctx, "0", 1); err == nil || workloads.IsDefinite(err) {
		t.Errorf("add answered crash: %v, want indeterminate", err)
	}
	if err := c.Increment(ctx, "1", 1); !workloads.IsDefinite(err) {
		t.Errorf("g-counter on a second key: %v, want a definite refusal", err)
	}
	want := []string{
		`{"key":"k","msg_id":1,"type":"read"}`,
		`{"key":"missing","msg_id":2,"type":"read"}`,
		`{"from":1,"key":"k","msg_id":3,"to":2,"type":"cas"}`,
		`{"key":"k","msg_id":4,"type":"write","value":1}`,
		fmt.Sprintf(`{"message":%d,"msg_id":5,"type":"broadcast"}`, 3*setKeySpan+7),
		`{"msg_id":6,"type":"read"}`,
		`{"delta":1,"msg_id":7,"type":"add"}`,
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

// TestClientLostConnection: a request whose connection dies before the
// answer is indeterminate; the next one, never sent, is definite.
func TestClientLostConnection(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	addr := fakeNode(t, func(map[string]any) map[string]any { return map[string]any{"type": "close"} })
	c, err := dial(ctx, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Write(ctx, "k", 1)
	if err == nil || workloads.IsDefinite(err) || !errors.Is(err, io.EOF) {
		t.Fatalf("write, connection closed before the answer: %v, want indeterminate", err)
	}
	// The next op dials again, is refused: nothing sent, definite.
	if err := c.Write(ctx, "k", 2); !workloads.IsDefinite(err) {
		t.Fatalf("write on a lost connection: %v, want definite (never sent)", err)
	}
}

func TestDialOptions(t *testing.T) {
	for _, c := range []struct {
		opts map[string]string
		ok   bool
	}{
		{map[string]string{"set": "g-set", "node": "n2"}, true},
		{map[string]string{"set": "gossip"}, false},
		{map[string]string{"nodes": "n1"}, false},
	} {
		_, err := dial(t.Context(), "127.0.0.1:1", c.opts)
		// Port 1 refuses: only an option error is not definite.
		if optErr := err != nil && !workloads.IsDefinite(err); optErr == c.ok {
			t.Errorf("dial %v: %v, want ok=%v", c.opts, err, c.ok)
		}
	}
}
