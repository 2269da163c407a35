package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// member is one in-process node of a test cluster.
type member struct {
	cfg     config
	addr    string
	n       *node
	srv     *http.Server
	cancel  context.CancelFunc
	blocked atomic.Bool // refuse replication into this node, as a partition would
}

// cluster starts three nodes on 127.0.0.1 in mode; n1 is the primary.
func cluster(t *testing.T, mode string) map[string]*member {
	t.Helper()
	var peers []peer
	lns := map[string]net.Listener{}
	for _, name := range []string{"n1", "n2", "n3"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[name] = ln
		peers = append(peers, peer{name, ln.Addr().String()})
	}
	ms := map[string]*member{}
	for _, p := range peers {
		m := &member{cfg: config{name: p.name, peers: peers, data: t.TempDir(), mode: mode}, addr: p.addr}
		m.start(t, lns[p.name])
		ms[p.name] = m
	}
	t.Cleanup(func() {
		for _, m := range ms {
			m.stop()
		}
	})
	return ms
}

func (m *member) start(t *testing.T, ln net.Listener) {
	t.Helper()
	n, err := newNode(m.cfg, log.New(io.Discard, "", 0))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.replicate(ctx)
	h := n.handler()
	m.n, m.cancel = n, cancel
	m.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m.blocked.Load() && r.URL.Path == "/internal/replicate" {
			http.Error(w, "blocked", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	})}
	go m.srv.Serve(ln)
}

// stop ends the node at once, as SIGKILL would: nothing is flushed that
// was not already fsynced.
func (m *member) stop() {
	if m.srv == nil {
		return
	}
	m.srv.Close()
	m.cancel()
	m.n.close()
	m.srv = nil
}

// call sends an http-json request and returns the status and decoded reply.
func call(t *testing.T, m *member, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "http://"+m.addr+path, rd)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s on %s: %v", method, path, m.cfg.name, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func mustOK(t *testing.T, m *member, method, path string, body any) map[string]any {
	t.Helper()
	code, out := call(t, m, method, path, body)
	if code != 200 {
		t.Fatalf("%s %s on %s: status %d %v", method, path, m.cfg.name, code, out)
	}
	return out
}

// local reads a node's own copy of a register, bypassing forwarding.
func local(m *member, key string) (int64, bool) {
	m.n.mu.Lock()
	defer m.n.mu.Unlock()
	v, ok := m.n.st.regs[key]
	return v, ok
}

