package httpjson

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/workloads"
)

// faulty wraps a handler with one injected behaviour at a time and counts
// the requests that reach it while the behaviour is set.
type faulty struct {
	next     http.Handler
	behave   atomic.Value // string
	requests atomic.Int64
}

func (f *faulty) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := f.behave.Load().(string)
	if b == "" {
		f.next.ServeHTTP(w, r)
		return
	}
	f.requests.Add(1)
	switch b {
	case "ok":
		f.next.ServeHTTP(w, r)
	case "garbage":
		w.WriteHeader(200)
		_, _ = w.Write([]byte("not json{"))
	case "hangup":
		// The request arrived; the connection breaks before any reply.
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	case "slow":
		// Slower than the client's deadline. With the body read, the
		// server notices the client hanging up.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	case "307":
		http.Redirect(w, r, "/health", http.StatusTemporaryRedirect)
	default: // a status code
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(map[string]int{"409": 409, "503": 503, "500": 500, "504": 504, "404": 404}[b])
		_, _ = w.Write([]byte(`{"error":"injected ` + b + `"}`))
	}
}

// start serves a fresh reference server behind faulty under prefix.
func start(t *testing.T, prefix string) (*refServer, *faulty, string) {
	t.Helper()
	ref := newRefServer()
	var h http.Handler = ref.mux()
	if prefix != "" {
		h = http.StripPrefix(prefix, h)
	}
	f := &faulty{next: h}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return ref, f, strings.TrimPrefix(srv.URL, "http://")
}

