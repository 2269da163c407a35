// Package node is a small helper for writing nodes that speak Maelstrom's
// protocol: newline-delimited JSON messages on stdin and stdout, each with
// src, dest and body, bodies carrying type, msg_id and in_reply_to, and an
// init message that tells the node its id and the ids of all nodes.
//
// A program builds a Node, registers a Handler per body type, and calls Run.
// Handlers run in their own goroutines so that they may call other nodes
// with RPC while the reader goes on delivering replies. Logs go to stderr
// only: stdout carries nothing but protocol messages.
package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"strings"
	"sync"
	"time"
)

// Error codes defined by Maelstrom's protocol. Codes below 1000 are reserved
// for Maelstrom; a node may invent its own from 1000 on.
const (
	CodeTimeout                = 0  // indefinite: the operation may or may not have happened
	CodeNodeNotFound           = 1  // definite
	CodeNotSupported           = 10 // definite
	CodeTemporarilyUnavailable = 11 // definite: use only when the operation certainly did not happen
	CodeMalformedRequest       = 12 // definite
	CodeCrash                  = 13 // indefinite
	CodeAbort                  = 14 // definite
	CodeKeyDoesNotExist        = 20 // definite
	CodeKeyAlreadyExists       = 21 // definite
	CodePreconditionFailed     = 22 // definite
	CodeTxnConflict            = 30 // definite
)

// Definite reports whether an error code means the operation certainly did
// not take place. Unknown codes are treated as indefinite, the safe reading.
func Definite(code int) bool {
	switch code {
	case CodeNodeNotFound, CodeNotSupported, CodeTemporarilyUnavailable,
		CodeMalformedRequest, CodeAbort, CodeKeyDoesNotExist,
		CodeKeyAlreadyExists, CodePreconditionFailed, CodeTxnConflict:
		return true
	}
	return false
}

// ErrNotSent marks a send that failed before the message left this node, so
// the receiver certainly never saw it.
var ErrNotSent = errors.New("message not sent")

// Message is one protocol message. Body is kept raw so each handler decodes
// the fields its message type defines.
type Message struct {
	Src  string          `json:"src"`
	Dest string          `json:"dest"`
	Body json.RawMessage `json:"body"`
}

// Header holds the reserved body fields, plus those of error bodies.
type Header struct {
	Type      string `json:"type"`
	MsgID     *int64 `json:"msg_id,omitempty"`
	InReplyTo *int64 `json:"in_reply_to,omitempty"`
	Code      *int   `json:"code,omitempty"`
	Text      string `json:"text,omitempty"`
}

// Header decodes the reserved fields of the body.
func (m Message) Header() (Header, error) {
	var h Header
	if err := json.Unmarshal(m.Body, &h); err != nil {
		return Header{}, fmt.Errorf("decode body header from %s: %w", m.Src, err)
	}
	return h, nil
}

// Type returns the body's type, or "" if the body does not decode.
func (m Message) Type() string {
	h, _ := m.Header()
	return h.Type
}

// Decode unmarshals the body into v.
func (m Message) Decode(v any) error {
	if err := json.Unmarshal(m.Body, v); err != nil {
		return fmt.Errorf("decode %s body from %s: %w", m.Type(), m.Src, err)
	}
	return nil
}

// RPCError is an error body, received from or to be sent to another node.
// A Handler returns one to answer with that code and text.
type RPCError struct {
	Code int
	Text string
}

func (e *RPCError) Error() string {
	return fmt.Sprintf("maelstrom error %d: %s", e.Code, e.Text)
}

// Errorf builds an RPCError with a formatted text.
func Errorf(code int, format string, args ...any) *RPCError {
	return &RPCError{Code: code, Text: fmt.Sprintf(format, args...)}
}

// Handler handles one incoming message. Returning an *RPCError answers the
// request with that error; any other error answers with code 13 (crash,
// indefinite), since the handler may have done part of its work.
type Handler func(ctx context.Context, req Message) error

// waiter is an RPC waiting for its reply, which must come from dest.
type waiter struct {
	dest string
	ch   chan Message
}

// Node is one Maelstrom node. Its methods are safe for concurrent use.
type Node struct {
	in  io.Reader
	log *log.Logger

	wmu sync.Mutex // serialises whole lines on out
	out io.Writer

	mu        sync.Mutex
	id        string
	ids       []string
	nextMsgID int64
	handlers  map[string]Handler
	onInit    []func(ctx context.Context)
	waiting   map[int64]waiter
}

