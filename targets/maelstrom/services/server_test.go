package services

import (
	"bufio"
	"encoding/json"
	"net"
	"reflect"
	"testing"
	"time"
)

// TestServer: requests from two shims' connections reach the service
// named by dest and come back with in_reply_to; a message without msg_id
// gets no reply, one to an unknown name gets node-not-found; the counts
// are per service and calling node, and survive Close.
func TestServer(t *testing.T) {
	srv, err := Listen("127.0.0.1:0", Default(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if got, want := srv.Names(), []string{LinKV, LinTSO, LWWKV, SeqKV}; !reflect.DeepEqual(got, want) {
		t.Fatalf("names %v, want %v", got, want)
	}
	dial := func() (net.Conn, *bufio.Scanner) {
		c, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, bufio.NewScanner(c)
	}
	exchange := func(c net.Conn, sc *bufio.Scanner, line string) map[string]any {
		t.Helper()
		if _, err := c.Write([]byte(line + "\n")); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if !sc.Scan() {
			t.Fatalf("no reply to %s: %v", line, sc.Err())
		}
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	c1, s1 := dial()
	c2, s2 := dial()
	// No msg_id: applied, not answered; the next reply is the read's.
	if _, err := c1.Write([]byte(`{"src":"n1","dest":"lin-kv","body":{"type":"write","key":"k","value":5}}` + "\n")); err != nil {
		t.Fatal(err)
	}
	// A reply on the same connection: the write has been applied.
	if got := exchange(c1, s1, `{"src":"n1","dest":"lin-tso","body":{"type":"ts","msg_id":1}}`); got["body"].(map[string]any)["ts"] != 0.0 {
		t.Fatalf("ts: %v", got)
	}
	got := exchange(c2, s2, `{"src":"n2","dest":"lin-kv","body":{"type":"read","key":"k","msg_id":7}}`)
	want := map[string]any{"src": "lin-kv", "dest": "n2", "body": map[string]any{"type": "read_ok", "value": 5.0, "in_reply_to": 7.0}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("read: got %v, want %v", got, want)
	}
	got = exchange(c1, s1, `{"src":"n1","dest":"seq-kv","body":{"type":"cas","key":"k","from":1,"to":2,"create_if_not_exists":true,"msg_id":8}}`)
	if b := got["body"].(map[string]any); b["type"] != "cas_ok" || got["src"] != "seq-kv" || got["dest"] != "n1" {
		t.Fatalf("cas on seq-kv: %v", got)
	}
	got = exchange(c1, s1, `{"src":"n1","dest":"lin-tso","body":{"type":"ts","msg_id":9}}`)
	if b := got["body"].(map[string]any); b["type"] != "ts_ok" || b["ts"] != 1.0 {
		t.Fatalf("ts: %v", got)
	}
	got = exchange(c1, s1, `{"src":"n1","dest":"kv","body":{"type":"read","key":"k","msg_id":10}}`)
	if b := got["body"].(map[string]any); b["code"] != 1.0 || got["src"] != "kv" {
		t.Fatalf("unknown service: %v", got)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	wantTraffic := map[string]map[string]Traffic{
		LinKV:  {"n1": {Requests: 1}, "n2": {Requests: 1, Replies: 1}},
		SeqKV:  {"n1": {Requests: 1, Replies: 1}},
		LinTSO: {"n1": {Requests: 2, Replies: 2}},
	}
	if got := srv.Traffic(); !reflect.DeepEqual(got, wantTraffic) {
		t.Fatalf("traffic %v, want %v", got, wantTraffic)
	}
	if _, err := net.DialTimeout("tcp", srv.Addr(), time.Second); err == nil {
		t.Fatal("still listening after Close")
	}
}
