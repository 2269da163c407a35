package workloads

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/models/lock"
)

// TestLockHistoriesAgainstCheckers: a correct lock service is valid, also
// with timeouts and refusals; one that grants a held lock is caught holding
// it twice, and one whose tokens repeat is caught by the fencing check.
func TestLockHistoriesAgainstCheckers(t *testing.T) {
	l := Lock{Hold: 2 * time.Millisecond}
	runCases(t, []workloadCase{
		{name: "correct", wl: l, workers: 6, ops: 100, want: models.Valid},
		{name: "correct, flaky", wl: l, flaky: true, workers: 6, ops: 100, want: models.Valid},
		{name: "two holders", wl: l, bug: "double-grant", workers: 6, ops: 100, want: models.Invalid, caught: lock.Name, kind: lock.DoubleHoldKind},
		{name: "repeated token", wl: l, bug: "stuck-token", workers: 6, ops: 100, want: models.Invalid, caught: lock.Name, kind: lock.FencingRepeatKind},
	})
}

// TestLockHistoriesAgainstMutexModel: the history is in the shape
// porcupine's mutex model reads too (owners named by the ops), so
// `faultline check --model mutex` judges it: valid for a correct service
// without lapsing leases, invalid for one that grants a held lock.
func TestLockHistoriesAgainstMutexModel(t *testing.T) {
	l := Lock{Hold: 2 * time.Millisecond}
	mutex := mutexOnly{l}
	runCases(t, []workloadCase{
		{name: "correct", wl: mutex, flaky: true, workers: 6, ops: 100, want: models.Valid},
		{name: "two holders", wl: mutex, bug: "double-grant", workers: 6, ops: 100, want: models.Invalid, caught: "mutex", kind: ""},
	})
}

// mutexOnly is the lock workload judged by the mutex model.
type mutexOnly struct{ Lock }

func (mutexOnly) Models() []string { return []string{"mutex"} }

// TestLockGeneratorFollowsHolds: a worker releases what it holds, retries
// a refused release, and forgets its lock after an info (a new process).
func TestLockGeneratorFollowsHolds(t *testing.T) {
	g := Lock{Hold: -1}.NewGenerator(Config{Concurrency: 2})
	next := func(w int) history.Op { return g.Next(w, nil) }
	done := func(op history.Op, proc history.Process, typ history.Type, answered bool) {
		op.Process, op.Type, op.Answered = proc, typ, answered
		g.Complete(op)
	}
	a := next(1)
	if a.F != "acquire" {
		t.Fatalf("first op %v, want acquire", a)
	}
	done(a, 1, history.OK, false)
	r := next(1)
	if r.F != "release" || r.Key != a.Key || r.Value != a.Value {
		t.Fatalf("after an ok acquire %v: %v, want release of %s by the same owner", a, r, a.Key)
	}
	done(r, 1, history.Fail, false) // refused: still held
	if r2 := next(1); r2.F != "release" {
		t.Fatalf("after a refused release: %v, want release again", r2)
	}
	done(r, 1, history.Info, false) // indeterminate: process 3 starts afresh
	if a2 := next(1); a2.F != "acquire" {
		t.Fatalf("after an info release: %v, want acquire", a2)
	}
	if o := next(0); o.F != "acquire" || o.Value == a.Value {
		t.Fatalf("worker 0: %v, want acquire by a new owner", o)
	}
	// Process 3 is worker 1 again.
	done(a, 3, history.OK, false)
	r3 := next(1)
	if r3.F != "release" {
		t.Fatalf("process 3 after an ok acquire: %v, want release", r3)
	}
	done(r3, 3, history.Fail, true) // lease lapsed: not held any more
	if a3 := next(1); a3.F != "acquire" {
		t.Fatalf("after a lapsed release: %v, want acquire", a3)
	}
}

type stubLock struct {
	token    int64
	held     bool
	err      error
	released bool
}

func (s *stubLock) Close() error { return nil }
func (s *stubLock) Acquire(context.Context, string, time.Duration) (int64, bool, error) {
	return s.token, s.held, s.err
}
func (s *stubLock) Release(context.Context, string) (bool, error) { return s.released, s.err }

// TestLockInvokeOutcomes: the ok/fail/info rule and the token's place.
func TestLockInvokeOutcomes(t *testing.T) {
	timeout := context.DeadlineExceeded
	refused := Definite(errors.New("no leader"))
	tests := []struct {
		name     string
		f        string
		c        stubLock
		want     history.Type
		answered bool
		value    any
	}{
		{"acquire with token", "acquire", stubLock{token: 42, held: true}, history.OK, false, map[string]any{"owner": "0.1", "token": int64(42)}},
		{"acquire without token", "acquire", stubLock{held: true}, history.OK, false, "0.1"},
		{"acquire held elsewhere", "acquire", stubLock{}, history.Fail, true, "0.1"},
		{"acquire timeout", "acquire", stubLock{err: timeout}, history.Info, false, "0.1"},
		{"acquire refused", "acquire", stubLock{err: refused}, history.Fail, false, "0.1"},
		{"release ok", "release", stubLock{released: true}, history.OK, false, "0.1"},
		{"release lapsed", "release", stubLock{}, history.Fail, true, "0.1"},
		{"release timeout", "release", stubLock{err: timeout}, history.Info, false, "0.1"},
	}
	for _, tt := range tests {
		got := Lock{}.Invoke(context.Background(), &tt.c, history.Op{Type: history.Invoke, F: tt.f, Key: "0", Value: "0.1"})
		if got.Type != tt.want || got.Answered != tt.answered {
			t.Errorf("%s: %s answered=%v, want %s answered=%v (%s)", tt.name, got.Type, got.Answered, tt.want, tt.answered, got.Error)
		}
		if !reflect.DeepEqual(got.Value, tt.value) {
			t.Errorf("%s: value %v, want %v", tt.name, got.Value, tt.value)
		}
	}
}