// New returns a node that reads messages from in, writes them to out and
// logs to logw (stderr in a real node).
func New(in io.Reader, out io.Writer, logw io.Writer) *Node {
	return &Node{
		in:       in,
		out:      out,
		log:      log.New(logw, "", log.LstdFlags|log.Lmicroseconds),
		handlers: make(map[string]Handler),
		waiting:  make(map[int64]waiter),
		// Message ids start from the clock so that a restarted node does
		// not reuse the ids of its previous life, whose late replies
		// would otherwise answer its new RPCs. Microseconds stay below
		// 2^53, exact in every JSON reader.
		nextMsgID: time.Now().UnixMicro(),
	}
}

// Handle registers h for bodies of the given type. Call it before Run.
func (n *Node) Handle(typ string, h Handler) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.handlers[typ] = h
}

// OnInit registers f to run, in its own goroutine, each time the node has
// answered an init message. ctx ends when Run returns.
func (n *Node) OnInit(f func(ctx context.Context)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.onInit = append(n.onInit, f)
}

// ID is this node's id, "" before init.
func (n *Node) ID() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.id
}

// NodeIDs is the list of all node ids from init, this one included, in the
// order init gave them.
func (n *Node) NodeIDs() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.ids...)
}

// Peers is NodeIDs without this node.
func (n *Node) Peers() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var peers []string
	for _, id := range n.ids {
		if id != n.id {
			peers = append(peers, id)
		}
	}
	return peers
}

// Logf logs to the node's log (stderr), never to stdout.
func (n *Node) Logf(format string, args ...any) {
	n.log.Printf(n.ID()+" "+format, args...)
}

// maxLine bounds one message; a broadcast read of a long run can be large.
const maxLine = 64 << 20

// Run reads messages until in ends or ctx is done, then waits for running
// handlers, whose context it cancels, and returns. Lines that are not
// messages are logged and skipped.
func (n *Node) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel() // runs before wg.Wait: handlers blocked in RPC return

	lines := make(chan []byte)
	readErr := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(n.in)
		sc.Buffer(make([]byte, 64<<10), maxLine)
		for sc.Scan() {
			line := append([]byte(nil), sc.Bytes()...)
			select {
			case lines <- line:
			case <-ctx.Done():
				return
			}
		}
		readErr <- sc.Err()
	}()

	for {
		var line []byte
		select {
		case <-ctx.Done():
			return nil
		case err := <-readErr:
			if err != nil {
				return fmt.Errorf("read stdin: %w", err)
			}
			return nil
		case line = <-lines:
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var msg Message
		if err := json.Unmarshal(line, &msg); err != nil {
			n.Logf("skipping a line that is not a message: %v", err)
			continue
		}
		h, err := msg.Header()
		if err != nil {
			n.Logf("skipping: %v", err)
			continue
		}
		if h.InReplyTo != nil {
			n.deliverReply(*h.InReplyTo, msg)
			continue
		}
		if h.Type == "init" {
			if err := n.handleInit(ctx, msg, &wg); err != nil {
				n.Logf("init: %v", err)
			}
			continue
		}
		if n.ID() == "" {
			n.replyErrorLogged(msg, &RPCError{Code: CodeTemporarilyUnavailable, Text: "node not initialised yet"})
			continue
		}
		n.mu.Lock()
		handler := n.handlers[h.Type]
		n.mu.Unlock()
		if handler == nil {
			n.replyErrorLogged(msg, Errorf(CodeNotSupported, "no handler for message type %q", h.Type))
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := handler(ctx, msg); err != nil {
				var rerr *RPCError
				if !errors.As(err, &rerr) {
					rerr = &RPCError{Code: CodeCrash, Text: err.Error()}
				}
				n.replyErrorLogged(msg, rerr)
			}
		}()
	}
}

func (n *Node) handleInit(ctx context.Context, msg Message, wg *sync.WaitGroup) error {
	var body struct {
		NodeID  string   `json:"node_id"`
		NodeIDs []string `json:"node_ids"`
	}
	if err := msg.Decode(&body); err != nil {
		return err
	}
	if body.NodeID == "" {
		return fmt.Errorf("init from %s has no node_id", msg.Src)
	}
	n.mu.Lock()
	n.id = body.NodeID
	n.ids = append([]string(nil), body.NodeIDs...)
	hooks := append([]func(context.Context){}, n.onInit...)
	n.mu.Unlock()
	n.Logf("initialised; nodes %v", body.NodeIDs)
	if err := n.Reply(msg, map[string]any{"type": "init_ok"}); err != nil {
		return err
	}
	for _, f := range hooks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(ctx)
		}()
	}
	return nil
}

func (n *Node) deliverReply(inReplyTo int64, msg Message) {
	n.mu.Lock()
	w, ok := n.waiting[inReplyTo]
	if ok && w.dest == msg.Src {
		delete(n.waiting, inReplyTo)
	}
	n.mu.Unlock()
	if !ok || w.dest != msg.Src {
		// A reply after its RPC gave up, or to a Send: nothing waits for it.
		n.Logf("dropping reply to msg %d from %s: nobody waits for it", inReplyTo, msg.Src)
		return
	}
	w.ch <- msg // buffered, one reply per id
}

