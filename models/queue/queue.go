// Package queue checks histories of message queues: producers enqueue
// unique messages, consumers dequeue them (and may acknowledge them), and a
// final drain empties the queue. It finds lost, duplicated, unexpected and
// reordered messages, and says which delivery guarantee the run met.
//
// Ops: F "enqueue" with the message id as value (an integer or a string,
// or a map with "id" and optionally "key"), the stream key (partition,
// subject) in Key; F "dequeue" whose ok value is the id delivered, a list
// of ids (a batch), or nil or [] when the queue was empty, and whose
// invocation value may be an integer batch limit; F "ack" with an id or a
// list of ids; F "drain" whose ok value lists every id it took, in order.
//
// It follows Jepsen's total-queue checker ("what goes in must come out",
// jepsen.checker/total-queue, from the RabbitMQ analysis,
// aphyr.com/posts/315-jepsen-rabbitmq), with Jepsen's meaning of outcomes:
//
//   - lost: an ok enqueue that was never delivered, although an ok drain
//     began after the enqueue completed (without a drain nothing is lost
//     for certain: the message may still be queued). When the history has
//     dequeues of unknown outcome (info, or cut short) and no explicit
//     acks, those may have taken messages nobody saw: each up to the batch
//     limit its invocation names (an integer value), else up to the largest
//     batch any ok dequeue returned; a drain of unknown outcome, any number.
//     Losses they can explain are not anomalies; the result says how many.
//   - duplicated: delivered more than once. With explicit acks (the history
//     has "ack" ops, or Checker.Acks) a message not acknowledged must be delivered
//     again: only a delivery that began after an ok ack of the message
//     completed (or after a drain delivered it; a drain acknowledges what
//     it takes) is a duplicate, and an unacknowledged message is lost
//     unless it is acknowledged (ok or info ack) or drained.
//   - unexpected: delivered although never enqueued, only enqueued by ops
//     that failed (fail means it did not happen), or before its enqueue was
//     even invoked.
//   - order: when the queue promises FIFO per producer (process) or per Key
//     (partition or subject; no Key is one queue): message a's enqueue
//     completed before b's began, on the same stream, yet a delivery of b
//     completed before any delivery of a began, or b came before a in one
//     dequeued batch (a delivered nowhere else by then). Only certain
//     reorderings count; the first delivery of each message is judged, so
//     at-least-once redeliveries do not. Where redelivery is allowed
//     (explicit acks, or an at-least-once promise), a dequeue of unknown
//     outcome may have taken a message unseen, making its first seen
//     delivery a redelivery: order is judged only before the first such
//     dequeue began.
//
// Enqueues of unknown outcome (info) may or may not be delivered; an id
// enqueued again after a failure or timeout (a retry) is one message, ok if
// any attempt was ok. The run met at-most-once when nothing was duplicated,
// at-least-once when nothing was lost, exactly-once when both; the checker
// is invalid when the run broke the guarantee the queue promises, delivered
// an unexpected message, or reordered a promised order.
package queue

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// Name is the checker's and the model's name.
const Name = "queue"

// Kinds of the anomalies this checker reports.
const (
	LostKind       = "lost"
	DuplicatedKind = "duplicated"
	UnexpectedKind = "unexpected"
	OrderKind      = "order"
)

// Delivery is a delivery guarantee.
type Delivery string

// The guarantees, and None for a run that met neither.
const (
	AtMostOnce  Delivery = "at-most-once"
	AtLeastOnce Delivery = "at-least-once"
	ExactlyOnce Delivery = "exactly-once"
	None        Delivery = "none"
)

// Order is the delivery order a queue promises.
type Order string

// The orders.
const (
	// Unordered promises no order (the zero value).
	Unordered Order = ""
	// PerProducer promises each producer's (process's) messages in the
	// order it enqueued them.
	PerProducer Order = "producer"
	// PerKey promises each Key's messages (partition, subject) in enqueue
	// order; messages without a Key are one stream, a FIFO queue.
	PerKey Order = "key"
)

// DefaultMaxAnomalies bounds the anomalies reported per kind when
// Checker.MaxAnomalies is zero; Stats count them all.
const DefaultMaxAnomalies = 100

// Checker checks a queue history. The zero value requires exactly-once
// delivery and no order.
type Checker struct {
	// Promise is the guarantee the queue promises: ExactlyOnce when empty.
	// Lost messages are anomalies unless it is AtMostOnce, duplicated ones
	// unless it is AtLeastOnce.
	Promise Delivery
	// Order is the order the queue promises (Unordered when empty).
	Order Order
	// Acks says consumers acknowledge messages explicitly (F "ack"), even
	// when the history happens to hold no ack op; a history with an ack op
	// is judged so anyway.
	Acks bool
	// AssumeDrained treats the end of the history as a drain: use it when
	// the workload drains with ordinary dequeues rather than a "drain" op
	// (as Jepsen's total-queue assumes).
	AssumeDrained bool
	// MaxAnomalies bounds the anomalies reported per kind:
	// DefaultMaxAnomalies when zero, no bound when negative.
	MaxAnomalies int
}

