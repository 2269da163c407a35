package workloads

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// TransactRW serves rw-register from the fake store, keeping each
// register as a list whose last element is its value. Bug "stale-read"
// answers some reads with the value before the last write; "lose-write"
// acknowledges some writes it drops.
func (c *fakeClient) TransactRW(_ context.Context, ops []RWMicroOp) ([]RWMicroOp, error) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	refuse, timeout := s.step()
	if refuse {
		return nil, errFakeRefused
	}
	out := slices.Clone(ops)
	for i, m := range out {
		s.n++
		switch m.F {
		case MicroWrite:
			if !s.every("lose-write", 7) {
				s.lists[m.Key] = append(s.lists[m.Key], m.Value)
			}
		case MicroRead:
			l := s.lists[m.Key]
			if s.every("stale-read", 5) && len(l) > 0 {
				l = l[:len(l)-1]
			}
			if len(l) > 0 {
				out[i].Value, out[i].Found = l[len(l)-1], true
			}
		}
	}
	if timeout {
		return nil, errFakeTimeout
	}
	return out, nil
}

// TestRWRegisterHistoriesAgainstCheckers: a serializable store is valid,
// also with timeouts and refusals; one that serves stale reads or drops
// acknowledged writes is caught.
func TestRWRegisterHistoriesAgainstCheckers(t *testing.T) {
	runCases(t, []workloadCase{
		{name: "correct", wl: RWRegister{}, workers: 6, ops: 200, want: models.Valid},
		{name: "correct, flaky", wl: RWRegister{}, flaky: true, workers: 6, ops: 200, want: models.Valid},
		{name: "stale reads", wl: RWRegister{}, bug: "stale-read", workers: 6, ops: 200, want: models.Invalid, caught: "rw-register"},
		{name: "lost writes", wl: RWRegister{}, bug: "lose-write", workers: 6, ops: 200, want: models.Invalid, caught: "rw-register"},
	})
}

// TestRWRegisterGenerator: 1 to 4 micro-ops per transaction, writes and
// reads only, values unique per key, some writes after a read of their
// key, keys retired, and final reads of every key.
func TestRWRegisterGenerator(t *testing.T) {
	g := RWRegister{Keys: 3}.NewGenerator(Config{Concurrency: 2, OpsPerKey: 20})
	rng := rand.New(rand.NewPCG(7, 8))
	seen := map[int64]map[int64]bool{}
	readFirst := 0
	for i := range 500 {
		op := g.Next(i%2, rng)
		mops, _, err := rwMicroOps(op.Value)
		if err != nil {
			t.Fatal(err)
		}
		if op.F != TxnF || len(mops) < 1 || len(mops) > DefaultMaxTxnLen {
			t.Fatalf("txn %v", op.Value)
		}
		for j, m := range mops {
			k, _ := history.Int(op.Value.([]any)[j].([]any)[1])
			if seen[k] == nil {
				seen[k] = map[int64]bool{}
			}
			if m.F != MicroWrite {
				continue
			}
			if seen[k][m.Value] || m.Value > 20 {
				t.Fatalf("write %d to %d: repeated or past the key's share", m.Value, k)
			}
			seen[k][m.Value] = true
			if j > 0 && mops[j-1].F == MicroRead && mops[j-1].Key == m.Key {
				readFirst++
			}
		}
	}
	if len(seen) < 10 {
		t.Errorf("only %d keys used: keys are not retired", len(seen))
	}
	if readFirst < 20 {
		t.Errorf("only %d writes follow a read of their key", readFirst)
	}
	reads := 0
	for _, op := range g.Final() {
		mops, readOnly, err := rwMicroOps(op.Value)
		if err != nil || !readOnly {
			t.Fatalf("final %v: %v", op.Value, err)
		}
		reads += len(mops)
	}
	if reads != len(seen) {
		t.Errorf("final reads cover %d keys, want %d", reads, len(seen))
	}
}

// TestRWMicroOpsRefuses: malformed transactions are one clear error.
func TestRWMicroOpsRefuses(t *testing.T) {
	for _, v := range []any{
		"x",
		[]any{[]any{"append", int64(1), int64(2)}},
		[]any{[]any{"w", "k", int64(2)}},
		[]any{[]any{"w", int64(1), "v"}},
		[]any{[]any{"r", int64(1)}},
	} {
		if _, _, err := rwMicroOps(v); err == nil {
			t.Errorf("%v: no error", v)
		}
	}
}
