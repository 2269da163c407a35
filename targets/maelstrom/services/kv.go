// Package services holds the services Maelstrom offers to the nodes under
// test (its doc/services.md): lin-kv, seq-kv and lww-kv key-value stores
// and the lin-tso timestamp oracle, each with the consistency Maelstrom
// documents, and a TCP server that the maelstrom target runs in the
// controller so every node's shim can reach them. The stores know nothing
// of the network, so their semantics are tested on their own.
package services

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
)

// The services' names: a node reaches one by sending to its name as dest.
const (
	LinKV  = "lin-kv"
	SeqKV  = "seq-kv"
	LWWKV  = "lww-kv"
	LinTSO = "lin-tso"
)

// Maelstrom's error codes the services answer with.
const (
	codeNotSupported       = 10
	codeMalformedRequest   = 12
	codeKeyDoesNotExist    = 20
	codePreconditionFailed = 22
)

// Service answers one request body from caller (the node that sent it)
// with a reply body, without in_reply_to. It is safe for concurrent use.
type Service interface {
	Handle(caller string, body []byte) map[string]any
}

// errorBody is Maelstrom's error reply.
func errorBody(code int, format string, args ...any) map[string]any {
	return map[string]any{"type": "error", "code": code, "text": fmt.Sprintf(format, args...)}
}

// kvOp is one decoded key-value request. Keys and values are kept as
// canonical JSON text, so any JSON value may be a key or a value and two
// encodings of one value compare equal.
type kvOp struct {
	typ             string
	key             string
	value, from, to string
	create          bool // cas with create_if_not_exists
}