// New returns a checker for a queue that promises exactly-once delivery
// and no order.
func New() *Checker { return &Checker{} }

// Models lists the model of this package for the catalog.
func Models() models.Registry {
	return models.Registry{
		Name: {
			Summary: "queue (Jepsen total-queue): no ok enqueue lost after a final drain, none delivered twice or unexpectedly; reports at-most/at-least/exactly-once",
			New:     func() models.Checker { return New() },
		},
	}
}

var _ models.Checker = (*Checker)(nil)

// Name returns "queue".
func (c *Checker) Name() string { return Name }

func (c *Checker) promise() Delivery { return cmp.Or(c.Promise, ExactlyOnce) }

func (c *Checker) maxAnomalies() int {
	switch {
	case c.MaxAnomalies == 0:
		return DefaultMaxAnomalies
	case c.MaxAnomalies < 0:
		return math.MaxInt
	}
	return c.MaxAnomalies
}

// msgID is a message id: an integer, or a string that is not one (EDN and
// JSON may spell the same id either way).
type msgID struct {
	n     int64
	s     string
	isStr bool
}

func (m msgID) String() string {
	if m.isStr {
		return strconv.Quote(m.s)
	}
	return strconv.FormatInt(m.n, 10)
}

func idString(s string) msgID {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && strconv.FormatInt(n, 10) == s {
		return msgID{n: n}
	}
	return msgID{s: s, isStr: true}
}

// idOf reads a message id: an integer, a string, or a map with "id" (or
// "value") holding one.
func idOf(v any) (msgID, bool) {
	switch x := v.(type) {
	case int64:
		return msgID{n: x}, true
	case string:
		return idString(x), true
	case nil, bool, []any:
		return msgID{}, false
	case map[string]any:
		if id, ok := x["id"]; ok {
			return idOf(id)
		}
		if id, ok := x["value"]; ok {
			return idOf(id)
		}
		return msgID{}, false
	}
	if n, ok := history.Int(v); ok {
		return msgID{n: n}, true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return msgID{n: rv.Int()}, true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if u := rv.Uint(); u <= math.MaxInt64 {
			return msgID{n: int64(u)}, true
		}
	}
	return msgID{}, false
}

// keyOf returns a message's stream key: the op's Key, else a "key",
// "partition" or "subject" in a map value.
func keyOf(op history.Op) string {
	if op.Key != "" {
		return op.Key
	}
	if m, ok := op.Value.(map[string]any); ok {
		for _, k := range []string{"key", "partition", "subject"} {
			if v, ok := m[k]; ok && v != nil {
				if s, ok := v.(string); ok {
					return s
				}
				return fmt.Sprint(v)
			}
		}
	}
	return ""
}

// eachID calls fn for every id a delivery or ack value holds: one id, or a
// list of them. Nil and an empty list hold none.
func eachID(v any, fn func(id msgID, pos int)) error {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		for i, e := range x {
			id, ok := idOf(e)
			if !ok {
				return fmt.Errorf("element %d, %s, is not a message id", i, show(e))
			}
			fn(id, i)
		}
		return nil
	case []int64:
		for i, e := range x {
			fn(msgID{n: e}, i)
		}
		return nil
	case []int:
		for i, e := range x {
			fn(msgID{n: int64(e)}, i)
		}
		return nil
	case []string:
		for i, e := range x {
			fn(idString(e), i)
		}
		return nil
	}
	id, ok := idOf(v)
	if !ok {
		return fmt.Errorf("%s is not a message id or a list of them", show(v))
	}
	fn(id, 0)
	return nil
}

func show(v any) string {
	if v == nil {
		return "nil"
	}
	var s string
	if n, ok := v.(json.Number); ok {
		s = n.String()
	} else {
		s = fmt.Sprint(v)
	}
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return s
}

const never = math.MaxInt // a position after every op

// enqueue outcomes, best last: a message is as enqueued as its best attempt.
const (
	enqNone = iota
	enqFail
	enqInfo
	enqOK
)

// msg is what the history says about one message. Positions are indexes
// into the ops slice; real-time order is history order.
type msg struct {
	id     msgID
	status int8  // best enqueue outcome
	stream int32 // order stream, -1 when none

	// enqueue
	attemptInv, attemptDone int // the attempt that names the message (-1 when it never completed)
	enqInv                  int // earliest invocation of a non-fail attempt
	enqInvDone              int // that attempt's completion, -1 when none
	enqDone                 int // earliest completion of an ok attempt
	enqProc                 history.Process
	enqKey                  string

	// deliveries
	deliveries int32
	firstDel   int32 // index in run.dels of the first delivery in history order, -1
	secondDel  int32 // of the second
	invDel     int32 // of the delivery whose op began first
	doneDel    int32 // of the delivery whose op completed first
	minInv     int   // earliest invocation of a delivering op
	minDone    int   // earliest completion of a delivering op
	secondInv  int   // second-earliest invocation of a delivering op
	unexpected bool
	reordered  bool // reported as overtaken

	// acknowledgement
	acked    bool // an ok or info ack, or a drain, took it
	consumed int  // earliest completion of an ok ack or a drain delivering it
	consOp   int  // that op's invocation
}

