package workloads

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/bank"
	"github.com/faultline/faultline/models/history"
)

// TestBankHistoriesAgainstCheckers: a store with atomic transfers keeps
// the total in every read; one that loses a credit now and then is caught.
func TestBankHistoriesAgainstCheckers(t *testing.T) {
	runCases(t, []workloadCase{
		{name: "correct", wl: Bank{}, workers: 6, ops: 200, want: models.Valid},
		{name: "correct, flaky", wl: Bank{}, flaky: true, workers: 6, ops: 200, want: models.Valid},
		{name: "lost credits", wl: Bank{}, bug: "lose-credit", workers: 6, ops: 200, want: models.Invalid, caught: bank.Name, kind: bank.WrongTotalKind},
	})
}

// TestBankAccounts: the opening balances share the total, the remainder in
// account 0, and Prepare hands them to the client.
func TestBankAccounts(t *testing.T) {
	tests := []struct {
		b    Bank
		want map[string]int64
	}{
		{Bank{}, map[string]int64{"0": 20, "1": 20, "2": 20, "3": 20, "4": 20}},
		{Bank{Accounts: 3, Total: 10}, map[string]int64{"0": 4, "1": 3, "2": 3}},
	}
	for _, tt := range tests {
		got := tt.b.OpeningBalances()
		if len(got) != len(tt.want) {
			t.Errorf("%+v: balances %v, want %v", tt.b, got, tt.want)
		}
		for a, v := range tt.want {
			if got[a] != v {
				t.Errorf("%+v: balances %v, want %v", tt.b, got, tt.want)
			}
		}
		s := newFakeStore("", false)
		if err := tt.b.Prepare(context.Background(), &fakeClient{s}); err != nil {
			t.Fatal(err)
		}
		if len(s.accounts) != len(tt.want) {
			t.Errorf("%+v: prepared %v", tt.b, s.accounts)
		}
	}
}

// TestBankTransfers: transfers name two different known accounts and an
// amount within bounds.
func TestBankTransfers(t *testing.T) {
	b := Bank{Accounts: 3, MaxTransfer: 2}
	g := b.NewGenerator(Config{Concurrency: 1})
	rng := rand.New(rand.NewPCG(5, 6))
	for range 500 {
		op := g.Next(0, rng)
		if op.F == "read" {
			continue
		}
		from, to, amount, err := transferOf(op.Value)
		if err != nil {
			t.Fatal(err)
		}
		if from == to || amount < 1 || amount > 2 || from > "2" || to > "2" {
			t.Fatalf("transfer %v", op.Value)
		}
	}
	if f := g.Final(); len(f) != 1 || f[0].F != "read" || f[0].Type != history.Invoke {
		t.Errorf("final %v, want one read", f)
	}
}

// TestBankCheckerKnowsTheTotal: money missing from the very first read is
// found by the workload's own checker, not by the catalog's, which takes
// the total from that read.
func TestBankCheckerKnowsTheTotal(t *testing.T) {
	short := map[string]any{"0": 10, "1": 20, "2": 20, "3": 20, "4": 20} // 90 of 100
	ops := []history.Op{
		{Index: 0, Type: history.Invoke, Process: 0, F: "read"},
		{Index: 1, Type: history.OK, Process: 0, F: "read", Value: short},
		{Index: 2, Type: history.Invoke, Process: 0, F: "read"},
		{Index: 3, Type: history.OK, Process: 0, F: "read", Value: short},
	}
	tests := []struct {
		name    string
		checker models.Checker
		want    models.Verdict
	}{
		{"workload's checker", Bank{}.Checker("bank"), models.Invalid},
		{"catalog's checker", bank.New(), models.Valid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.checker.Check(context.Background(), ops, models.Options{}); got.Verdict != tt.want {
				t.Errorf("verdict %s (%s), want %s", got.Verdict, got.Reason, tt.want)
			}
		})
	}
	if (Bank{}).Checker("set") != nil {
		t.Error("Bank configures a checker for another model")
	}
}
