package services

import (
	"encoding/json"
	"fmt"
	"testing"
)

// call sends one body to svc as caller and returns the reply re-encoded,
// so tests compare JSON.
func call(t *testing.T, svc Service, caller, body string) map[string]any {
	t.Helper()
	raw, err := json.Marshal(svc.Handle(caller, []byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// describe is a reply in one short string: "read_ok 3", "error 20", "write_ok".
func describe(r map[string]any) string {
	switch r["type"] {
	case "read_ok":
		v, _ := json.Marshal(r["value"])
		return "read_ok " + string(v)
	case "error":
		return fmt.Sprintf("error %v", r["code"])
	}
	return fmt.Sprint(r["type"])
}

// readInt reads key "x" as caller: its integer value, or -1 if missing.
func readInt(t *testing.T, svc Service, caller string) int {
	t.Helper()
	r := call(t, svc, caller, `{"type":"read","key":"x"}`)
	if r["type"] != "read_ok" {
		return -1
	}
	return int(r["value"].(float64))
}

func write(t *testing.T, svc Service, caller string, key string, v int) {
	t.Helper()
	if r := call(t, svc, caller, fmt.Sprintf(`{"type":"write","key":%q,"value":%d}`, key, v)); r["type"] != "write_ok" {
		t.Fatalf("write %s=%d: %v", key, v, r)
	}
}

// TestVocabulary: every key-value service answers Maelstrom's requests
// with its replies and error codes; with one state or one replica each is
// a plain map, so the answers are exact.
func TestVocabulary(t *testing.T) {
	steps := []struct{ body, want string }{
		{`{"type":"read","key":"x"}`, "error 20"},
		{`{"type":"cas","key":"x","from":1,"to":2}`, "error 20"},
		{`{"type":"write","key":"x","value":1}`, "write_ok"},
		{`{"type":"read","key":"x"}`, "read_ok 1"},
		{`{"type":"cas","key":"x","from":3,"to":4}`, "error 22"},
		{`{"type":"cas","key":"x","from":1,"to":2}`, "cas_ok"},
		{`{"type":"read","key":"x"}`, "read_ok 2"},
		{`{"type":"cas","key":"y","from":0,"to":7,"create_if_not_exists":true}`, "cas_ok"},
		{`{"type":"read","key":"y"}`, "read_ok 7"},
		{`{"type":"cas","key":"y","from":0,"to":9,"create_if_not_exists":true}`, "error 22"},
		// Any JSON is a key or a value; equal values compare equal
		// whatever their encoding.
		{`{"type":"write","key":3,"value":{"b":[1,2],"a":null}}`, "write_ok"},
		{`{"type":"cas","key":3,"from":{"a":null,"b":[1.0,2]},"to":"s"}`, "cas_ok"},
		{`{"type":"read","key":"3"}`, "error 20"},
		{`{"type":"read","key":3}`, `read_ok "s"`},
		{`{"type":"add","key":"x","delta":1}`, "error 10"},
		{`{"type":"read"}`, "error 12"},
		{`{"type":"write","key":"x"}`, "error 12"},
		{`{"type":"cas","key":"x","from":1}`, "error 12"},
		{`[1]`, "error 12"},
	}
	for _, tc := range []struct {
		name string
		svc  func() Service
	}{
		{LinKV, func() Service { return NewLin() }},
		{SeqKV + " window 1", func() Service { return NewSeq(1, 1) }},
		{LWWKV + " 1 replica", func() Service { return NewLWW(1, 1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := tc.svc()
			for i, s := range steps {
				if got := describe(call(t, svc, "n1", s.body)); got != s.want {
					t.Errorf("step %d %s: got %s, want %s", i, s.body, got, s.want)
				}
			}
		})
	}
}

// TestLinNeverStale: whoever reads, a lin-kv read returns the last write.
func TestLinNeverStale(t *testing.T) {
	svc := NewLin()
	for i := range 300 {
		write(t, svc, []string{"n1", "n2", "n3"}[i%3], "x", i)
		for _, c := range []string{"n1", "n2", "n3"} {
			if got := readInt(t, svc, c); got != i {
				t.Fatalf("after write %d, %s read %d", i, c, got)
			}
		}
	}
}

// TestSeqStaleButMonotonic: seq-kv reads lag behind other callers'
// writes (it is weaker than lin-kv), yet no caller ever sees the store go
// back, each sees its own writes, and a lag never exceeds the window.
func TestSeqStaleButMonotonic(t *testing.T) {
	const window = 8
	for _, seed := range []uint64{1, 2, 3} {
		svc := NewSeq(window, seed)
		last := map[string]int{"n3": -1, "n4": -1}
		stale := 0
		for i := range 500 {
			writer := []string{"n1", "n2"}[i%2]
			write(t, svc, writer, "x", i)
			if got := readInt(t, svc, writer); got != i {
				t.Fatalf("seed %d: %s wrote %d, then read %d: not its own write", seed, writer, i, got)
			}
			last[writer] = i
			for _, c := range []string{"n3", "n4"} {
				got := readInt(t, svc, c)
				if got < last[c] {
					t.Fatalf("seed %d: %s read %d after %d: went back", seed, c, got, last[c])
				}
				if got <= i-window {
					t.Fatalf("seed %d: %s read %d after write %d: older than the window of %d", seed, c, got, i, window)
				}
				if got < i {
					stale++
				}
				last[c] = got
			}
		}
		if stale < 100 {
			t.Errorf("seed %d: %d of 1000 reads stale; seq-kv should often lag", seed, stale)
		}
	}
}

// TestSeqSyncByWrite: a write of a fresh value moves the caller to the
// head, so its reads after it see every write completed before, the way
// Gossip Glomers nodes read seq-kv fresh.
func TestSeqSyncByWrite(t *testing.T) {
	svc := NewSeq(DefaultSeqWindow, 7)
	for i := range 200 {
		write(t, svc, "n1", "x", i)
		write(t, svc, "n2", "sync-n2", i)
		if got := readInt(t, svc, "n2"); got != i {
			t.Fatalf("n2 synced after write %d, read %d", i, got)
		}
	}
}

// TestSeqUpdatesAtHead: a cas that would change the state applies to the
// newest state even when the caller's reads lag, so a caller retrying a
// cas from what it read converges, and a counter kept by cas loses no
// increment.
func TestSeqUpdatesAtHead(t *testing.T) {
	svc := NewSeq(DefaultSeqWindow, 3)
	write(t, svc, "n1", "x", 0)
	callers := []string{"n1", "n2", "n3"}
	for i := range 300 {
		c := callers[i%3]
		for tries := 0; ; tries++ {
			v := readInt(t, svc, c)
			r := call(t, svc, c, fmt.Sprintf(`{"type":"cas","key":"x","from":%d,"to":%d}`, v, v+1))
			if r["type"] == "cas_ok" {
				break
			}
			if tries > 100 {
				t.Fatalf("%s: cas never succeeded: %v", c, r)
			}
		}
	}
	write(t, svc, "n9", "sync", 1)
	if got := readInt(t, svc, "n9"); got != 300 {
		t.Fatalf("counter by cas: %d, want 300", got)
	}
}

// TestLWWStaleThenConverges: lww-kv reads may be stale and may go back
// for one caller; once writes stop, its replicas agree on the last write.
func TestLWWStaleThenConverges(t *testing.T) {
	svc := NewLWW(DefaultLWWReplicas, 5)
	last, stale, back := -1, 0, 0
	for i := range 400 {
		write(t, svc, "n1", "x", i)
		got := readInt(t, svc, "n2")
		if got < i {
			stale++
		}
		if got < last {
			back++
		}
		last = got
	}
	if stale == 0 || back == 0 {
		t.Errorf("lww-kv: %d stale reads, %d that went back, of 400; want both", stale, back)
	}
	var got int
	for range 100 {
		got = readInt(t, svc, "n2")
	}
	for range 50 {
		if again := readInt(t, svc, "n3"); again != got {
			t.Fatalf("lww-kv did not converge: read %d then %d", got, again)
		}
	}
}

// TestTSO: lin-tso's timestamps count up from 0.
func TestTSO(t *testing.T) {
	svc := &TSO{}
	for want := range 5 {
		r := call(t, svc, "n1", `{"type":"ts"}`)
		if r["type"] != "ts_ok" || r["ts"] != float64(want) {
			t.Fatalf("ts %d: %v", want, r)
		}
	}
	if got := describe(call(t, svc, "n1", `{"type":"read","key":1}`)); got != "error 10" {
		t.Fatalf("read on lin-tso: %s", got)
	}
}

// TestLWWConcurrentWritersConverge: writes on different replicas may get
// equal Lamport stamps; replicas still agree once writes stop.
func TestLWWConcurrentWritersConverge(t *testing.T) {
	for seed := range uint64(20) {
		svc := NewLWW(DefaultLWWReplicas, seed)
		for i := range 50 {
			write(t, svc, "n1", "x", i)
			write(t, svc, "n2", "x", 1000+i)
		}
		for range 100 {
			readInt(t, svc, "n3")
		}
		got := readInt(t, svc, "n3")
		for range 50 {
			if again := readInt(t, svc, "n3"); again != got {
				t.Fatalf("seed %d: lww-kv did not converge: read %d then %d", seed, got, again)
			}
		}
	}
}
