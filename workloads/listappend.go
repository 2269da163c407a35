package workloads

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"

	"github.com/faultline/faultline/models/history"
)

// ListAppend is Elle's list-append workload: transactions of 1 to 4
// micro-ops, each an append of a value unique to its key or a read of a
// whole list, over a small pool of keys; a key that has taken its share of
// appends is retired for a fresh one, so lists stay short and reads cheap.
//
// History (no key): F "txn" whose value is a list of micro-ops
// ["append", k, v] and ["r", k, nil]; the ok completion carries the lists
// read (["r", k, [v1 v2 ...]], nil for a list that does not exist yet).
// Keys k are integers in the history and their decimal strings for the
// client (MicroOp.Key).
type ListAppend struct {
	// Keys is how many keys are in play at once (DefaultListKeys when 0).
	Keys int
	// MaxTxnLen bounds a transaction's micro-ops (DefaultMaxTxnLen when 0).
	MaxTxnLen int
}

// Defaults of the list-append workload, close to Elle's.
const (
	DefaultListKeys  = 5
	DefaultMaxTxnLen = 4
	// DefaultAppendsPerKey is how many appends a key takes before it is
	// retired (Config.OpsPerKey overrides it).
	DefaultAppendsPerKey = 100
)

// TxnF is the F of a list-append transaction.
const TxnF = "txn"

// Name implements Workload.
func (ListAppend) Name() string { return "list-append" }

// Summary implements Workload.
func (ListAppend) Summary() string {
	return "transactions of appends and list reads over a small rotating key space (Elle list-append); checked for G0, G1, G2 and real-time cycles"
}

// Models implements Workload.
func (ListAppend) Models() []string { return []string{"list-append"} }

// CheckClient implements Workload.
func (ListAppend) CheckClient(c Client) error {
	if _, ok := c.(TxnClient); !ok {
		return fmt.Errorf("client %T does not implement the list-append workload", c)
	}
	return nil
}

// NewGenerator implements Workload.
func (l ListAppend) NewGenerator(cfg Config) Generator {
	return newListGen(l.Keys, l.MaxTxnLen, cfg, MicroAppend, false)
}

// newListGen returns the generator of list-append and rw-register: keys
// in play at once, at most maxLen micro-ops per transaction, write the
// micro-op that adds a value unique to its key.
func newListGen(keys, maxLen int, cfg Config, write string, readFirst bool) *listGen {
	g := &listGen{keys: keys, maxLen: maxLen, perKey: int64(cfg.OpsPerKey), appended: map[int64]int64{}, write: write, readFirst: readFirst}
	if g.keys <= 0 {
		g.keys = DefaultListKeys
	}
	if g.maxLen <= 0 {
		g.maxLen = DefaultMaxTxnLen
	}
	if g.perKey <= 0 {
		g.perKey = DefaultAppendsPerKey
	}
	for range g.keys {
		g.active = append(g.active, g.fresh())
	}
	return g
}

type listGen struct {
	keys, maxLen int
	perKey       int64
	// write is the micro-op that adds a value (MicroAppend, or MicroWrite
	// for rw-register); readFirst makes a write to a key the transaction
	// has not touched yet follow a read of it half the time.
	write     string
	readFirst bool

	mu       sync.Mutex
	active   []int64         // keys in play
	appended map[int64]int64 // appends handed out per key (also the last value)
	used     []int64         // every key in order of first use
	nextKey  int64
}

// fresh returns a new key; callers hold g.mu (or own g).
func (g *listGen) fresh() int64 {
	k := g.nextKey
	g.nextKey++
	g.used = append(g.used, k)
	return k
}

