package workloads

import (
	"context"
	"time"
)

// The client interfaces below are what a target implements, per workload,
// on the Client it returns for one worker and one node. Errors follow the
// package rule: wrap with Definite (or Answer) only when the op certainly
// did not take effect; any other error makes a write info.

// SetClient serves the set workload: grow-only sets of unique integers,
// one per key.
type SetClient interface {
	Client
	// AddElement adds elem to the set at key.
	AddElement(ctx context.Context, key string, elem int64) error
	// ReadSet returns every element of the set at key (empty when the set
	// was never written).
	ReadSet(ctx context.Context, key string) ([]int64, error)
}

// CounterClient serves the counter workload: integer counters, one per key,
// starting at 0.
type CounterClient interface {
	Client
	// Increment adds delta to the counter at key.
	Increment(ctx context.Context, key string, delta int64) error
	// ReadCounter returns the counter's value (0 when never written).
	ReadCounter(ctx context.Context, key string) (int64, error)
}

// BankClient serves the bank workload: a fixed set of accounts whose total
// never changes.
type BankClient interface {
	Client
	// CreateAccounts sets up the accounts with their opening balances. It
	// is called once, before any transfer, and must be safe to call again
	// after an error (idempotent).
	CreateAccounts(ctx context.Context, balances map[string]int64) error
	// Transfer moves amount from one account to another in one
	// transaction. It refuses (with Answer) a transfer that would overdraw
	// from, unless negative balances are allowed.
	Transfer(ctx context.Context, from, to string, amount int64) error
	// ReadBalances reads every account in one transaction.
	ReadBalances(ctx context.Context) (map[string]int64, error)
}

// MicroOp is one step of a list-append transaction: an append of Value to
// the list at Key, or a read of that list.
type MicroOp struct {
	// F is MicroAppend or MicroRead.
	F string
	// Key names the list.
	Key string
	// Value is the element appended (appends only).
	Value int64
	// Read is the list a read returned, in order (reads only; nil when the
	// list does not exist yet).
	Read []int64
}

// Micro-op kinds of a list-append transaction.
const (
	MicroAppend = "append"
	MicroRead   = "r"
)

// TxnClient serves the list-append workload: transactions of appends to
// and reads of lists, under the target's isolation level.
type TxnClient interface {
	Client
	// Transact runs ops in one transaction and returns them with reads
	// filled in. A transaction refused or rolled back (a serialization
	// failure, a deadlock) is a Definite error.
	Transact(ctx context.Context, ops []MicroOp) ([]MicroOp, error)
}

// LockClient serves the lock workload: named locks with a lease.
type LockClient interface {
	Client
	// Acquire takes the lock called name for at most ttl. held=false with
	// a nil error means the lock is certainly held by someone else and
	// nothing was taken. token is the fencing token the service issued
	// with the grant, or 0 when it issues none.
	Acquire(ctx context.Context, name string, ttl time.Duration) (token int64, held bool, err error)
	// Release gives the lock back. held=false with a nil error means this
	// client certainly no longer held it (its lease had lapsed) and
	// nothing was released.
	Release(ctx context.Context, name string) (held bool, err error)
}
