package maelstrom

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/faultline/faultline/workloads"
)

// ClientPort is the port the shim serves clients on; PeerPort the one
// nodes' shims reach each other on.
const (
	ClientPort = 7000
	PeerPort   = 7001
)

// setKeySpan is how broadcast messages keep the set workload's keys
// apart: key k's element e travels as the integer k*setKeySpan + e.
const setKeySpan = 1_000_000

// DialOptions returns the options Dial accepts.
func DialOptions() map[string]string {
	return map[string]string{
		"set":  "what the set workload speaks: broadcast (broadcast/read, default) or g-set (add/read)",
		"node": "the node id requests are addressed to (default: the node behind the port)",
	}
}

// DialWorkloads names the workloads a Dial'd client serves: register as
// lin-kv, set as broadcast or g-set, the counters as g-counter or
// pn-counter, list-append and rw-register as txn-list-append and
// txn-rw-register, kafka, echo and unique-ids as themselves.
func DialWorkloads() []string {
	return []string{"register", "set", "broadcast", "g-set", "counter", "g-counter", "pn-counter", "list-append", "rw-register", "kafka", "echo", "unique-ids"}
}

// Client is one worker's connection to one node's shim. A lost
// connection is dialled again by the next operation, so a worker whose
// node was killed is served again once it restarts.
type Client struct {
	addr string
	id   string // this client's id, c<N>
	node string // dest of requests ("" = the node behind the port)
	gset bool

	wmu sync.Mutex // one writer at a time

	mu       sync.Mutex
	link     *link // nil when not connected
	nextID   int64
	lastFail time.Time // of the last failed dial, to pace redials

	counterKey string // the one key a g-counter client counts under
}

// link is one TCP connection to the shim and the requests waiting on it.
type link struct {
	conn net.Conn
	w    *bufio.Writer
	mu   sync.Mutex
	wait map[int64]chan reply
	err  error         // why the connection ended
	done chan struct{} // closed when it ends
}

type reply struct {
	body map[string]json.RawMessage
}

var (
	_ workloads.RegisterClient = (*Client)(nil)
	_ workloads.SetClient      = (*Client)(nil)
	_ workloads.CounterClient  = (*Client)(nil)
)

// Dial connects to the shim's client port at addr (host:port).
func Dial(ctx context.Context, addr string, opts map[string]string) (workloads.Client, error) {
	return dial(ctx, addr, opts)
}

func dial(ctx context.Context, addr string, opts map[string]string) (*Client, error) {
	c := &Client{addr: addr}
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := opts[k]
		switch k {
		case "set":
			switch v {
			case "broadcast", "":
			case "g-set":
				c.gset = true
			default:
				return nil, fmt.Errorf("maelstrom: option set=%q: want broadcast or g-set", v)
			}
		case "node":
			c.node = v
		default:
			return nil, fmt.Errorf("maelstrom: unknown option %q (known: node, set)", k)
		}
	}
	// Client ids must be unique in the cluster: a reply may come back
	// through another node's shim, which finds the client by id.
	c.id = "c" + strconv.FormatUint(rand.Uint64()%1_000_000_000_000, 10)
	if _, err := c.connect(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// Close closes the connection.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.link == nil {
		return nil
	}
	err := c.link.conn.Close()
	c.link = nil
	return err
}

// connect returns the live link, dialling when there is none. A failed
// dial is definite (nothing was sent); redials are paced so a worker of a
// dead node does not spin.
func (c *Client) connect(ctx context.Context) (*link, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := c.link; l != nil {
		select {
		case <-l.done:
			c.link = nil
		default:
			return l, nil
		}
	}
	if wait := 100*time.Millisecond - time.Since(c.lastFail); wait > 0 {
		select {
		case <-ctx.Done():
			return nil, notSent{ctx.Err()}
		case <-time.After(wait):
		}
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		c.lastFail = time.Now()
		return nil, workloads.Definite(fmt.Errorf("maelstrom: connect %s: %w", c.addr, notSent{err}))
	}
	l := &link{conn: conn, w: bufio.NewWriter(conn), wait: map[int64]chan reply{}, done: make(chan struct{})}
	c.link = l
	go l.readLoop(c.addr)
	return l, nil
}