func (g *listGen) Next(_ int, rng *rand.Rand) history.Op {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 1 + rng.IntN(g.maxLen)
	mops := make([]any, 0, n)
	for len(mops) < n {
		i := rng.IntN(len(g.active))
		k := g.active[i]
		if rng.IntN(2) == 0 {
			mops = append(mops, []any{MicroRead, k, nil})
			continue
		}
		if g.readFirst && len(mops)+2 <= n && !touches(mops, k) && rng.IntN(2) == 0 {
			mops = append(mops, []any{MicroRead, k, nil})
		}
		g.appended[k]++
		mops = append(mops, []any{g.write, k, g.appended[k]})
		if g.appended[k] >= g.perKey {
			g.active[i] = g.fresh()
		}
	}
	return history.Op{Type: history.Invoke, F: TxnF, Value: mops}
}

func (g *listGen) Complete(history.Op) {}

// Final reads every key used, a few keys per transaction.
func (g *listGen) Final() []history.Op {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []history.Op
	for i := 0; i < len(g.used); i += g.maxLen {
		var mops []any
		for _, k := range g.used[i:min(i+g.maxLen, len(g.used))] {
			mops = append(mops, []any{MicroRead, k, nil})
		}
		out = append(out, history.Op{Type: history.Invoke, F: TxnF, Value: mops})
	}
	return out
}

// microOps turns a txn invocation's value into the client's micro-ops;
// readOnly is true when none appends.
func microOps(v any) ([]MicroOp, bool, error) { return parseTxn(v, MicroAppend) }

// parseTxn reads a txn invocation's value: [f k v] micro-ops that are
// reads or, for f write (MicroAppend or MicroWrite), writes of integer
// values to integer keys; readOnly is true when none writes.
func parseTxn(v any, write string) (ops []MicroOp, readOnly bool, err error) {
	list, ok := v.([]any)
	if !ok {
		return nil, false, fmt.Errorf("txn value %v is not a list of micro-ops", v)
	}
	readOnly = true
	for _, x := range list {
		m, ok := x.([]any)
		if !ok || len(m) != 3 {
			return nil, false, fmt.Errorf("micro-op %v is not [f k v]", x)
		}
		f, _ := m[0].(string)
		k, ok := history.Int(m[1])
		if !ok {
			return nil, false, fmt.Errorf("micro-op %v: key is not an integer", x)
		}
		op := MicroOp{F: f, Key: strconv.FormatInt(k, 10)}
		switch f {
		case write:
			if op.Value, ok = history.Int(m[2]); !ok {
				return nil, false, fmt.Errorf("micro-op %v: value is not an integer", x)
			}
			readOnly = false
		case MicroRead:
		default:
			return nil, false, fmt.Errorf("micro-op %v: unknown f %q", x, f)
		}
		ops = append(ops, op)
	}
	return ops, readOnly, nil
}

// Invoke implements Workload.
func (ListAppend) Invoke(ctx context.Context, c Client, op history.Op) history.Op {
	tc, ok := c.(TxnClient)
	if !ok {
		return complete(op, Definite(fmt.Errorf("client %T does not serve the list-append workload", c)), false)
	}
	if op.F != TxnF {
		return complete(op, Definite(fmt.Errorf("list-append workload: unknown f %q", op.F)), false)
	}
	mops, readOnly, err := microOps(op.Value)
	if err != nil {
		return complete(op, Definite(err), false)
	}
	got, err := tc.Transact(ctx, mops)
	if err == nil && len(got) != len(mops) {
		// It may have committed: indeterminate, not fail.
		err = errors.New("the client returned " + strconv.Itoa(len(got)) + " micro-ops for " + strconv.Itoa(len(mops)))
	}
	out := complete(op, err, readOnly)
	if err != nil {
		return out
	}
	// The invocation's micro-ops, with the lists the client read.
	val := make([]any, len(mops))
	for i, m := range mops {
		k, _ := strconv.ParseInt(m.Key, 10, 64)
		switch m.F {
		case MicroAppend:
			val[i] = []any{MicroAppend, k, m.Value}
		default:
			var read any // nil: the list does not exist
			if got[i].Read != nil {
				read = intList(got[i].Read, false)
			}
			val[i] = []any{MicroRead, k, read}
		}
	}
	out.Value = val
	return out
}
