package workloads

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/faultline/faultline/models/history"
)

// RWRegister is Elle's rw-register workload: transactions of 1 to 4
// micro-ops, each a write of a value unique to its key or a read of a
// register, over a small rotating pool of keys (as ListAppend's). Half the
// writes to a key a transaction has not touched yet follow a read of that
// key, so the checker can order versions by "writes follow reads" (a
// blind write's place among the others cannot be recovered).
//
// History (no key): F "txn" whose value is a list of micro-ops
// ["w", k, v] and ["r", k, nil]; the ok completion carries the values
// read (["r", k, v], nil for a register never written). Keys k are
// integers in the history and their decimal strings for the client
// (RWMicroOp.Key).
type RWRegister struct {
	// Keys is how many keys are in play at once (DefaultListKeys when 0).
	Keys int
	// MaxTxnLen bounds a transaction's micro-ops (DefaultMaxTxnLen when 0).
	MaxTxnLen int
}

// MicroWrite is the micro-op kind of a register write; reads are
// MicroRead.
const MicroWrite = "w"

// RWMicroOp is one step of a rw-register transaction: a write of Value to
// the register at Key, or a read of it.
type RWMicroOp struct {
	// F is MicroWrite or MicroRead.
	F string
	// Key names the register.
	Key string
	// Value is the value written, or for a read the value read.
	Value int64
	// Found is false for a read of a register never written (nil).
	Found bool
}

// RWTxnClient serves the rw-register workload: transactions of writes to
// and reads of registers.
type RWTxnClient interface {
	Client
	// TransactRW runs ops in one transaction and returns them with reads
	// filled in. A transaction refused or rolled back is a Definite error.
	TransactRW(ctx context.Context, ops []RWMicroOp) ([]RWMicroOp, error)
}

// Name implements Workload.
func (RWRegister) Name() string { return "rw-register" }

// Summary implements Workload.
func (RWRegister) Summary() string {
	return "transactions of writes (unique per key) and reads of registers over a small rotating key space (Elle rw-register); checked for G0, G1, G2, lost updates and real-time cycles"
}

// Models implements Workload.
func (RWRegister) Models() []string { return []string{"rw-register"} }

// CheckClient implements Workload.
func (RWRegister) CheckClient(c Client) error {
	if _, ok := c.(RWTxnClient); !ok {
		return fmt.Errorf("client %T does not implement the rw-register workload", c)
	}
	return nil
}

// NewGenerator implements Workload: Config.OpsPerKey is how many writes a
// key takes before it is retired (DefaultAppendsPerKey when 0).
func (r RWRegister) NewGenerator(cfg Config) Generator {
	return newListGen(r.Keys, r.MaxTxnLen, cfg, MicroWrite, true)
}

// touches reports whether the micro-ops mops use key k.
func touches(mops []any, k int64) bool {
	for _, m := range mops {
		if m.([]any)[1] == k {
			return true
		}
	}
	return false
}

// rwMicroOps turns a txn invocation's value into the client's micro-ops;
// readOnly is true when none writes.
func rwMicroOps(v any) ([]RWMicroOp, bool, error) {
	ops, readOnly, err := parseTxn(v, MicroWrite)
	if err != nil {
		return nil, false, err
	}
	out := make([]RWMicroOp, len(ops))
	for i, m := range ops {
		out[i] = RWMicroOp{F: m.F, Key: m.Key, Value: m.Value}
	}
	return out, readOnly, nil
}

// Invoke implements Workload.
func (RWRegister) Invoke(ctx context.Context, c Client, op history.Op) history.Op {
	tc, ok := c.(RWTxnClient)
	if !ok {
		return complete(op, Definite(fmt.Errorf("client %T does not serve the rw-register workload", c)), false)
	}
	if op.F != TxnF {
		return complete(op, Definite(fmt.Errorf("rw-register workload: unknown f %q", op.F)), false)
	}
	mops, readOnly, err := rwMicroOps(op.Value)
	if err != nil {
		return complete(op, Definite(err), false)
	}
	got, err := tc.TransactRW(ctx, mops)
	if err == nil && len(got) != len(mops) {
		// It may have committed: indeterminate, not fail.
		err = errors.New("the client returned " + strconv.Itoa(len(got)) + " micro-ops for " + strconv.Itoa(len(mops)))
	}
	out := complete(op, err, readOnly)
	if err != nil {
		return out
	}
	// The invocation's micro-ops, with the values the client read.
	val := make([]any, len(mops))
	for i, m := range mops {
		k, _ := strconv.ParseInt(m.Key, 10, 64)
		switch m.F {
		case MicroWrite:
			val[i] = []any{MicroWrite, k, m.Value}
		default:
			var read any // nil: never written
			if got[i].Found {
				read = got[i].Value
			}
			val[i] = []any{MicroRead, k, read}
		}
	}
	out.Value = val
	return out
}
