package workloads

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"

	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/models/kafka"
)

// Kafka is the kafka workload (Maelstrom's, after Jepsen's kafka test):
// workers send unique integer messages to a few log keys and consume them
// as consumers: each worker keeps its own position per key and polls every
// key from there, advancing past what it was given; now and then it
// commits the offsets it has consumed and lists the committed offsets.
// After the faults are healed every node reads each log whole from offset 0.
//
// History, as package models/kafka reads it: F "send" with Key the log and
// the message as value, its ok value [offset, message]; F "poll" whose
// invocation value maps each key to the offset asked for and whose ok value
// maps keys to [[offset, message] ...]; F "commit-offsets" with a map of
// keys to offsets; F "list-committed-offsets" whose invocation value lists
// the keys and whose ok value maps keys to offsets; F "final-poll" with Key
// the log, polled from 0 until a poll returns nothing more (ok), its value
// as a poll's (info when cut short, with what it read).
type Kafka struct {
	// Keys is how many logs are in play (KafkaKeys when 0).
	Keys int
}

// Kafka workload defaults.
const (
	// KafkaKeys is how many logs workers send to and poll.
	KafkaKeys = 4
	// kafkaFinalPolls bounds the polls of one final read of a log.
	kafkaFinalPolls = 10_000
)

// Name implements Workload.
func (Kafka) Name() string { return "kafka" }

// Summary implements Workload.
func (Kafka) Summary() string {
	return "unique sends to a few append-only logs, consumers polling from their own offsets, commits and committed-offset reads, each log read whole at the end; checked for lost, duplicated and inconsistent offsets, skipping or backward polls and lost commits"
}

// Models implements Workload.
func (Kafka) Models() []string { return []string{kafka.Name} }

// CheckClient implements Workload.
func (Kafka) CheckClient(c Client) error {
	if _, ok := c.(LogClient); !ok {
		return fmt.Errorf("client %T does not implement the kafka workload", c)
	}
	return nil
}

// kafkaKey names log i.
func kafkaKey(i int) string { return "k" + strconv.Itoa(i) }

// NewGenerator implements Workload.
func (k Kafka) NewGenerator(cfg Config) Generator {
	g := &kafkaGen{keys: k.Keys, workers: max(cfg.Concurrency, 1), pos: map[int]map[string]int64{}, committed: map[string]int64{}}
	if g.keys <= 0 {
		g.keys = KafkaKeys
	}
	return g
}

type kafkaGen struct {
	keys, workers int

	mu   sync.Mutex
	next int64 // last message handed out
	// pos is each worker's consumer position: the next offset to poll per
	// key (the last consumed is one less).
	pos map[int]map[string]int64
	// committed is the highest offset handed out in a commit, per key, so
	// commits of a key rise and a lower one never overwrites a higher.
	committed map[string]int64
}

func (g *kafkaGen) position(w int) map[string]int64 {
	p := g.pos[w]
	if p == nil {
		p = map[string]int64{}
		g.pos[w] = p
	}
	return p
}

func (g *kafkaGen) Next(w int, rng *rand.Rand) history.Op {
	g.mu.Lock()
	defer g.mu.Unlock()
	pos := g.position(w)
	r := rng.IntN(100)
	if r < 10 {
		// Commit what this worker consumed beyond what is committed.
		offs := map[string]any{}
		for key, p := range pos {
			if c, ok := g.committed[key]; p > 0 && (!ok || p-1 > c) {
				offs[key] = p - 1
				g.committed[key] = p - 1
			}
		}
		if len(offs) > 0 {
			return history.Op{Type: history.Invoke, F: kafka.CommitF, Value: offs}
		}
		r = 99
	}
	switch {
	case r < 50:
		g.next++
		return history.Op{Type: history.Invoke, F: kafka.SendF, Key: kafkaKey(rng.IntN(g.keys)), Value: g.next}
	case r < 95:
		offs := map[string]any{}
		for i := range g.keys {
			offs[kafkaKey(i)] = pos[kafkaKey(i)]
		}
		return history.Op{Type: history.Invoke, F: kafka.PollF, Value: offs}
	}
	keys := make([]any, g.keys)
	for i := range keys {
		keys[i] = kafkaKey(i)
	}
	return history.Op{Type: history.Invoke, F: kafka.ListCommittedF, Value: keys}
}