// delivery is one message coming out of one ok dequeue or drain.
type delivery struct {
	msg       int32
	pos       int32 // in the batch
	inv, done int   // the op's invocation and completion
	drain     bool
}

// run is the state of one check.
type run struct {
	c      *Checker
	ops    []history.Op
	max    int
	res    models.Result
	kinds  map[string]int
	ids    map[msgID]int32
	msgs   []msg
	dels   []delivery
	acks   bool  // the history has explicit acks
	drain  int   // invocation of the last ok drain, -1 when none
	indet  []int // invocations of dequeues and drains of unknown outcome
	sized  int   // what those with a batch limit may have taken
	open   int   // those without one: up to the largest ok batch each
	anyNum bool  // an indeterminate drain: it may have taken any number
	batch  int   // largest batch an ok dequeue returned
	bad    []string
	stream map[string]int32
}

// Check checks ops, given in history order. It never fails: malformed ops
// make the verdict unknown (unless an anomaly makes it invalid), as does an
// exhausted context or a history without an enqueue or a delivery. Stats:
// enqueues (distinct ids enqueued), enqueued_ok, enqueued_info,
// enqueued_fail, dequeues (ok), dequeues_empty, indeterminate_dequeues,
// drains, deliveries, delivered (distinct messages), acks (ok), lost,
// undelivered (ok enqueues never delivered, lost or not), undrained (ok
// enqueues never consumed and not followed by an ok drain), duplicated,
// duplicate_deliveries, redeliveries (of unacknowledged messages),
// unexpected, recovered (info enqueues delivered), order_violations (at
// least that many), malformed. Properties: delivery (the guarantee met),
// promise, order, acks, drain, and loss_note when dequeues of unknown
// outcome may explain undelivered messages.
func (c *Checker) Check(ctx context.Context, ops []history.Op, opt models.Options) models.Result {
	start := time.Now()
	res := c.check(ctx, ops)
	res.DurationNS = time.Since(start).Nanoseconds()
	return res
}

// checkEvery is how many ops pass between looks at the context.
const checkEvery = 1 << 14

func (c *Checker) check(ctx context.Context, ops []history.Op) models.Result {
	r := &run{
		c: c, ops: ops, max: c.maxAnomalies(),
		res:    models.Result{Checker: Name, Model: Name, Stats: map[string]int64{}, Properties: map[string]string{}},
		kinds:  map[string]int{},
		drain:  -1,
		stream: map[string]int32{},
	}
	switch c.promise() {
	case AtMostOnce, AtLeastOnce, ExactlyOnce:
	default:
		return r.unknown(fmt.Sprintf("unknown delivery promise %q (known: %s, %s, %s)", c.Promise, AtMostOnce, AtLeastOnce, ExactlyOnce))
	}
	switch c.Order {
	case Unordered, PerProducer, PerKey:
	default:
		return r.unknown(fmt.Sprintf("unknown order %q (known: %q, %q, %q)", c.Order, Unordered, PerProducer, PerKey))
	}
	// Size the tables once: growing them copies every message again.
	r.acks = c.Acks
	enqueues := 0
	for _, op := range ops {
		if op.Type == history.Invoke && op.F == "enqueue" {
			enqueues++
		}
		r.acks = r.acks || op.F == "ack" && op.IsClient()
	}
	r.msgs = make([]msg, 0, enqueues)
	r.ids = make(map[msgID]int32, enqueues)
	r.dels = make([]delivery, 0, enqueues)
	for _, k := range []string{"enqueues", "enqueued_ok", "enqueued_info", "enqueued_fail", "dequeues", "dequeues_empty",
		"drains", "deliveries", "delivered", "acks", "lost", "undelivered", "undrained", "duplicated",
		"duplicate_deliveries", "redeliveries", "unexpected", "recovered", "malformed"} {
		r.res.Stats[k] = 0
	}
	if err := r.scan(ctx); err != nil {
		return r.unknown(err.Error())
	}
	if c.AssumeDrained {
		r.drain = len(ops)
	}
	slices.Sort(r.indet)
	r.judgeDeliveries()
	if ctx.Err() != nil {
		return r.unknown(fmt.Sprintf("queue check stopped: %v", context.Cause(ctx)))
	}
	if c.Order != Unordered {
		r.judgeOrder()
	}
	r.verdict()
	return r.res
}

func (r *run) unknown(reason string) models.Result {
	return models.Result{Checker: Name, Model: Name, Verdict: models.Unknown, Reason: reason}
}

func (r *run) message(id msgID) int32 {
	if i, ok := r.ids[id]; ok {
		return i
	}
	i := int32(len(r.msgs))
	r.ids[id] = i
	r.msgs = append(r.msgs, msg{
		id: id, stream: -1, attemptInv: -1, attemptDone: -1,
		enqInv: never, enqInvDone: -1, enqDone: never,
		firstDel: -1, secondDel: -1, invDel: -1, doneDel: -1, minInv: never, minDone: never, secondInv: never,
		consumed: never, consOp: -1,
	})
	return i
}

