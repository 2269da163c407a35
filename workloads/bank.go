package workloads

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/bank"
	"github.com/faultline/faultline/models/history"
)

// Bank is Jepsen's bank workload: a fixed set of accounts created once by
// Prepare, transfers of small amounts between random accounts (each one
// transaction that refuses to overdraw), and reads of every balance at
// once. The total never changes under snapshot isolation.
//
// History (no key): F "transfer" with value {"from": account, "to":
// account, "amount": int}; F "read" whose ok value maps each account to its
// balance. Accounts are named "0", "1", ... (the bank checker reads them as
// integers).
type Bank struct {
	// Accounts is how many accounts there are (DefaultBankAccounts when 0).
	Accounts int
	// Total is the money shared evenly among them at the start
	// (DefaultBankTotal when 0); the remainder goes to account 0.
	Total int64
	// MaxTransfer bounds a transfer's amount (DefaultMaxTransfer when 0).
	MaxTransfer int64
}

// Defaults of the bank workload, Jepsen's.
const (
	DefaultBankAccounts = 5
	DefaultBankTotal    = 100
	DefaultMaxTransfer  = 5
)

// Name implements Workload.
func (Bank) Name() string { return "bank" }

// Summary implements Workload.
func (b Bank) Summary() string {
	b = b.withDefaults()
	return fmt.Sprintf("transfers between %d accounts holding %d in all, and reads of every balance; every read totals %d, none negative",
		b.Accounts, b.Total, b.Total)
}

// Models implements Workload.
func (Bank) Models() []string { return []string{"bank"} }

// Checker implements CheckerMaker: the bank checker told the total and the
// accounts, so that money wrong from the first read on is found too.
func (b Bank) Checker(model string) models.Checker {
	if model != "bank" {
		return nil
	}
	b = b.withDefaults()
	return bank.NewWithTotal(b.Total, b.AccountNames()...)
}

// CheckClient implements Workload.
func (Bank) CheckClient(c Client) error {
	if _, ok := c.(BankClient); !ok {
		return fmt.Errorf("client %T does not implement the bank workload", c)
	}
	return nil
}

func (b Bank) withDefaults() Bank {
	if b.Accounts <= 1 {
		b.Accounts = DefaultBankAccounts
	}
	if b.Total <= 0 {
		b.Total = DefaultBankTotal
	}
	if b.MaxTransfer <= 0 {
		b.MaxTransfer = DefaultMaxTransfer
	}
	return b
}

// AccountNames returns the accounts' names, in order.
func (b Bank) AccountNames() []string {
	b = b.withDefaults()
	out := make([]string, b.Accounts)
	for i := range out {
		out[i] = strconv.Itoa(i)
	}
	return out
}

// OpeningBalances returns each account's balance before any transfer.
func (b Bank) OpeningBalances() map[string]int64 {
	b = b.withDefaults()
	out := map[string]int64{}
	n := int64(b.Accounts)
	for i, a := range b.AccountNames() {
		out[a] = b.Total / n
		if i == 0 {
			out[a] += b.Total % n
		}
	}
	return out
}

var _ Preparer = Bank{}

// Prepare implements Preparer: it creates the accounts.
func (b Bank) Prepare(ctx context.Context, c Client) error {
	bc, ok := c.(BankClient)
	if !ok {
		return fmt.Errorf("client %T does not implement the bank workload", c)
	}
	if err := bc.CreateAccounts(ctx, b.OpeningBalances()); err != nil {
		return fmt.Errorf("create bank accounts: %w", err)
	}
	return nil
}

// NewGenerator implements Workload.
func (b Bank) NewGenerator(Config) Generator {
	b = b.withDefaults()
	return &bankGen{b: b, accounts: b.AccountNames()}
}

type bankGen struct {
	b        Bank
	accounts []string // read-only after construction: no lock needed
}

func (g *bankGen) Next(_ int, rng *rand.Rand) history.Op {
	if rng.IntN(2) == 0 {
		return history.Op{Type: history.Invoke, F: "read"}
	}
	from := rng.IntN(len(g.accounts))
	to := rng.IntN(len(g.accounts) - 1)
	if to >= from {
		to++
	}
	return history.Op{Type: history.Invoke, F: "transfer", Value: map[string]any{
		"from": g.accounts[from], "to": g.accounts[to], "amount": 1 + rng.Int64N(g.b.MaxTransfer),
	}}
}

func (g *bankGen) Complete(history.Op) {}

// Final reads every balance once from every node.
func (g *bankGen) Final() []history.Op {
	return []history.Op{{Type: history.Invoke, F: "read"}}
}

// transferOf reads a transfer invocation's value.
func transferOf(v any) (from, to string, amount int64, err error) {
	m, ok := v.(map[string]any)
	if !ok {
		return "", "", 0, fmt.Errorf("transfer %v is not {from, to, amount}", v)
	}
	from, ok1 := m["from"].(string)
	to, ok2 := m["to"].(string)
	amount, ok3 := history.Int(m["amount"])
	if !ok1 || !ok2 || !ok3 {
		return "", "", 0, fmt.Errorf("transfer %v is not {from, to, amount}", v)
	}
	return from, to, amount, nil
}

// Invoke implements Workload.
func (Bank) Invoke(ctx context.Context, c Client, op history.Op) history.Op {
	bc, ok := c.(BankClient)
	if !ok {
		return complete(op, Definite(fmt.Errorf("client %T does not serve the bank workload", c)), false)
	}
	switch op.F {
	case "transfer":
		from, to, amount, err := transferOf(op.Value)
		if err != nil {
			return complete(op, Definite(err), false)
		}
		return complete(op, bc.Transfer(ctx, from, to, amount), false)
	case "read":
		bal, err := bc.ReadBalances(ctx)
		if err == nil && bal == nil {
			err = errors.New("no balances read")
		}
		out := complete(op, err, true)
		if err == nil {
			m := make(map[string]any, len(bal))
			for a, v := range bal {
				m[a] = v
			}
			out.Value = m
		}
		return out
	}
	return complete(op, Definite(fmt.Errorf("bank workload: unknown f %q", op.F)), false)
}
