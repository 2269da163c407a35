package node

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"
)

// harness runs a node over pipes and lets a test play every other party.
type harness struct {
	t   *testing.T
	in  *io.PipeWriter
	out chan Message
	n   *Node
}

func start(t *testing.T, setup func(n *Node)) *harness {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	n := New(inR, outW, io.Discard)
	setup(n)
	h := &harness{t: t, in: inW, out: make(chan Message, 100), n: n}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx); _ = outW.Close() }()
	go func() {
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			var m Message
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Errorf("node wrote a line that is not a message: %q", sc.Text())
				continue
			}
			h.out <- m
		}
	}()
	t.Cleanup(func() {
		_ = inW.Close()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Run did not return after stdin closed")
		}
		cancel()
	})
	return h
}

func (h *harness) send(src, body string) {
	h.t.Helper()
	line := fmt.Sprintf(`{"src":%q,"dest":"n2","body":%s}`+"\n", src, body)
	if _, err := h.in.Write([]byte(line)); err != nil {
		h.t.Fatalf("write: %v", err)
	}
}

func (h *harness) recv() (Message, Header) {
	h.t.Helper()
	select {
	case m := <-h.out:
		hd, err := m.Header()
		if err != nil {
			h.t.Fatal(err)
		}
		return m, hd
	case <-time.After(5 * time.Second):
		h.t.Fatal("no message from the node")
	}
	return Message{}, Header{}
}

func (h *harness) init() {
	h.t.Helper()
	h.send("c0", `{"type":"init","msg_id":1,"node_id":"n2","node_ids":["n1","n2","n3"]}`)
	m, hd := h.recv()
	if hd.Type != "init_ok" || hd.InReplyTo == nil || *hd.InReplyTo != 1 || m.Src != "n2" || m.Dest != "c0" {
		h.t.Fatalf("init answer: %+v %s", m, m.Body)
	}
}

func TestInitAndReply(t *testing.T) {
	h := start(t, func(n *Node) {
		n.Handle("ping", func(ctx context.Context, req Message) error {
			return n.Reply(req, map[string]any{"type": "pong", "peers": n.Peers()})
		})
	})
	h.init()
	if got := h.n.ID(); got != "n2" {
		t.Errorf("ID = %q", got)
	}
	ids := map[int64]bool{}
	for i := int64(7); i < 10; i++ {
		h.send("c1", fmt.Sprintf(`{"type":"ping","msg_id":%d}`, i))
		m, hd := h.recv()
		var body struct {
			Peers []string `json:"peers"`
		}
		if err := m.Decode(&body); err != nil {
			t.Fatal(err)
		}
		if hd.Type != "pong" || *hd.InReplyTo != i || m.Dest != "c1" || fmt.Sprint(body.Peers) != "[n1 n3]" {
			t.Errorf("answer to %d: %s", i, m.Body)
		}
		if hd.MsgID == nil || ids[*hd.MsgID] {
			t.Errorf("msg_id missing or reused: %s", m.Body)
		} else {
			ids[*hd.MsgID] = true
		}
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name     string
		init     bool
		handler  Handler
		request  string
		wantCode int
	}{
		{"before init", false, nil, `{"type":"ping","msg_id":5}`, CodeTemporarilyUnavailable},
		{"unknown type", true, nil, `{"type":"frob","msg_id":5}`, CodeNotSupported},
		{"handler rpc error", true, func(ctx context.Context, req Message) error {
			return Errorf(CodePreconditionFailed, "no")
		}, `{"type":"ping","msg_id":5}`, CodePreconditionFailed},
		{"handler plain error", true, func(ctx context.Context, req Message) error {
			return errors.New("boom")
		}, `{"type":"ping","msg_id":5}`, CodeCrash},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t, func(n *Node) {
				if tt.handler != nil {
					n.Handle("ping", tt.handler)
				}
			})
			if tt.init {
				h.init()
			}
			h.in.Write([]byte("this is not json\n\n"))
			h.send("c1", tt.request)
			m, hd := h.recv()
			if hd.Type != "error" || hd.Code == nil || *hd.Code != tt.wantCode || *hd.InReplyTo != 5 {
				t.Errorf("got %s, want error %d in reply to 5", m.Body, tt.wantCode)
			}
		})
	}
}

func TestRPC(t *testing.T) {
	h := start(t, func(n *Node) {
		n.Handle("ask", func(ctx context.Context, req Message) error {
			ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			defer cancel()
			reply, err := n.RPC(ctx, "n1", map[string]any{"type": "q"})
			if errors.Is(err, context.DeadlineExceeded) {
				return Errorf(CodeTimeout, "n1 silent")
			}
			if err != nil {
				return err
			}
			var body struct {
				V int `json:"v"`
			}
			if err := reply.Decode(&body); err != nil {
				return err
			}
			return n.Reply(req, map[string]any{"type": "ask_ok", "v": body.V})
		})
	})
	h.init()

	// n1 answers: the reply reaches the waiting handler by in_reply_to.
	h.send("c1", `{"type":"ask","msg_id":3}`)
	q, qh := h.recv()
	if qh.Type != "q" || q.Dest != "n1" || q.Src != "n2" || qh.MsgID == nil {
		t.Fatalf("rpc request: %+v %s", q, q.Body)
	}
	h.send("n1", `{"type":"q_ok","v":42,"in_reply_to":99999}`) // nobody waits: dropped
	// Right id, wrong sender (a late reply to another node's RPC): dropped.
	h.send("n3", fmt.Sprintf(`{"type":"q_ok","v":13,"in_reply_to":%d}`, *qh.MsgID))
	h.send("n1", fmt.Sprintf(`{"type":"q_ok","v":42,"in_reply_to":%d}`, *qh.MsgID))
	m, hd := h.recv()
	if hd.Type != "ask_ok" || *hd.InReplyTo != 3 || string(m.Body) == "" {
		t.Fatalf("answer: %s", m.Body)
	}
	var body struct{ V int }
	_ = m.Decode(&body)
	if body.V != 42 {
		t.Errorf("v = %d, want 42", body.V)
	}

	// n1 is silent: the RPC times out and the late reply is dropped.
	h.send("c1", `{"type":"ask","msg_id":4}`)
	_, qh = h.recv()
	m, hd = h.recv()
	if hd.Type != "error" || *hd.Code != CodeTimeout || *hd.InReplyTo != 4 {
		t.Fatalf("answer after timeout: %s", m.Body)
	}
	h.send("n1", fmt.Sprintf(`{"type":"q_ok","v":1,"in_reply_to":%d}`, *qh.MsgID))
	select {
	case m := <-h.out:
		t.Errorf("late reply produced output: %s", m.Body)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestDefinite(t *testing.T) {
	for code, want := range map[int]bool{
		CodeTimeout: false, CodeCrash: false, 9999: false,
		CodeTemporarilyUnavailable: true, CodeKeyDoesNotExist: true, CodePreconditionFailed: true, CodeNotSupported: true,
	} {
		if got := Definite(code); got != want {
			t.Errorf("Definite(%d) = %v, want %v", code, got, want)
		}
	}
}