func (l *link) readLoop(addr string) {
	r := bufio.NewReaderSize(l.conn, 64<<10)
	var err error
	for {
		var line []byte
		line, err = r.ReadBytes('\n')
		if err != nil {
			break
		}
		var m struct {
			Body map[string]json.RawMessage `json:"body"`
		}
		if json.Unmarshal(line, &m) != nil || m.Body == nil {
			continue
		}
		var irt int64
		if json.Unmarshal(m.Body["in_reply_to"], &irt) != nil {
			continue
		}
		l.mu.Lock()
		ch := l.wait[irt]
		delete(l.wait, irt)
		l.mu.Unlock()
		if ch != nil {
			ch <- reply{m.Body}
		}
	}
	l.conn.Close()
	l.mu.Lock()
	l.err = fmt.Errorf("connection to %s lost: %w", addr, err)
	l.mu.Unlock()
	close(l.done)
}

// call sends a request of type typ with fields and waits for its reply;
// an error reply is an *Error. The error is not classified yet.
func (c *Client) call(ctx context.Context, typ string, fields map[string]any) (map[string]json.RawMessage, error) {
	l, err := c.connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("maelstrom %s: %w", typ, err)
	}
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	c.mu.Unlock()
	ch := make(chan reply, 1)
	l.mu.Lock()
	l.wait[id] = ch
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.wait, id)
		l.mu.Unlock()
	}()

	body := map[string]any{"type": typ, "msg_id": id}
	for k, v := range fields {
		body[k] = v
	}
	msg := map[string]any{"src": c.id, "body": body}
	if c.node != "" {
		msg["dest"] = c.node
	}
	line, err := json.Marshal(msg)
	if err != nil {
		return nil, notSent{err}
	}
	c.wmu.Lock()
	if dl, ok := ctx.Deadline(); ok {
		_ = l.conn.SetWriteDeadline(dl)
	} else {
		_ = l.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	}
	l.w.Write(line)
	l.w.WriteByte('\n')
	err = l.w.Flush()
	c.wmu.Unlock()
	if err != nil {
		// Part of the line may have reached the node.
		l.conn.Close()
		return nil, fmt.Errorf("maelstrom %s: send: %w", typ, err)
	}
	select {
	case r := <-ch:
		var rt string
		_ = json.Unmarshal(r.body["type"], &rt)
		if rt == "error" {
			var e Error
			_ = json.Unmarshal(r.body["code"], &e.Code)
			_ = json.Unmarshal(r.body["text"], &e.Text)
			return nil, fmt.Errorf("maelstrom %s: %w", typ, &e)
		}
		if rt != typ+"_ok" {
			return nil, fmt.Errorf("maelstrom %s: reply of type %q, want %s_ok", typ, rt, typ)
		}
		return r.body, nil
	case <-l.done:
		l.mu.Lock()
		err := l.err
		l.mu.Unlock()
		return nil, fmt.Errorf("maelstrom %s: no reply: %w", typ, err)
	case <-ctx.Done():
		return nil, fmt.Errorf("maelstrom %s: no reply: %w", typ, ctx.Err())
	}
}

// Read implements workloads.RegisterClient as lin-kv's read.
func (c *Client) Read(ctx context.Context, key string) (int64, bool, error) {
	body, err := c.call(ctx, "read", map[string]any{"key": key})
	if err != nil {
		var me *Error
		if errors.As(err, &me) && me.Code == CodeKeyDoesNotExist {
			return 0, false, nil
		}
		return 0, false, classify(err)
	}
	var v *int64
	if err := json.Unmarshal(body["value"], &v); err != nil {
		return 0, false, workloads.Definite(fmt.Errorf("maelstrom read: value %s is not an integer: %w", body["value"], err))
	}
	if v == nil {
		return 0, false, nil
	}
	return *v, true, nil
}

// Write implements workloads.RegisterClient as lin-kv's write.
func (c *Client) Write(ctx context.Context, key string, value int64) error {
	_, err := c.call(ctx, "write", map[string]any{"key": key, "value": value})
	return classify(err)
}