// scan pairs invocations with completions and records every enqueue,
// delivery and ack.
func (r *run) scan(ctx context.Context) error {
	pending := map[history.Process]int{}
	for pos, op := range r.ops {
		if pos%checkEvery == 0 && ctx.Err() != nil {
			return fmt.Errorf("queue check stopped at op %d of %d: %v", pos, len(r.ops), context.Cause(ctx))
		}
		if !op.IsClient() || !op.Type.Valid() {
			continue
		}
		if op.Type == history.Invoke {
			if prev, ok := pending[op.Process]; ok {
				// A new invocation before a completion: the earlier op's
				// outcome was never reported.
				r.complete(prev, -1)
			}
			pending[op.Process] = pos
			continue
		}
		inv, ok := pending[op.Process]
		if !ok {
			continue
		}
		delete(pending, op.Process)
		r.complete(inv, pos)
	}
	// Ops cut short by the end of the run, in history order.
	rest := make([]int, 0, len(pending))
	for _, inv := range pending {
		rest = append(rest, inv)
	}
	slices.Sort(rest)
	for _, inv := range rest {
		r.complete(inv, -1)
	}
	return nil
}

// complete records one op: its invocation at inv and its completion at
// done (-1 when it never completed: an unknown outcome, like info).
func (r *run) complete(inv, done int) {
	in := r.ops[inv]
	typ := history.Info
	var out history.Op
	if done >= 0 {
		out = r.ops[done]
		typ = out.Type
	}
	stats := r.res.Stats
	switch in.F {
	case "enqueue":
		arg := in.Value
		if arg == nil && done >= 0 {
			arg = out.Value
		}
		id, ok := idOf(arg)
		if !ok {
			r.malformed(in, fmt.Sprintf("enqueue of %s: not a message id", show(arg)))
			return
		}
		m := &r.msgs[r.message(id)]
		status := int8(enqInfo)
		switch typ {
		case history.OK:
			status = enqOK
			m.enqDone = min(m.enqDone, done)
		case history.Fail:
			status = enqFail
		}
		if status != enqFail && inv < m.enqInv {
			m.enqInv, m.enqInvDone = inv, done
			m.enqProc = in.Process
			m.enqKey = keyOf(in)
			if m.enqKey == "" && done >= 0 {
				m.enqKey = keyOf(out)
			}
		}
		if status > m.status {
			m.status = status
			m.attemptInv, m.attemptDone = inv, done
		}
	case "dequeue", "drain":
		drain := in.F == "drain"
		if drain {
			stats["drains"]++
		}
		switch typ {
		case history.Fail:
			return
		case history.Info:
			r.indet = append(r.indet, inv)
			switch n, ok := history.Int(in.Value); {
			case drain:
				r.anyNum = true
			case ok && n > 0:
				r.sized += int(n)
			default:
				r.open++
			}
			if !drain || done < 0 {
				return
			}
			// A drain cut short still saw what it lists.
		default:
			if drain {
				r.drain = max(r.drain, inv)
			} else {
				stats["dequeues"]++
			}
		}
		n := 0
		err := eachID(out.Value, func(id msgID, pos int) {
			r.deliver(r.message(id), int32(pos), inv, done, drain)
			n++
		})
		if err != nil {
			r.malformed(out, fmt.Sprintf("%s returned %v", in.F, err))
		}
		if n == 0 && !drain && typ == history.OK {
			stats["dequeues_empty"]++
		}
		if !drain && typ == history.OK {
			r.batch = max(r.batch, n)
		}
	case "ack":
		if typ == history.Fail {
			return
		}
		arg := in.Value
		if arg == nil && done >= 0 {
			arg = out.Value
		}
		if typ == history.OK {
			stats["acks"]++
		}
		err := eachID(arg, func(id msgID, _ int) {
			m := &r.msgs[r.message(id)]
			m.acked = true
			if typ == history.OK && done < m.consumed {
				m.consumed, m.consOp = done, inv
			}
		})
		if err != nil {
			r.malformed(in, fmt.Sprintf("ack of %v", err))
		}
	}
}

func (r *run) deliver(mi int32, pos int32, inv, done int, drain bool) {
	m := &r.msgs[mi]
	di := int32(len(r.dels))
	r.dels = append(r.dels, delivery{msg: mi, pos: pos, inv: inv, done: done, drain: drain})
	m.deliveries++
	switch {
	case m.firstDel < 0:
		m.firstDel = di
	case m.secondDel < 0:
		m.secondDel = di
	}
	switch {
	case inv < m.minInv:
		m.secondInv, m.minInv, m.invDel = m.minInv, inv, di
	case inv <= m.secondInv:
		m.secondInv = inv
	}
	if done < m.minDone {
		m.minDone, m.doneDel = done, di
	}
}

func (r *run) malformed(op history.Op, what string) {
	r.res.Stats["malformed"]++
	if len(r.bad) < 3 {
		r.bad = append(r.bad, fmt.Sprintf("op %d: %s", op.Index, what))
	}
}