func TestReplication(t *testing.T) {
	for _, mode := range []string{"safe", "unsafe"} {
		t.Run(mode, func(t *testing.T) {
			ms := cluster(t, mode)
			mustOK(t, ms["n2"], "PUT", "/kv/a", map[string]any{"value": 5})
			mustOK(t, ms["n1"], "POST", "/counter/c", map[string]any{"delta": 2})
			mustOK(t, ms["n3"], "POST", "/set/s", map[string]any{"element": 9})
			deadline := time.Now().Add(5 * time.Second)
			for _, m := range ms {
				for {
					m.n.mu.Lock()
					a, ok := m.n.st.regs["a"]
					c, s := m.n.st.counters["c"], m.n.st.sets["s"]
					m.n.mu.Unlock()
					if ok && a == 5 && c == 2 && len(s) == 1 && s[0] == 9 {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("%s did not get the writes: a=%d(%v) c=%d s=%v", m.cfg.name, a, ok, c, s)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
}

// TestUnsafeStaleRead: with replication into n2 cut, a write on n1 is
// acknowledged and never seen by a read on n2, not even after the cut
// heals (fire and forget).
func TestUnsafeStaleRead(t *testing.T) {
	ms := cluster(t, "unsafe")
	ms["n2"].blocked.Store(true)
	mustOK(t, ms["n1"], "PUT", "/kv/k", map[string]any{"value": 1})
	time.Sleep(3 * replLag)
	if out := mustOK(t, ms["n1"], "GET", "/kv/k", nil); out["value"] != float64(1) {
		t.Fatalf("read on n1: %v, want value 1", out)
	}
	if out := mustOK(t, ms["n2"], "GET", "/kv/k", nil); out["found"] != false {
		t.Fatalf("read on n2 with replication cut: %v, want found=false (a stale read)", out)
	}
	ms["n2"].blocked.Store(false)
	time.Sleep(3 * replLag)
	if out := mustOK(t, ms["n2"], "GET", "/kv/k", nil); out["found"] != false {
		t.Fatalf("read on n2 after the cut healed: %v, want found=false (the change was lost)", out)
	}
	if v, ok := local(ms["n3"], "k"); !ok || v != 1 {
		t.Fatalf("n3, never cut, has %d (%v), want 1", v, ok)
	}
}

// TestSafeRestart: safe mode forwards to the primary, refuses (503) while
// the primary is down, and the primary restarted on its data dir serves
// every acknowledged write.
func TestSafeRestart(t *testing.T) {
	ms := cluster(t, "safe")
	mustOK(t, ms["n2"], "PUT", "/kv/k", map[string]any{"value": 7})
	if code, _ := call(t, ms["n3"], "POST", "/kv/k/cas", map[string]any{"old": 6, "new": 8}); code != http.StatusConflict {
		t.Fatalf("cas on a differing value: status %d, want 409", code)
	}
	mustOK(t, ms["n3"], "POST", "/kv/k/cas", map[string]any{"old": 7, "new": 8})
	mustOK(t, ms["n2"], "POST", "/counter/c", map[string]any{"delta": 3})
	mustOK(t, ms["n2"], "POST", "/set/s", map[string]any{"element": 4})
	if out := mustOK(t, ms["n3"], "GET", "/primary", nil); out["primary"] != "n1" {
		t.Fatalf("GET /primary: %v", out)
	}

	p := ms["n1"]
	p.stop()
	if code, out := call(t, ms["n2"], "GET", "/kv/k", nil); code != http.StatusServiceUnavailable {
		t.Fatalf("read via n2 with the primary down: status %d %v, want 503", code, out)
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.start(t, ln)
	for _, m := range ms {
		if out := mustOK(t, m, "GET", "/kv/k", nil); out["value"] != float64(8) {
			t.Errorf("read via %s after the restart: %v, want 8", m.cfg.name, out)
		}
		if out := mustOK(t, m, "GET", "/counter/c", nil); out["value"] != float64(3) {
			t.Errorf("counter via %s after the restart: %v, want 3", m.cfg.name, out)
		}
		if out := mustOK(t, m, "GET", "/set/s", nil); len(out["elements"].([]any)) != 1 {
			t.Errorf("set via %s after the restart: %v, want [4]", m.cfg.name, out)
		}
	}
	if code, out := call(t, ms["n1"], "GET", "/kv/never", nil); code != 200 || out["found"] != false {
		t.Errorf("read of a never-written key: %d %v, want 200 found=false", code, out)
	}
}

// TestTornLog: a last line cut short by a crash is dropped at replay and
// the log stays appendable.
func TestTornLog(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "log.jsonl")
	if err := os.WriteFile(path, []byte(`{"kind":"put","key":"a","value":1}`+"\n"+`{"kind":"put","ke`), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := openStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.commit(change{"incr", "c", 2}); err != nil {
		t.Fatal(err)
	}
	s.close()
	s, err = openStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if s.regs["a"] != 1 || len(s.regs) != 1 || s.counters["c"] != 2 {
		t.Fatalf("after replay: regs %v counters %v", s.regs, s.counters)
	}
}

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		name, peers, mode, err string
	}{
		{"n2", "n1=10.0.0.2:8080,n2=10.0.0.3:8080", "safe", ""},
		{"n1", "n1=a:1", "unsafe", ""},
		{"n4", "n1=a:1,n2=b:1", "safe", "not in --peers"},
		{"n1", "n1", "safe", "not name=host:port"},
		{"n1", "n1=a:1", "fast", "want safe or unsafe"},
	} {
		cfg, err := parseConfig(tc.name, tc.peers, "/tmp/x", tc.mode)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%+v: %v", tc, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%+v: got %v, want %q", tc, err, tc.err)
		case err == nil && cfg.peers[0].name != "n1":
			t.Errorf("%+v: primary %s, want n1", tc, cfg.peers[0].name)
		}
	}
}

// TestForwardOutcome: a follower's forward that reached the primary and
// then broke may have been applied: 504, never 503.
func TestForwardOutcome(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // a primary that reads the request and dies
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = conn.Read(make([]byte, 4096))
			conn.Close()
		}
	}()
	fl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &member{cfg: config{name: "n2", mode: "safe", data: t.TempDir(),
		peers: []peer{{"n1", ln.Addr().String()}, {"n2", fl.Addr().String()}}}, addr: fl.Addr().String()}
	m.start(t, fl)
	defer m.stop()
	if code, out := call(t, m, "PUT", "/kv/k", map[string]any{"value": 1}); code != http.StatusGatewayTimeout {
		t.Fatalf("write forwarded to a primary that broke the connection: %d %v, want 504", code, out)
	}
}