// CAS implements workloads.RegisterClient as lin-kv's cas: a
// precondition-failed or key-does-not-exist answer is a comparison that
// failed.
func (c *Client) CAS(ctx context.Context, key string, old, new int64) (bool, error) {
	_, err := c.call(ctx, "cas", map[string]any{"key": key, "from": old, "to": new})
	if err != nil {
		var me *Error
		if errors.As(err, &me) && (me.Code == CodePreconditionFailed || me.Code == CodeKeyDoesNotExist) {
			return false, nil
		}
		return false, classify(err)
	}
	return true, nil
}

// setKey returns the namespace number of a set workload key.
func setKey(key string) (int64, error) {
	k, err := strconv.ParseInt(key, 10, 64)
	if err != nil || k < 0 || k > (1<<62)/setKeySpan {
		return 0, workloads.Definite(fmt.Errorf("maelstrom set: key %q is not a small non-negative integer", key))
	}
	return k, nil
}

// AddElement implements workloads.SetClient: broadcast (or g-set add) of
// key*1e6+elem, so one cluster-wide set carries every key's elements.
func (c *Client) AddElement(ctx context.Context, key string, elem int64) error {
	k, err := setKey(key)
	if err != nil {
		return err
	}
	if elem < 0 || elem >= setKeySpan {
		return workloads.Definite(fmt.Errorf("maelstrom set: element %d outside [0, %d)", elem, setKeySpan))
	}
	v := k*setKeySpan + elem
	if c.gset {
		_, err = c.call(ctx, "add", map[string]any{"element": v})
	} else {
		_, err = c.call(ctx, "broadcast", map[string]any{"message": v})
	}
	return classify(err)
}

// ReadSet implements workloads.SetClient: read, keeping the key's own
// elements.
func (c *Client) ReadSet(ctx context.Context, key string) ([]int64, error) {
	k, err := setKey(key)
	if err != nil {
		return nil, err
	}
	body, err := c.call(ctx, "read", nil)
	if err != nil {
		return nil, classify(err)
	}
	field := "messages"
	if c.gset {
		field = "value"
	}
	var all []int64
	if err := json.Unmarshal(body[field], &all); err != nil {
		return nil, workloads.Definite(fmt.Errorf("maelstrom read: %s %s is not a list of integers: %w", field, clip(body[field]), err))
	}
	out := []int64{}
	for _, v := range all {
		if v/setKeySpan == k {
			out = append(out, v%setKeySpan)
		}
	}
	return out, nil
}

// counterFor refuses a second key: a g-counter is one counter per
// cluster, so the counter workload must run on one key (see
// docs/maelstrom.md).
func (c *Client) counterFor(key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counterKey == "" {
		c.counterKey = key
	}
	if key != c.counterKey {
		return workloads.Definite(fmt.Errorf("maelstrom g-counter: one counter per cluster, but the run uses key %q after %q (run the counter workload with --concurrency 5 or less and a large --ops-per-key)", key, c.counterKey))
	}
	return nil
}

// Increment implements workloads.CounterClient as g-counter's add.
func (c *Client) Increment(ctx context.Context, key string, delta int64) error {
	if err := c.counterFor(key); err != nil {
		return err
	}
	_, err := c.call(ctx, "add", map[string]any{"delta": delta})
	return classify(err)
}

// ReadCounter implements workloads.CounterClient as g-counter's read.
func (c *Client) ReadCounter(ctx context.Context, key string) (int64, error) {
	if err := c.counterFor(key); err != nil {
		return 0, err
	}
	body, err := c.call(ctx, "read", nil)
	if err != nil {
		return 0, classify(err)
	}
	var v int64
	if err := json.Unmarshal(body["value"], &v); err != nil {
		return 0, workloads.Definite(fmt.Errorf("maelstrom read: value %s is not an integer: %w", clip(body["value"]), err))
	}
	return v, nil
}

func clip(b []byte) string {
	if len(b) > 100 {
		return string(b[:100]) + "…"
	}
	return string(b)
}