// judgeDeliveries finds lost, duplicated and unexpected messages.
func (r *run) judgeDeliveries() {
	stats := r.res.Stats
	promise := r.c.promise()
	flagLost, flagDup := promise != AtMostOnce, promise != AtLeastOnce

	// A drain acknowledges what it takes; in ack mode a delivery is a
	// duplicate when it began after the message was certainly consumed.
	if r.acks {
		for _, d := range r.dels {
			if !d.drain {
				continue
			}
			m := &r.msgs[d.msg]
			m.acked = true
			if d.done < m.consumed {
				m.consumed, m.consOp = d.done, d.inv
			}
		}
	}
	dupAt := make(map[int32]int32) // message -> first duplicate delivery (ack mode)
	if r.acks {
		lastDrain := map[int32]int{} // message -> invocation of the drain that last listed it
		for di, d := range r.dels {
			m := &r.msgs[d.msg]
			dup := d.inv > m.consumed
			if d.drain {
				if at, ok := lastDrain[d.msg]; ok && at == d.inv {
					dup = true // listed twice by one drain
				}
				lastDrain[d.msg] = d.inv
			}
			if !dup {
				continue
			}
			stats["duplicate_deliveries"]++
			if _, ok := dupAt[d.msg]; !ok {
				dupAt[d.msg] = int32(di)
			}
		}
	}

	var undelivered []int32
	for mi := range r.msgs {
		m := &r.msgs[mi]
		switch m.status {
		case enqOK:
			stats["enqueued_ok"]++
		case enqInfo:
			stats["enqueued_info"]++
		case enqFail:
			stats["enqueued_fail"]++
		}
		if m.status != enqNone {
			stats["enqueues"]++
		}
		if m.deliveries == 0 {
			if m.status == enqOK {
				stats["undelivered"]++
			}
			if m.status == enqOK && !(r.acks && m.acked) {
				if m.enqDone < r.drain {
					undelivered = append(undelivered, int32(mi))
				} else {
					stats["undrained"]++
				}
			}
			continue
		}
		stats["delivered"]++
		stats["deliveries"] += int64(m.deliveries)
		switch {
		case m.status == enqNone || m.status == enqFail || m.minDone < m.enqInv:
			m.unexpected = true
			r.unexpected(int32(mi))
			continue
		case m.status == enqInfo:
			stats["recovered"]++
		}
		if r.acks {
			if di, ok := dupAt[int32(mi)]; ok {
				stats["duplicated"]++
				if flagDup {
					r.duplicateAcked(int32(mi), di)
				}
			} else if m.deliveries > 1 {
				stats["redeliveries"] += int64(m.deliveries - 1)
			}
			if !m.acked && m.status == enqOK {
				// Delivered, never acknowledged, never drained: it should
				// have been delivered again.
				if m.enqDone < r.drain {
					undelivered = append(undelivered, int32(mi))
				} else {
					stats["undrained"]++
				}
			}
			continue
		}
		if m.deliveries > 1 {
			stats["duplicated"]++
			stats["duplicate_deliveries"] += int64(m.deliveries - 1)
			if flagDup {
				r.duplicate(int32(mi))
			}
		}
	}
	stats["indeterminate_dequeues"] = int64(len(r.indet))

	// Losses dequeues of unknown outcome may explain (only without acks:
	// with acks, a message taken but not acknowledged must come back).
	excuse := 0
	if !r.acks {
		excuse = r.sized + r.open*max(r.batch, 1)
		if r.anyNum {
			excuse = math.MaxInt
		}
	}
	n := len(undelivered)
	switch {
	case n == 0:
	case n <= excuse:
		r.res.Properties["loss_note"] = fmt.Sprintf("%d ok enqueues never delivered may have been taken by the %d dequeues of unknown outcome", n, len(r.indet))
	case excuse > 0:
		stats["lost"] = int64(n - excuse)
		r.res.Properties["loss_note"] = fmt.Sprintf("%d ok enqueues were never delivered; the %d dequeues of unknown outcome may have taken %d of them", n, len(r.indet), excuse)
		if flagLost {
			r.lostSome(undelivered, excuse)
		}
	default:
		stats["lost"] = int64(n)
		if flagLost {
			for _, mi := range undelivered {
				r.lost(mi)
			}
		}
	}
	r.res.Properties["acks"] = "none"
	if r.acks {
		r.res.Properties["acks"] = "explicit"
	}
	switch {
	case r.c.AssumeDrained:
		r.res.Properties["drain"] = "assumed at the end of the history"
	case r.drain >= 0:
		r.res.Properties["drain"] = fmt.Sprintf("ok drain at op %d", r.ops[r.drain].Index)
	default:
		r.res.Properties["drain"] = "none: loss not checked"
	}
}

// opSpan names an op by its invocation and completion: "ops 3–4", or "op
// 3" when it never completed.
func (r *run) opSpan(inv, done int) string {
	if done < 0 {
		return fmt.Sprintf("op %d, never completed", r.ops[inv].Index)
	}
	return fmt.Sprintf("ops %d–%d", r.ops[inv].Index, r.ops[done].Index)
}