// parseKV decodes a read, write or cas body; a reply is returned instead
// when the body is not one.
func parseKV(body []byte) (kvOp, map[string]any) {
	var b struct {
		Type   string          `json:"type"`
		Key    json.RawMessage `json:"key"`
		Value  json.RawMessage `json:"value"`
		From   json.RawMessage `json:"from"`
		To     json.RawMessage `json:"to"`
		Create bool            `json:"create_if_not_exists"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return kvOp{}, errorBody(codeMalformedRequest, "body is not a JSON object: %v", err)
	}
	op := kvOp{typ: b.Type, create: b.Create}
	var need []json.RawMessage
	var dst []*string
	switch b.Type {
	case "read":
		need, dst = []json.RawMessage{b.Key}, []*string{&op.key}
	case "write":
		need, dst = []json.RawMessage{b.Key, b.Value}, []*string{&op.key, &op.value}
	case "cas":
		need, dst = []json.RawMessage{b.Key, b.From, b.To}, []*string{&op.key, &op.from, &op.to}
	default:
		return kvOp{}, errorBody(codeNotSupported, "a key-value service serves read, write and cas, not %q", b.Type)
	}
	names := map[string][]string{"read": {"key"}, "write": {"key", "value"}, "cas": {"key", "from", "to"}}[b.Type]
	for i, raw := range need {
		if raw == nil {
			return kvOp{}, errorBody(codeMalformedRequest, "%s without %s", b.Type, names[i])
		}
		c, err := canonical(raw)
		if err != nil {
			return kvOp{}, errorBody(codeMalformedRequest, "%s: %s: %v", b.Type, names[i], err)
		}
		*dst[i] = c
	}
	return op, nil
}

// canonical re-encodes a JSON value so that equal values have equal text:
// object keys sorted, integers without exponent or fraction.
func canonical(raw json.RawMessage) (string, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return "", err
	}
	out, err := json.Marshal(normalize(v))
	if err != nil {
		return "", err
	}
	return string(out), nil
}

func normalize(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return json.Number(strconv.FormatInt(i, 10))
		}
		if f, err := x.Float64(); err == nil && f == float64(int64(f)) && f >= -1<<53 && f <= 1<<53 {
			return json.Number(strconv.FormatInt(int64(f), 10))
		}
		return x
	case []any:
		for i := range x {
			x[i] = normalize(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = normalize(x[k])
		}
	}
	return v
}

// apply evaluates op against its key's current value (cur, if exists).
// It returns the reply and, when the op writes (a write, a cas that
// succeeds), the key's next value.
func (op kvOp) apply(cur string, exists bool) (reply map[string]any, next string, writes bool) {
	switch op.typ {
	case "read":
		if !exists {
			return errorBody(codeKeyDoesNotExist, "key does not exist"), "", false
		}
		return map[string]any{"type": "read_ok", "value": json.RawMessage(cur)}, "", false
	case "write":
		return map[string]any{"type": "write_ok"}, op.value, true
	default: // cas
		switch {
		case !exists && op.create:
			return map[string]any{"type": "cas_ok"}, op.to, true
		case !exists:
			return errorBody(codeKeyDoesNotExist, "key does not exist"), "", false
		case cur != op.from:
			return errorBody(codePreconditionFailed, "current value %s is not %s", cur, op.from), "", false
		}
		return map[string]any{"type": "cas_ok"}, op.to, true
	}
}

// changes reports whether op alters the state when its key holds cur (if
// exists): a write of the value already there does not.
func (op kvOp) changes(cur string, exists bool) bool {
	_, next, writes := op.apply(cur, exists)
	return writes && (!exists || next != cur)
}

// Lin is lin-kv: one map under a lock, so every operation takes effect at
// one instant between its request and its reply (linearizable).
type Lin struct {
	mu sync.Mutex
	m  map[string]string
}

// NewLin returns an empty lin-kv.
func NewLin() *Lin { return &Lin{m: map[string]string{}} }

// Handle implements Service.
func (s *Lin) Handle(_ string, body []byte) map[string]any {
	op, bad := parseKV(body)
	if bad != nil {
		return bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.m[op.key]
	reply, next, writes := op.apply(cur, ok)
	if writes {
		s.m[op.key] = next
	}
	return reply
}

// DefaultSeqWindow is how many past states seq-kv keeps for callers to
// lag behind by, as Maelstrom's buffer of 32.
const DefaultSeqWindow = 32

// Seq is seq-kv: sequentially consistent. Every state the store ever had
// is a position in one total order (a write that changes something makes
// a new state at the head). Each caller has a position of its own, which
// only moves forward: an operation that changes nothing (a read, a failed
// cas, a write of the value already there) is answered from a state drawn
// at random between the caller's position and the head, so it may be
// stale; an operation that changes something is applied at the head, and
// the caller's position jumps there. Callers thus never see the store go
// back, but may see a past that others have long left.
type Seq struct {
	mu     sync.Mutex
	rng    *rand.Rand
	window int64
	head   int64                // position of the newest state; 0 is the empty store
	keys   map[string][]version // each key's values, oldest first
	pos    map[string]int64     // each caller's position
}

// version is a key's value from state at on, until the next version.
type version struct {
	at    int64
	value string
}

// NewSeq returns an empty seq-kv that keeps window past states (at least
// 1; 1 makes it linearizable), drawing stale states from seed.
func NewSeq(window int, seed uint64) *Seq {
	return &Seq{rng: rand.New(rand.NewPCG(seed, 0x5e9)), window: int64(max(window, 1)),
		keys: map[string][]version{}, pos: map[string]int64{}}
}

// valueAt is key's value in state at.
func (s *Seq) valueAt(key string, at int64) (string, bool) {
	vs := s.keys[key]
	for i := len(vs) - 1; i >= 0; i-- {
		if vs[i].at <= at {
			return vs[i].value, true
		}
	}
	return "", false
}

// Handle implements Service.
func (s *Seq) Handle(caller string, body []byte) map[string]any {
	op, bad := parseKV(body)
	if bad != nil {
		return bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	lo := max(s.pos[caller], s.head-s.window+1, 0)
	at := lo + s.rng.Int64N(s.head-lo+1)
	if cur, ok := s.valueAt(op.key, at); !op.changes(cur, ok) {
		s.pos[caller] = at
		reply, _, _ := op.apply(cur, ok)
		return reply
	}
	// It would change the state: only at the head does that keep one
	// total order.
	cur, ok := s.valueAt(op.key, s.head)
	reply, next, _ := op.apply(cur, ok)
	if op.changes(cur, ok) {
		s.head++
		s.keys[op.key] = s.prune(append(s.keys[op.key], version{at: s.head, value: next}))
	}
	s.pos[caller] = s.head
	return reply
}

// prune drops the versions no caller can read any more: those older than
// the one in force at the oldest state kept.
func (s *Seq) prune(vs []version) []version {
	oldest := s.head - s.window + 1
	i := 0
	for i+1 < len(vs) && vs[i+1].at <= oldest {
		i++
	}
	return vs[i:]
}

// DefaultLWWReplicas is how many replicas lww-kv simulates, as Maelstrom.
const DefaultLWWReplicas = 2

// LWW is lww-kv: last-write-wins and only eventually consistent. It
// simulates independent replicas; each request goes to one drawn at
// random, after one replica has merged another's state into its own (also
// drawn at random). A write is stamped with its replica's Lamport clock;
// merging keeps, per key, the value of the higher stamp, ties broken by
// replica number, so replicas agree once they have merged each other.
// Reads may be stale and go backwards; a cas may succeed on a stale value.
type LWW struct {
	mu       sync.Mutex
	rng      *rand.Rand
	replicas []lwwReplica
}

type lwwReplica struct {
	clock int64
	m     map[string]stamped
}

type stamped struct {
	ts, replica int64
	value       string
}

func (a stamped) newer(b stamped) bool {
	return a.ts > b.ts || a.ts == b.ts && a.replica > b.replica
}

// NewLWW returns an empty lww-kv of n replicas (at least 1), drawing
// replicas from seed.
func NewLWW(n int, seed uint64) *LWW {
	s := &LWW{rng: rand.New(rand.NewPCG(seed, 0x1ee)), replicas: make([]lwwReplica, max(n, 1))}
	for i := range s.replicas {
		s.replicas[i].m = map[string]stamped{}
	}
	return s
}

// Handle implements Service.
func (s *LWW) Handle(_ string, body []byte) map[string]any {
	op, bad := parseKV(body)
	if bad != nil {
		return bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.replicas)
	s.merge(s.rng.IntN(n), s.rng.IntN(n))
	i := s.rng.IntN(n)
	r := &s.replicas[i]
	cur, ok := r.m[op.key]
	reply, next, writes := op.apply(cur.value, ok)
	if writes {
		r.m[op.key] = stamped{ts: r.clock, replica: int64(i), value: next}
		r.clock++
	}
	return reply
}

// merge folds replica src's state into dst's.
func (s *LWW) merge(dst, src int) {
	if dst == src {
		return
	}
	d, o := &s.replicas[dst], &s.replicas[src]
	d.clock = max(d.clock, o.clock)
	for k, v := range o.m {
		if cur, ok := d.m[k]; !ok || v.newer(cur) {
			d.m[k] = v
		}
	}
}

// TSO is lin-tso: a linearizable source of timestamps 0, 1, 2, ...
type TSO struct {
	mu   sync.Mutex
	next int64
}

// Handle implements Service.
func (s *TSO) Handle(_ string, body []byte) map[string]any {
	var b struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return errorBody(codeMalformedRequest, "body is not a JSON object: %v", err)
	}
	if b.Type != "ts" {
		return errorBody(codeNotSupported, "lin-tso serves ts, not %q", b.Type)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := s.next
	s.next++
	return map[string]any{"type": "ts_ok", "ts": ts}
}