func (n *Node) replyErrorLogged(req Message, e *RPCError) {
	if err := n.ReplyError(req, e); err != nil {
		n.Logf("answering %s from %s with error %d: %v", req.Type(), req.Src, e.Code, err)
	}
}

// Reply answers req with body (a struct or map that has a "type"), setting
// in_reply_to to the request's msg_id. A request without msg_id expects no
// answer, so none is sent.
func (n *Node) Reply(req Message, body any) error {
	h, err := req.Header()
	if err != nil {
		return err
	}
	if h.MsgID == nil {
		return nil
	}
	_, err = n.send(req.Src, body, map[string]any{"in_reply_to": *h.MsgID})
	return err
}

// ReplyError answers req with an error body.
func (n *Node) ReplyError(req Message, e *RPCError) error {
	return n.Reply(req, map[string]any{"type": "error", "code": e.Code, "text": e.Text})
}

// Send sends body to dest, expecting no answer.
func (n *Node) Send(dest string, body any) error {
	_, err := n.send(dest, body, nil)
	return err
}

// RPC sends body to dest and waits for the reply until ctx is done (give it a
// timeout). An error reply is returned as an *RPCError along with the
// message. An error wrapping ErrNotSent means dest certainly never got it;
// a context error means it may or may not have.
func (n *Node) RPC(ctx context.Context, dest string, body any) (Message, error) {
	ch := make(chan Message, 1)
	id, err := n.send(dest, body, nil, func(id int64) {
		n.mu.Lock()
		n.waiting[id] = waiter{dest: dest, ch: ch}
		n.mu.Unlock()
	})
	if err != nil {
		n.forget(id)
		return Message{}, err
	}
	select {
	case <-ctx.Done():
		n.forget(id)
		return Message{}, fmt.Errorf("rpc %d to %s: %w", id, dest, ctx.Err())
	case reply := <-ch:
		h, err := reply.Header()
		if err != nil {
			return reply, err
		}
		if h.Type == "error" {
			code := CodeCrash
			if h.Code != nil {
				code = *h.Code
			}
			return reply, &RPCError{Code: code, Text: h.Text}
		}
		return reply, nil
	}
}

func (n *Node) forget(id int64) {
	n.mu.Lock()
	delete(n.waiting, id)
	n.mu.Unlock()
}

// send writes one message with a fresh msg_id and the extra reserved fields;
// before is called with the id before the write, so a reply cannot race the
// registration of its waiter.
func (n *Node) send(dest string, body any, extra map[string]any, before ...func(int64)) (int64, error) {
	n.mu.Lock()
	n.nextMsgID++
	id := n.nextMsgID
	src := n.id
	n.mu.Unlock()

	fields := map[string]json.RawMessage{}
	raw, err := json.Marshal(body)
	if err != nil {
		return id, fmt.Errorf("encode body for %s: %w: %w", dest, ErrNotSent, err)
	}
	if err := json.Unmarshal(raw, &fields); err != nil {
		return id, fmt.Errorf("body for %s is not an object: %w: %w", dest, ErrNotSent, err)
	}
	extra2 := map[string]any{"msg_id": id}
	for k, v := range extra {
		extra2[k] = v
	}
	for k, v := range extra2 {
		b, err := json.Marshal(v)
		if err != nil {
			return id, fmt.Errorf("encode %s for %s: %w: %w", k, dest, ErrNotSent, err)
		}
		fields[k] = b
	}
	full, err := json.Marshal(fields)
	if err != nil {
		return id, fmt.Errorf("encode body for %s: %w: %w", dest, ErrNotSent, err)
	}
	line, err := json.Marshal(Message{Src: src, Dest: dest, Body: full})
	if err != nil {
		return id, fmt.Errorf("encode message for %s: %w: %w", dest, ErrNotSent, err)
	}
	line = append(line, '\n')
	for _, f := range before {
		f(id)
	}
	n.wmu.Lock()
	defer n.wmu.Unlock()
	if w, err := n.out.Write(line); err != nil {
		// Part of a line may have reached the reader; only a write that
		// wrote nothing is certainly unsent.
		if w == 0 {
			err = errors.Join(ErrNotSent, err)
		}
		return id, fmt.Errorf("write message to %s: %w", dest, err)
	}
	return id, nil
}

// IsClient reports whether id names one of Maelstrom's clients (c1, c2, ...)
// rather than a server node (n1, ...) or a service (lin-kv, ...).
func IsClient(id string) bool {
	return strings.HasPrefix(id, "c")
}