// enqName describes a message's enqueue: "message 5 (enqueued ok by
// process 2, ops 10–11)".
func (r *run) enqName(m *msg) string {
	if m.attemptInv < 0 {
		return "message " + m.id.String()
	}
	how := "ok"
	switch m.status {
	case enqInfo:
		how = "with unknown outcome"
	case enqFail:
		how = "and failed"
	}
	in := r.ops[m.attemptInv]
	where := ""
	if m.enqKey != "" {
		where = " to key " + m.enqKey
	}
	return fmt.Sprintf("message %s (enqueued %s by process %v%s, %s)", m.id, how, in.Process, where, r.opSpan(m.attemptInv, m.attemptDone))
}

func (r *run) delName(di int32) string {
	d := r.dels[di]
	what := "dequeue"
	if d.drain {
		what = "drain"
	}
	return fmt.Sprintf("%s by process %v (%s)", what, r.ops[d.inv].Process, r.opSpan(d.inv, d.done))
}

// anomaly records an anomaly involving ops at the given positions.
func (r *run) anomaly(kind, key, expl string, positions ...int) {
	r.kinds[kind]++
	if r.kinds[kind] > r.max {
		return
	}
	a := models.Anomaly{Kind: kind, Key: key, Explanation: expl, Time: math.MaxInt64}
	for _, p := range positions {
		if p < 0 || p >= len(r.ops) {
			continue
		}
		a.Ops = append(a.Ops, r.ops[p].Index)
		a.Time = min(a.Time, r.ops[p].Time)
	}
	if len(a.Ops) == 0 {
		a.Time = 0
	}
	slices.Sort(a.Ops)
	a.Ops = slices.Compact(a.Ops)
	r.res.Anomalies = append(r.res.Anomalies, a)
}

func (r *run) lost(mi int32) {
	m := &r.msgs[mi]
	if m.deliveries > 0 {
		d := r.dels[m.firstDel]
		r.anomaly(LostKind, m.enqKey, fmt.Sprintf("%s was delivered by a %s but never acknowledged, and was not delivered again, not even by %s",
			models.Capitalize(r.enqName(m)), r.delName(m.firstDel), r.drainName()), m.attemptInv, m.attemptDone, d.inv, d.done)
		return
	}
	r.anomaly(LostKind, m.enqKey, fmt.Sprintf("%s was never delivered, not even by %s", models.Capitalize(r.enqName(m)), r.drainName()), m.attemptInv, m.attemptDone)
}

func (r *run) drainName() string {
	if r.drain >= len(r.ops) || r.drain < 0 {
		return "the end of the history"
	}
	return fmt.Sprintf("the drain at op %d", r.ops[r.drain].Index)
}

// lostSome reports undelivered messages some of which dequeues of unknown
// outcome may have taken: one anomaly naming them all.
func (r *run) lostSome(undelivered []int32, excuse int) {
	var names []string
	var positions []int
	for i, mi := range undelivered {
		m := &r.msgs[mi]
		if i < 20 {
			names = append(names, m.id.String())
			positions = append(positions, m.attemptInv, m.attemptDone)
		}
	}
	if len(undelivered) > 20 {
		names = append(names, "...")
	}
	r.anomaly(LostKind, "", fmt.Sprintf("%d messages enqueued ok were never delivered, not even by %s (%s); the %d dequeues of unknown outcome may have taken at most %d of them, so at least %d were lost",
		len(undelivered), r.drainName(), strings.Join(names, ", "), len(r.indet), excuse, len(undelivered)-excuse), positions...)
}

func (r *run) duplicate(mi int32) {
	m := &r.msgs[mi]
	a, b := r.dels[m.firstDel], r.dels[m.secondDel]
	times := "twice"
	if m.deliveries > 2 {
		times = fmt.Sprintf("%d times", m.deliveries)
	}
	r.anomaly(DuplicatedKind, m.enqKey, fmt.Sprintf("%s was delivered %s: by a %s and by a %s",
		models.Capitalize(r.enqName(m)), times, r.delName(m.firstDel), r.delName(m.secondDel)),
		m.attemptInv, m.attemptDone, a.inv, a.done, b.inv, b.done)
}

func (r *run) duplicateAcked(mi, di int32) {
	m := &r.msgs[mi]
	d := r.dels[di]
	var after string
	if m.consOp >= 0 && r.ops[m.consOp].F == "drain" {
		after = fmt.Sprintf("a drain (%s) had taken it", r.opSpan(m.consOp, m.consumed))
	} else {
		after = fmt.Sprintf("its ack (%s) had succeeded", r.opSpan(m.consOp, m.consumed))
	}
	if d.inv <= m.consumed {
		after = fmt.Sprintf("the same drain (%s) had already listed it", r.opSpan(d.inv, d.done))
	}
	r.anomaly(DuplicatedKind, m.enqKey, fmt.Sprintf("%s was delivered again by a %s after %s",
		models.Capitalize(r.enqName(m)), r.delName(di), after),
		m.attemptInv, m.attemptDone, m.consOp, m.consumed, d.inv, d.done)
}