// Complete moves the worker's consumer position past what an ok poll gave
// it. A worker's processes are w, w+W, w+2W, ... (a new one after each info).
func (g *kafkaGen) Complete(op history.Op) {
	if op.F != kafka.PollF || op.Type != history.OK || op.Process < 0 {
		return
	}
	msgs, ok := kafka.Msgs(op.Value)
	if !ok {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	pos := g.position(int(op.Process) % g.workers)
	for key, es := range msgs {
		for _, e := range es {
			pos[key] = max(pos[key], e.Offset+1)
		}
	}
}

func (g *kafkaGen) Final() []history.Op {
	out := make([]history.Op, g.keys)
	for i := range out {
		key := kafkaKey(i)
		out[i] = history.Op{Type: history.Invoke, F: kafka.FinalPollF, Key: key, Value: map[string]any{key: int64(0)}}
	}
	return out
}

// entriesValue is a poll's value for the history.
func entriesValue(msgs map[string][]LogEntry) map[string]any {
	out := make(map[string]any, len(msgs))
	for key, es := range msgs {
		l := make([]any, len(es))
		for i, e := range es {
			l[i] = []any{e.Offset, e.Msg}
		}
		out[key] = l
	}
	return out
}

func offsetsValue(offs map[string]int64) map[string]any {
	out := make(map[string]any, len(offs))
	for k, o := range offs {
		out[k] = o
	}
	return out
}

// Invoke implements Workload.
func (Kafka) Invoke(ctx context.Context, c Client, op history.Op) history.Op {
	lc, ok := c.(LogClient)
	if !ok {
		return complete(op, Definite(fmt.Errorf("client %T does not serve the kafka workload", c)), false)
	}
	switch op.F {
	case kafka.SendF:
		msg, ok := history.Int(op.Value)
		if !ok {
			return complete(op, Definite(fmt.Errorf("send of %v: not an integer message", op.Value)), false)
		}
		off, err := lc.Send(ctx, op.Key, msg)
		out := complete(op, err, false)
		if out.Type == history.OK {
			out.Value = []any{off, msg}
		}
		return out
	case kafka.PollF:
		offs, ok := kafka.Offsets(op.Value)
		if !ok {
			return complete(op, Definite(fmt.Errorf("poll of %v: not a map of keys to offsets", op.Value)), true)
		}
		msgs, err := lc.Poll(ctx, offs)
		out := complete(op, err, true)
		if out.Type == history.OK {
			out.Value = entriesValue(msgs)
		}
		return out
	case kafka.CommitF:
		offs, ok := kafka.Offsets(op.Value)
		if !ok {
			return complete(op, Definite(fmt.Errorf("commit of %v: not a map of keys to offsets", op.Value)), false)
		}
		return complete(op, lc.CommitOffsets(ctx, offs), false)
	case kafka.ListCommittedF:
		var keys []string
		if l, ok := op.Value.([]any); ok {
			for _, k := range l {
				if s, ok := k.(string); ok {
					keys = append(keys, s)
				}
			}
		}
		offs, err := lc.ListCommittedOffsets(ctx, keys)
		out := complete(op, err, true)
		if out.Type == history.OK {
			out.Value = offsetsValue(offs)
		}
		return out
	case kafka.FinalPollF:
		return finalPoll(ctx, lc, op)
	}
	return complete(op, Definite(fmt.Errorf("kafka workload: unknown f %q", op.F)), false)
}

// finalPoll reads the log op.Key from offset 0 until a poll returns nothing
// more: ok with everything read, or info with what was read before an
// error or a poll that did not move forward (fail when nothing was read).
func finalPoll(ctx context.Context, lc LogClient, op history.Op) history.Op {
	key := op.Key
	var read []LogEntry
	next := int64(0)
	var err error
	whole := false
	for range kafkaFinalPolls {
		var msgs map[string][]LogEntry
		msgs, err = lc.Poll(ctx, map[string]int64{key: next})
		if err != nil {
			break
		}
		es := msgs[key]
		if len(es) == 0 {
			whole = true
			break
		}
		read = append(read, es...)
		last := next
		for _, e := range es {
			last = max(last, e.Offset+1)
		}
		if last <= next {
			err = fmt.Errorf("final poll of %s: a poll from offset %d returned nothing beyond it", key, next)
			break
		}
		next = last
	}
	if err == nil && !whole {
		err = fmt.Errorf("final poll of %s: still not at the end after %d polls", key, kafkaFinalPolls)
	}
	val := entriesValue(map[string][]LogEntry{key: read})
	out := op
	out.Type, out.Value = history.OK, val
	if err != nil {
		out.Error = err.Error()
		out.Type = history.Info
		if len(read) == 0 {
			out.Type, out.Value = history.Fail, nil
		}
	}
	return out
}