func mustDial(t *testing.T, addr string, opts map[string]string) *Client {
	t.Helper()
	c, err := dial(context.Background(), addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedAddr is an address where nothing listens: connection refused.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// opCase is one op of one workload, with what must be true before it.
type opCase struct {
	name     string
	w        workloads.Workload
	op       history.Op
	setup    func(ctx context.Context, ref *refServer, c *Client) error
	readOnly bool // a read: never info
	parses   bool // its 2xx reply is decoded, so a garbled one is unknown
}

func opCases() []opCase {
	k := func(f string, key string, v any) history.Op {
		return history.Op{Type: history.Invoke, Process: 0, F: f, Key: key, Value: v}
	}
	withK3 := func(_ context.Context, ref *refServer, _ *Client) error { ref.kv["k"] = 3; return nil }
	accounts := func(_ context.Context, ref *refServer, _ *Client) error {
		ref.accounts["a"], ref.accounts["b"] = 10, 0
		return nil
	}
	return []opCase{
		{name: "register read", w: workloads.Register{}, op: k("read", "k", nil), setup: withK3, readOnly: true, parses: true},
		{name: "register write", w: workloads.Register{}, op: k("write", "k", int64(7))},
		{name: "register cas", w: workloads.Register{}, op: k("cas", "k", []int64{3, 4}), setup: withK3},
		{name: "set add", w: workloads.Set{}, op: k("add", "s", int64(1))},
		{name: "set read", w: workloads.Set{}, op: k("read", "s", nil), readOnly: true, parses: true},
		{name: "counter add", w: workloads.Counter{}, op: k("add", "c", int64(2))},
		{name: "counter read", w: workloads.Counter{}, op: k("read", "c", nil), readOnly: true, parses: true},
		{name: "bank transfer", w: workloads.Bank{}, op: k("transfer", "", map[string]any{"from": "a", "to": "b", "amount": int64(3)}), setup: accounts},
		{name: "bank read", w: workloads.Bank{}, op: k("read", "", nil), setup: accounts, readOnly: true, parses: true},
		{name: "txn append+read", w: workloads.ListAppend{}, op: k(workloads.TxnF, "", []any{[]any{"append", int64(1), int64(5)}, []any{"r", int64(1), nil}}), parses: true},
		{name: "txn read-only", w: workloads.ListAppend{}, op: k(workloads.TxnF, "", []any{[]any{"r", int64(2), nil}}), readOnly: true, parses: true},
		{name: "queue enqueue", w: workloads.Queue{}, op: k("enqueue", "s0", int64(1))},
		{name: "queue dequeue", w: workloads.Queue{}, op: k("dequeue", "", int64(4)), parses: true,
			setup: func(ctx context.Context, _ *refServer, c *Client) error { return c.Enqueue(ctx, "s0", 9) }},
		{name: "queue ack", w: workloads.Queue{}, op: k("ack", "", []int64{9}),
			setup: func(ctx context.Context, _ *refServer, c *Client) error {
				if err := c.Enqueue(ctx, "s0", 9); err != nil {
					return err
				}
				_, err := c.Dequeue(ctx, 4)
				return err
			}},
		{name: "queue drain", w: workloads.Queue{}, op: k("drain", "", nil), parses: true},
		{name: "kafka send", w: workloads.Kafka{}, op: k("send", "k0", int64(1)), parses: true},
		{name: "kafka poll", w: workloads.Kafka{}, op: k("poll", "", map[string]any{"k0": int64(0)}), readOnly: true, parses: true,
			setup: func(ctx context.Context, _ *refServer, c *Client) error { _, err := c.Send(ctx, "k0", 9); return err }},
		{name: "kafka commit", w: workloads.Kafka{}, op: k("commit-offsets", "", map[string]any{"k0": int64(0)})},
		{name: "kafka list committed", w: workloads.Kafka{}, op: k("list-committed-offsets", "", []any{"k0"}), readOnly: true, parses: true},
		{name: "lock acquire", w: workloads.Lock{}, op: k("acquire", "l", "0.1"), parses: true},
		{name: "lock release", w: workloads.Lock{}, op: k("release", "l", "0.1"),
			setup: func(ctx context.Context, _ *refServer, c *Client) error {
				_, _, err := c.Acquire(ctx, "l", 5*time.Second)
				return err
			}},
	}
}

// TestClassification runs every op of every workload through its
// workload's Invoke under every status and transport behaviour, and checks
// the history type: the protocol's classification table.
func TestClassification(t *testing.T) {
	type want struct {
		typ      history.Type
		answered bool
	}
	unknown := func(c opCase) want {
		if c.readOnly {
			return want{history.Fail, false}
		}
		return want{history.Info, false}
	}
	behaviours := []struct {
		name string
		want func(opCase) want
		sent int64 // requests the server must see: never a retry
	}{
		{"ok", func(opCase) want { return want{history.OK, false} }, 1},
		{"409", func(opCase) want { return want{history.Fail, true} }, 1},
		{"503", func(opCase) want { return want{history.Fail, false} }, 1},
		{"500", unknown, 1},
		{"504", unknown, 1},
		{"404", unknown, 1},
		{"307", unknown, 1},
		{"hangup", unknown, 1},
		{"slow", unknown, 1},
		{"garbage", func(c opCase) want {
			if c.parses {
				return unknown(c)
			}
			return want{history.OK, false}
		}, 1},
		{"refused", func(opCase) want { return want{history.Fail, false} }, 0},
		{"canceled", func(opCase) want { return want{history.Fail, false} }, 0},
	}
	for _, oc := range opCases() {
		for _, b := range behaviours {
			t.Run(oc.name+"/"+b.name, func(t *testing.T) {
				ref, f, addr := start(t, "")
				c := mustDial(t, addr, nil)
				ctx := context.Background()
				if oc.setup != nil {
					if err := oc.setup(ctx, ref, c); err != nil {
						t.Fatalf("setup: %v", err)
					}
				}
				f.behave.Store(b.name)
				switch b.name {
				case "refused":
					c.base = "http://" + closedAddr(t)
				case "canceled":
					cctx, cancel := context.WithCancel(ctx)
					cancel()
					ctx = cctx
				case "slow":
					cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
					defer cancel()
					ctx = cctx
				}
				got := oc.w.Invoke(ctx, c, oc.op)
				w := b.want(oc)
				if got.Type != w.typ || got.Answered != w.answered {
					t.Errorf("got %s answered=%v (error %q), want %s answered=%v", got.Type, got.Answered, got.Error, w.typ, w.answered)
				}
				if n := f.requests.Load(); n != b.sent {
					t.Errorf("server saw %d requests, want %d", n, b.sent)
				}
			})
		}
	}
}

// TestInvokeValues drives each workload's Invoke through the client
// against the reference server and checks the completions' values.
func TestInvokeValues(t *testing.T) {
	_, _, addr := start(t, "/api")
	c := mustDial(t, addr, map[string]string{"prefix": "/api/", "timeout": "2s"})
	other := mustDial(t, addr, map[string]string{"prefix": "/api"})
	ctx := context.Background()
	op := func(f, key string, v any) history.Op {
		return history.Op{Type: history.Invoke, F: f, Key: key, Value: v}
	}
	steps := []struct {
		w        workloads.Workload
		c        *Client
		op       history.Op
		typ      history.Type
		answered bool
		value    any
	}{
		{workloads.Register{}, c, op("read", "x/y", nil), history.OK, false, nil},
		{workloads.Register{}, c, op("write", "x/y", int64(1)), history.OK, false, int64(1)},
		{workloads.Register{}, other, op("read", "x/y", nil), history.OK, false, int64(1)},
		{workloads.Register{}, c, op("cas", "x/y", []int64{2, 3}), history.Fail, true, []int64{2, 3}},
		{workloads.Register{}, c, op("cas", "x/y", []int64{1, 3}), history.OK, false, []int64{1, 3}},
		{workloads.Register{}, other, op("read", "x/y", nil), history.OK, false, int64(3)},
		{workloads.Set{}, c, op("read", "s", nil), history.OK, false, []any{}},
		{workloads.Set{}, c, op("add", "s", int64(2)), history.OK, false, int64(2)},
		{workloads.Set{}, other, op("add", "s", int64(1)), history.OK, false, int64(1)},
		{workloads.Set{}, c, op("read", "s", nil), history.OK, false, []any{int64(1), int64(2)}},
		{workloads.Counter{}, c, op("read", "c", nil), history.OK, false, int64(0)},
		{workloads.Counter{}, c, op("add", "c", int64(5)), history.OK, false, int64(5)},
		{workloads.Counter{}, other, op("read", "c", nil), history.OK, false, int64(5)},
		{workloads.ListAppend{}, c, op(workloads.TxnF, "", []any{[]any{"r", int64(1), nil}, []any{"append", int64(1), int64(4)}, []any{"r", int64(1), nil}}),
			history.OK, false, []any{[]any{"r", int64(1), nil}, []any{"append", int64(1), int64(4)}, []any{"r", int64(1), []any{int64(4)}}}},
		{workloads.RWRegister{}, c, op(workloads.TxnF, "", []any{[]any{"r", int64(1), nil}, []any{"w", int64(1), int64(4)}}),
			history.OK, false, []any{[]any{"r", int64(1), nil}, []any{"w", int64(1), int64(4)}}},
		{workloads.RWRegister{}, other, op(workloads.TxnF, "", []any{[]any{"r", int64(1), nil}}),
			history.OK, false, []any{[]any{"r", int64(1), int64(4)}}},
		{workloads.EventualCounter{Decrements: true}, c, op("add", "c", int64(-2)), history.OK, false, int64(-2)},
		{workloads.Queue{}, c, op("enqueue", "s1", int64(1)), history.OK, false, int64(1)},
		{workloads.Queue{}, c, op("enqueue", "s2", int64(2)), history.OK, false, int64(2)},
		{workloads.Queue{}, c, op("dequeue", "", int64(1)), history.OK, false, []int64{1}},
		{workloads.Queue{}, c, op("ack", "", []int64{1}), history.OK, false, []int64{1}},
		{workloads.Queue{}, other, op("dequeue", "", int64(4)), history.OK, false, []int64{2}},
		{workloads.Queue{}, c, op("ack", "", []int64{2}), history.Fail, true, []int64{2}}, // delivered to other
		{workloads.Queue{}, c, op("drain", "", nil), history.OK, false, []int64{2}},
		{workloads.Queue{}, c, op("dequeue", "", int64(4)), history.OK, false, []int64{}},
		{workloads.Kafka{}, c, op("send", "k0", int64(7)), history.OK, false, []any{int64(0), int64(7)}},
		{workloads.Kafka{}, other, op("send", "k0", int64(8)), history.OK, false, []any{int64(1), int64(8)}},
		{workloads.Kafka{}, c, op("poll", "", map[string]any{"k0": int64(1), "k1": int64(0)}), history.OK, false, map[string]any{"k0": []any{[]any{int64(1), int64(8)}}}},
		{workloads.Kafka{}, c, op("final-poll", "k0", map[string]any{"k0": int64(0)}), history.OK, false, map[string]any{"k0": []any{[]any{int64(0), int64(7)}, []any{int64(1), int64(8)}}}},
		{workloads.Kafka{}, c, op("commit-offsets", "", map[string]any{"k0": int64(1)}), history.OK, false, map[string]any{"k0": int64(1)}},
		{workloads.Kafka{}, other, op("list-committed-offsets", "", []any{"k0", "k1"}), history.OK, false, map[string]any{"k0": int64(1)}},
		{workloads.Lock{}, c, op("acquire", "l", "0.1"), history.OK, false, map[string]any{"owner": "0.1", "token": int64(1)}},
		{workloads.Lock{}, other, op("acquire", "l", "1.2"), history.Fail, true, "1.2"},
		{workloads.Lock{}, c, op("release", "l", "0.1"), history.OK, false, "0.1"},
		{workloads.Lock{}, c, op("release", "l", "0.1"), history.Fail, true, "0.1"},
		{workloads.Lock{}, other, op("acquire", "l", "1.3"), history.OK, false, map[string]any{"owner": "1.3", "token": int64(2)}},
		{workloads.Lock{}, c, op("release", "never", "0.9"), history.Fail, true, "0.9"}, // never acquired by c
		{workloads.Echo{}, c, op("echo", "", "Please echo \"é\""), history.OK, false, "Please echo \"é\""},
		{workloads.UniqueIDs{}, c, op("generate", "", nil), history.OK, false, json.Number("1")},
		{workloads.UniqueIDs{}, other, op("generate", "", nil), history.OK, false, json.Number("2")},
	}
	for i, s := range steps {
		got := s.w.Invoke(ctx, s.c, s.op)
		if got.Type != s.typ || got.Answered != s.answered || !reflect.DeepEqual(got.Value, s.value) {
			t.Errorf("step %d %s %s %q: got %s answered=%v value %#v (error %q), want %s answered=%v value %#v",
				i, s.w.Name(), s.op.F, s.op.Key, got.Type, got.Answered, got.Value, got.Error, s.typ, s.answered, s.value)
		}
	}
	// Bank: Prepare's accounts, a refused overdraft, a transfer, a read.
	bank := workloads.Bank{}
	if err := c.CreateAccounts(ctx, map[string]int64{"a": 10, "b": 0}); err != nil {
		t.Fatal(err)
	}
	if got := bank.Invoke(ctx, c, op("transfer", "", map[string]any{"from": "b", "to": "a", "amount": int64(1)})); got.Type != history.Fail || !got.Answered {
		t.Errorf("overdraft: got %s answered=%v, want an answered fail", got.Type, got.Answered)
	}
	if got := bank.Invoke(ctx, c, op("transfer", "", map[string]any{"from": "a", "to": "b", "amount": int64(4)})); got.Type != history.OK {
		t.Errorf("transfer: got %s (%s), want ok", got.Type, got.Error)
	}
	got := bank.Invoke(ctx, other, op("read", "", nil))
	if want := map[string]any{"a": int64(6), "b": int64(4)}; got.Type != history.OK || !reflect.DeepEqual(got.Value, want) {
		t.Errorf("bank read: got %s %#v, want ok %#v", got.Type, got.Value, want)
	}
	if p, err := Primary(ctx, addr, map[string]string{"prefix": "/api"}); err != nil || p != "n1" {
		t.Errorf("Primary = %q, %v; want n1", p, err)
	}
	if err := Health(ctx, addr, map[string]string{"prefix": "/api"}); err != nil {
		t.Errorf("Health: %v", err)
	}
}

func TestDialOptions(t *testing.T) {
	for _, tc := range []struct {
		addr string
		opts map[string]string
		err  string // "" for success
	}{
		{"127.0.0.1:8080", nil, ""},
		{"n1:8080", map[string]string{"prefix": "/v1", "timeout": "1s"}, ""},
		{"127.0.0.1:8080", map[string]string{"path": "/v1"}, `unknown option "path"`},
		{"127.0.0.1:8080", map[string]string{"prefix": "v1"}, "must start with /"},
		{"127.0.0.1:8080", map[string]string{"timeout": "-1s"}, "not a positive duration"},
		{"127.0.0.1:8080", map[string]string{"timeout": "soon"}, "not a positive duration"},
		{"127.0.0.1", nil, "address"},
	} {
		_, err := Dial(context.Background(), tc.addr, tc.opts)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("Dial(%q, %v): %v", tc.addr, tc.opts, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("Dial(%q, %v) = %v, want an error with %q", tc.addr, tc.opts, err, tc.err)
		case err != nil && strings.Contains(err.Error(), "\n"):
			t.Errorf("Dial error is not one line: %q", err)
		}
	}
}

func TestServesEveryWorkload(t *testing.T) {
	cat := workloads.Default()
	if len(DialWorkloads()) != len(cat) {
		t.Errorf("serves %v, faultline has %v", DialWorkloads(), cat.Names())
	}
	c, err := Dial(context.Background(), "127.0.0.1:8080", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, name := range DialWorkloads() {
		w, err := cat.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.CheckClient(c); err != nil {
			t.Errorf("workload %s: %v", name, err)
		}
	}
	for k := range DialOptions() {
		if _, err := Dial(context.Background(), "127.0.0.1:8080", map[string]string{k: map[string]string{"prefix": "/x", "timeout": "1s"}[k]}); err != nil {
			t.Errorf("documented option %s refused: %v", k, err)
		}
	}
}

// TestKilledServerIsDefinite: once the server is dead, writes are refused
// before anything is sent, and the client says so (fail). The first write
// may still go out on the pooled connection before the client learns it
// broke: the client cannot know whether that one arrived, so it may be
// info.
func TestKilledServerIsDefinite(t *testing.T) {
	srv := httptest.NewServer(newRefServer().mux())
	c := mustDial(t, strings.TrimPrefix(srv.URL, "http://"), nil)
	ctx := context.Background()
	op := history.Op{Type: history.Invoke, F: "write", Key: "k", Value: int64(1)}
	if got := (workloads.Register{}).Invoke(ctx, c, op); got.Type != history.OK {
		t.Fatalf("write before the kill: %s (%s)", got.Type, got.Error)
	}
	srv.Close()
	(workloads.Register{}).Invoke(ctx, c, op)
	for i := range 3 {
		if got := (workloads.Register{}).Invoke(ctx, c, op); got.Type != history.Fail {
			t.Fatalf("write %d after the kill: %s (%s), want fail", i, got.Type, got.Error)
		}
	}
}

// TestRedialRefusedIsDefinite: a GET on a pooled connection the dead
// server closed is tried again by the transport on a new connection; when
// that one is refused, nothing reached a server, and the error says so,
// although a connection was obtained first.
func TestRedialRefusedIsDefinite(t *testing.T) {
	srv := httptest.NewServer(newRefServer().mux())
	c := mustDial(t, strings.TrimPrefix(srv.URL, "http://"), nil)
	ctx := context.Background()
	if err := c.Health(ctx); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	for i := range 3 {
		if err := c.Health(ctx); !workloads.IsDefinite(err) {
			t.Fatalf("GET %d after the kill: %v, want a definite error", i, err)
		}
	}
}