func (r *run) unexpected(mi int32) {
	m := &r.msgs[mi]
	di := m.firstDel
	var why string
	switch {
	case m.status == enqNone:
		why = "but never enqueued"
	case m.status == enqFail:
		why = fmt.Sprintf("but its enqueue failed (%s), so it never happened", r.opSpan(m.attemptInv, m.attemptDone))
	default:
		di = m.doneDel
		why = fmt.Sprintf("before it was enqueued (%s)", r.opSpan(m.attemptInv, m.attemptDone))
	}
	d := r.dels[di]
	r.anomaly(UnexpectedKind, m.enqKey, fmt.Sprintf("Message %s was delivered by a %s %s", m.id, r.delName(di), why),
		d.inv, d.done, m.attemptInv, m.attemptDone)
}

// verdict sets the verdict, the reason and the delivery properties.
func (r *run) verdict() {
	res, stats := &r.res, r.res.Stats
	noLoss := stats["lost"] == 0
	noDup := stats["duplicated"] == 0
	delivery := None
	switch {
	case noLoss && noDup:
		delivery = ExactlyOnce
	case noLoss:
		delivery = AtLeastOnce
	case noDup:
		delivery = AtMostOnce
	}
	if stats["undrained"] > 0 && delivery != None {
		// Without a drain, loss is unknown: only the duplicates speak.
		delivery = AtMostOnce
		if !noDup {
			delivery = None
		}
	}
	res.Properties["delivery"] = string(delivery)
	res.Properties["promise"] = string(r.c.promise())
	res.Properties["order"] = cmp.Or(string(r.c.Order), "none")
	for _, k := range []string{UnexpectedKind} {
		stats[k] = int64(r.kinds[k])
	}
	if r.c.Order != Unordered {
		stats["order_violations"] = int64(r.kinds[OrderKind])
	}

	var parts []string
	if len(res.Anomalies) > 0 {
		res.Verdict = models.Invalid
		first := func(a models.Anomaly) int64 {
			if len(a.Ops) == 0 {
				return -1
			}
			return a.Ops[0]
		}
		slices.SortStableFunc(res.Anomalies, func(a, b models.Anomaly) int { return cmp.Compare(first(a), first(b)) })
		var counts []string
		for _, k := range []string{LostKind, DuplicatedKind, UnexpectedKind, OrderKind} {
			if r.kinds[k] > 0 {
				counts = append(counts, fmt.Sprintf("%d %s", r.kinds[k], k))
			}
		}
		parts = append(parts, fmt.Sprintf("%s (promised: %s, order %s); first: %s",
			strings.Join(counts, ", "), r.c.promise(), res.Properties["order"], res.Anomalies[0].Explanation))
	}
	if len(r.bad) > 0 {
		parts = append(parts, fmt.Sprintf("%d malformed ops not judged: %s", stats["malformed"], strings.Join(r.bad, "; ")))
	}
	needLoss := r.c.promise() != AtMostOnce
	switch {
	case res.Verdict == models.Invalid:
	case len(r.bad) > 0:
		res.Verdict = models.Unknown
	case stats["enqueues"] == 0 && stats["delivered"] == 0:
		res.Verdict = models.Unknown
		parts = append(parts, "no enqueue or delivery to check")
	case needLoss && stats["undrained"] > 0:
		res.Verdict = models.Unknown
		parts = append(parts, fmt.Sprintf("%d ok enqueues were never consumed and no ok drain began after they completed, so they may still be queued (drain the queue, or set AssumeDrained)", stats["undrained"]))
	default:
		res.Verdict = models.Valid
	}
	res.Reason = strings.Join(parts, "; ")
}

// judgeOrder finds messages delivered after a message of the same stream
// that was enqueued after them. Each stream is swept once in enqueue
// order, so the check takes O(n) after bucketing by position.
func (r *run) judgeOrder() {
	// Streams: the producing process or the key of a message's first
	// non-failed enqueue attempt.
	ids := map[string]int32{}
	procs := map[history.Process]int32{}
	var names []string
	for mi := range r.msgs {
		m := &r.msgs[mi]
		if m.enqInv == never || m.unexpected {
			continue
		}
		if r.c.Order == PerProducer {
			s, ok := procs[m.enqProc]
			if !ok {
				s = int32(len(names))
				procs[m.enqProc] = s
				names = append(names, "producer "+m.enqProc.String())
			}
			m.stream = s
			continue
		}
		s, ok := ids[m.enqKey]
		if !ok {
			s = int32(len(names))
			ids[m.enqKey] = s
			name := "key " + m.enqKey
			if m.enqKey == "" {
				name = "the queue"
			}
			names = append(names, name)
		}
		m.stream = s
	}

	// Messages of each stream by enqueue invocation (byInv) and, for ok
	// ones, by enqueue completion (byDone): positions are unique per op,
	// so a counting sort by position does.
	n := len(names)
	startInv, startDone := make([]int32, n+1), make([]int32, n+1)
	for mi := range r.msgs {
		m := &r.msgs[mi]
		if m.stream < 0 {
			continue
		}
		startInv[m.stream+1]++
		if m.enqDone != never {
			startDone[m.stream+1]++
		}
	}
	for s := range n {
		startInv[s+1] += startInv[s]
		startDone[s+1] += startDone[s]
	}
	at := make([]int32, len(r.ops)) // position -> message+1
	place := func(pos func(*msg) int, start []int32) []int32 {
		clear(at)
		for mi := range r.msgs {
			m := &r.msgs[mi]
			if p := pos(m); m.stream >= 0 && p != never {
				at[p] = int32(mi) + 1
			}
		}
		out := make([]int32, start[n])
		fill := slices.Clone(start[:n])
		for _, mi := range at {
			if mi == 0 {
				continue
			}
			s := r.msgs[mi-1].stream
			out[fill[s]] = mi - 1
			fill[s]++
		}
		return out
	}
	byInv := place(func(m *msg) int { return m.enqInv }, startInv)
	byDone := place(func(m *msg) int { return m.enqDone }, startDone)

	// Different ops: b's delivery completed before every delivery of a
	// began, although a's enqueue completed before b's began.
	for s := range n {
		done := byDone[startDone[s]:startDone[s+1]]
		j, late, lateInv := 0, int32(-1), -1
		for _, b := range byInv[startInv[s]:startInv[s+1]] {
			mb := &r.msgs[b]
			for j < len(done) && r.msgs[done[j]].enqDone < mb.enqInv {
				if ma := &r.msgs[done[j]]; ma.deliveries > 0 {
					if inv := min(ma.minInv, r.unseenFrom(ma.enqInv)); inv > lateInv {
						late, lateInv = done[j], inv
					}
				}
				j++
			}
			if late >= 0 && mb.deliveries > 0 && lateInv > mb.minDone && !r.msgs[late].reordered {
				r.overtaken(late, b, names[s], mb.doneDel, -1)
			}
		}
	}

	// One batch: b listed before a. Only a's earliest delivery counts, and
	// only when no other delivery of a began before the batch completed.
	type seen struct {
		inv int // latest enqueue invocation of a message listed so far
		msg int32
	}
	batch := map[int32]seen{}
	for i := 0; i < len(r.dels); {
		j := i + 1
		for j < len(r.dels) && r.dels[j].inv == r.dels[i].inv {
			j++
		}
		if j-i > 1 {
			clear(batch)
			for di := i; di < j; di++ {
				d := r.dels[di]
				m := &r.msgs[d.msg]
				if m.stream < 0 {
					continue
				}
				prev, ok := batch[m.stream]
				if ok && m.enqDone < prev.inv && m.invDel == int32(di) && min(m.secondInv, r.unseenFrom(m.enqInv)) > d.done && !m.reordered {
					r.overtaken(d.msg, prev.msg, names[m.stream], int32(i), int32(di))
				}
				if !ok || m.enqInv > prev.inv {
					batch[m.stream] = seen{m.enqInv, d.msg}
				}
			}
		}
		i = j
	}
}

// unseenFrom returns the earliest position at which a dequeue of unknown
// outcome may have taken, unseen, a message whose enqueue began at pos:
// such a dequeue may take effect at any time after its invocation. Where
// a queue may deliver a message again (explicit acks, or an at-least-once
// promise), the message's first seen delivery may be a redelivery, which
// need not keep order, so order is judged only before that position.
func (r *run) unseenFrom(pos int) int {
	if len(r.indet) == 0 || !(r.acks || r.c.promise() == AtLeastOnce) {
		return never
	}
	return max(pos, r.indet[0])
}

// overtaken reports message a delivered after message b although a's
// enqueue completed before b's began. bDel is the delivery of b that came
// first; aDel, when not -1, is a's delivery in the same batch.
func (r *run) overtaken(a, b int32, stream string, bDel, aDel int32) {
	ma, mb := &r.msgs[a], &r.msgs[b]
	ma.reordered = true
	enq := fmt.Sprintf("%s was enqueued ok (%s) before %s's enqueue began (%s)",
		ma.id, r.opSpan(ma.attemptInv, ma.attemptDone), mb.id, r.opSpan(mb.enqInv, mb.enqInvDone))
	bd := r.dels[bDel]
	var expl string
	var ad delivery
	if aDel >= 0 {
		ad = r.dels[aDel]
		expl = fmt.Sprintf("Message %s overtook message %s on %s: %s, yet the %s listed %s before %s",
			mb.id, ma.id, stream, enq, r.delName(aDel), mb.id, ma.id)
	} else {
		ad = r.dels[ma.invDel]
		expl = fmt.Sprintf("Message %s overtook message %s on %s: %s, yet a %s delivered %s before any delivery of %s began (the first, a %s)",
			mb.id, ma.id, stream, enq, r.delName(bDel), mb.id, ma.id, r.delName(ma.invDel))
	}
	key := ""
	if r.c.Order == PerKey {
		key = ma.enqKey
	}
	r.anomaly(OrderKind, key, expl, ma.attemptInv, ma.attemptDone, mb.enqInv, mb.enqInvDone, bd.inv, bd.done, ad.inv, ad.done)
}
