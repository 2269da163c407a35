package sequential

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/models/linear"
)

func inv(p history.Process, f string, v any) history.Op {
	return history.Op{Process: p, Type: history.Invoke, F: f, Value: v}
}
func ok(p history.Process, f string, v any) history.Op {
	return history.Op{Process: p, Type: history.OK, F: f, Value: v}
}
func info(p history.Process, f string, v any) history.Op {
	return history.Op{Process: p, Type: history.Info, F: f, Value: v}
}
func fail(p history.Process, f string, v any) history.Op {
	return history.Op{Process: p, Type: history.Fail, F: f, Value: v}
}

// onKey sets the key of an op.
func onKey(key string, o history.Op) history.Op { o.Key = key; return o }

// h numbers ops in order.
func h(ops ...history.Op) []history.Op {
	for i := range ops {
		ops[i].Index = int64(i)
		ops[i].Time = int64(i) * 10
	}
	return ops
}

func TestHandWritten(t *testing.T) {
	tests := []struct {
		name    string
		checker *Checker
		ops     []history.Op
		verdict models.Verdict
		linear  models.Verdict // the linearizability verdict, when it differs
		kind    string
		key     string
		anomaly []int64
		explain string
	}{
		{
			name: "stale read on a follower", checker: &Checker{}, verdict: models.Valid, linear: models.Invalid,
			ops: h(
				inv(0, "write", 1), ok(0, "write", 1), inv(0, "write", 2), ok(0, "write", 2),
				inv(1, "read", nil), ok(1, "read", 1),
			),
		},
		{
			name: "reads go backwards", checker: &Checker{}, verdict: models.Invalid, kind: NonMonotonicReadKind, anomaly: []int64{0, 1, 2, 3, 4, 5, 6, 7},
			ops: h(
				inv(0, "write", 1), ok(0, "write", 1), inv(0, "write", 2), ok(0, "write", 2),
				inv(1, "read", nil), ok(1, "read", 2), inv(1, "read", nil), ok(1, "read", 1),
			),
			explain: "Non-monotonic read: process 1's read → 1 (ops 6–7), after process 1's read → 2 (ops 4–5) had seen the value of process 0's write 2 (ops 2–3), but the value comes from process 0's write 1 (ops 0–1), which precedes process 0's write 2 (ops 2–3) in its process's own order",
		},
		{
			name: "own write lost", checker: &Checker{}, verdict: models.Invalid, kind: ReadYourWritesKind, key: "x", anomaly: []int64{0, 1, 2, 3},
			ops: h(
				onKey("x", inv(0, "write", 1)), onKey("x", ok(0, "write", 1)), onKey("x", inv(0, "read", nil)), onKey("x", ok(0, "read", nil)),
			),
			explain: "Read-your-writes violation: process 0's read → nil (ops 2–3), after its own process 0's write 1 (ops 0–1), but the register is never unset again once process 0's write 1 (ops 0–1) has taken effect",
		},
		{
			name: "each reads the other's old value", checker: &Checker{}, verdict: models.Invalid, kind: AnomalyKind, anomaly: []int64{5, 7},
			ops: h(
				inv(0, "write", 1), inv(1, "write", 2), ok(0, "write", 1), inv(0, "read", nil), ok(1, "write", 2), inv(1, "read", nil), ok(0, "read", 2), ok(1, "read", 1),
			),
			explain: "No order of the 4 ops of the history that keeps each process's own order is a legal run of the register: the longest such order places 3 of the 4 ops whose outcome is known, after which the register holds 2, and process 1's read → 1 (ops 5–7) cannot follow it",
		},
		{
			name: "indeterminate write placed early", checker: &Checker{}, verdict: models.Valid, linear: models.Invalid, ops: h(
				inv(0, "write", 1), info(0, "write", 1), inv(1, "read", nil), ok(1, "read", 1), inv(2, "read", nil), ok(2, "read", nil),
			),
		},
		{
			name: "indeterminate write left out", checker: &Checker{}, verdict: models.Valid, ops: h(
				inv(0, "write", 1), info(0, "write", 1), inv(1, "read", nil), ok(1, "read", nil),
			),
		},
		{
			name: "failed write seen", checker: &Checker{}, verdict: models.Invalid, kind: AnomalyKind, anomaly: []int64{2, 3},
			ops:     h(inv(0, "write", 1), fail(0, "write", 1), inv(1, "read", nil), ok(1, "read", 1)),
			explain: "No order of the 1 ops of the history that keeps each process's own order is a legal run of the register: the longest such order places 0 of the 1 ops whose outcome is known, after which the register is unset (nil), and process 1's read → 1 (ops 2–3) cannot follow it",
		},
		{
			name: "jepsen tuples, stale", checker: &Checker{}, verdict: models.Valid, linear: models.Invalid, ops: h(
				inv(0, "write", []any{int64(5), int64(1)}), ok(0, "write", []any{int64(5), int64(1)}),
				inv(0, "write", []any{int64(5), int64(2)}), ok(0, "write", []any{int64(5), int64(2)}),
				inv(1, "read", []any{int64(5), nil}), ok(1, "read", []any{int64(5), int64(1)}),
			),
		},
		{
			name: "queue empty on a follower", checker: &Checker{Model: linear.FIFOQueue}, verdict: models.Valid, linear: models.Invalid, ops: h(
				inv(0, "enqueue", 1), ok(0, "enqueue", 1), inv(1, "dequeue", nil), ok(1, "dequeue", nil),
			),
		},
		{
			name: "queue out of order", checker: &Checker{Model: linear.FIFOQueue}, verdict: models.Invalid, kind: AnomalyKind, anomaly: []int64{4, 5},
			ops: h(
				inv(0, "enqueue", 1), ok(0, "enqueue", 1), inv(0, "enqueue", 2), ok(0, "enqueue", 2), inv(1, "dequeue", nil), ok(1, "dequeue", 2),
			),
			explain: "No order of the 3 ops of the history that keeps each process's own order is a legal run of the queue: the longest such order places 2 of the 3 ops whose outcome is known, after which the queue holds [1 2] (head first), and process 1's dequeue → 2 (ops 4–5) cannot follow it",
		},
		{
			name: "lock held twice", checker: &Checker{Model: linear.Mutex}, verdict: models.Invalid, kind: AnomalyKind, anomaly: []int64{2, 3},
			ops:     h(inv(0, "acquire", nil), ok(0, "acquire", nil), inv(1, "acquire", nil), ok(1, "acquire", nil)),
			explain: "No order of the 2 ops of the history that keeps each process's own order is a legal run of the lock: the longest such order places 1 of the 2 ops whose outcome is known, after which the lock is held by process 0, and process 1's acquire (ops 2–3) cannot follow it",
		},
		{
			name: "counter read late", checker: &Checker{Model: linear.Counter}, verdict: models.Valid, linear: models.Invalid, ops: h(
				inv(0, "add", 1), ok(0, "add", 1), inv(0, "add", 1), ok(0, "add", 1), inv(1, "read", nil), ok(1, "read", 1),
			),
		},
		{
			name: "set lost add", checker: &Checker{Model: linear.Set}, verdict: models.Invalid, kind: AnomalyKind, anomaly: []int64{2, 3},
			ops:     h(inv(0, "add", 1), ok(0, "add", 1), inv(0, "read", nil), ok(0, "read", nil)),
			explain: "No order of the 2 ops of the history that keeps each process's own order is a legal run of the set: the longest such order places 1 of the 2 ops whose outcome is known, after which the set holds {1}, and process 0's read → {} (ops 2–3) cannot follow it",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tt.checker.Check(context.Background(), tt.ops, models.Options{})
			if res.Checker != Name || res.Model != tt.checker.model() || res.Properties["scope"] != "per-key" || res.Properties["sessions"] != "process" {
				t.Errorf("checker %q model %q properties %v", res.Checker, res.Model, res.Properties)
			}
			if res.Verdict != tt.verdict {
				t.Fatalf("verdict %s (%s), want %s", res.Verdict, res.Reason, tt.verdict)
			}
			lin := (&linear.Checker{Model: tt.checker.model()}).Check(context.Background(), tt.ops, models.Options{})
			want := tt.linear
			if want == "" {
				want = tt.verdict
			}
			if lin.Verdict != want {
				t.Errorf("linearizability: %s (%s), want %s", lin.Verdict, lin.Reason, want)
			}
			if tt.verdict == models.Valid {
				if len(res.Anomalies) != 0 || res.Reason != "" {
					t.Errorf("valid with anomalies %+v, reason %q", res.Anomalies, res.Reason)
				}
				return
			}
			if len(res.Anomalies) != 1 {
				t.Fatalf("anomalies %+v, want 1", res.Anomalies)
			}
			a := res.Anomalies[0]
			if a.Kind != tt.kind || a.Key != tt.key || !reflect.DeepEqual(a.Ops, tt.anomaly) {
				t.Errorf("anomaly kind %q key %q ops %v, want %q %q %v", a.Kind, a.Key, a.Ops, tt.kind, tt.key, tt.anomaly)
			}
			if a.Explanation != tt.explain {
				t.Errorf("explanation\n  %s\nwant\n  %s", a.Explanation, tt.explain)
			}
			if res.Reason != a.Explanation {
				t.Errorf("reason %q is not the explanation", res.Reason)
			}
		})
	}
}

// TestNotLocal: each key on its own is sequentially consistent, the store
// is not (two processes each write one key, then read the other's old
// value), so only the whole-store check finds it.
func TestNotLocal(t *testing.T) {
	ops := h(
		onKey("x", inv(0, "write", 1)), onKey("y", inv(1, "write", 1)),
		onKey("x", ok(0, "write", 1)), onKey("y", ok(1, "write", 1)),
		onKey("y", inv(0, "read", nil)), onKey("x", inv(1, "read", nil)),
		onKey("y", ok(0, "read", nil)), onKey("x", ok(1, "read", nil)),
	)
	res := (&Checker{}).Check(context.Background(), ops, models.Options{})
	if res.Verdict != models.Valid || res.Stats["keys"] != 2 {
		t.Errorf("per key: %s (%s) stats %v, want valid over 2 keys", res.Verdict, res.Reason, res.Stats)
	}
	res = (&Checker{Whole: true}).Check(context.Background(), ops, models.Options{})
	if res.Verdict != models.Invalid || res.Properties["scope"] != "whole" || res.Stats["keys"] != 1 {
		t.Fatalf("whole: %s (%s) %v %v, want invalid", res.Verdict, res.Reason, res.Properties, res.Stats)
	}
	want := "No order of the 4 ops of the history that keeps each process's own order is a legal run of the store: the longest such order places 3 of the 4 ops whose outcome is known, after which the store is such that key x holds 1, key y holds 1, and process 1's read → nil on key x (ops 5–7) cannot follow it"
	if a := res.Anomalies[0]; a.Explanation != want || !reflect.DeepEqual(a.Ops, []int64{5, 7}) {
		t.Errorf("whole: anomaly %+v\nwant explanation\n  %s", a, want)
	}
	// Keys that are fine together stay fine.
	ops[6].Value = int64(1)
	if res := (&Checker{Whole: true}).Check(context.Background(), ops, models.Options{}); res.Verdict != models.Valid {
		t.Errorf("whole, one read sees the write: %s (%s)", res.Verdict, res.Reason)
	}
}

func TestUncheckable(t *testing.T) {
	tests := []struct {
		name    string
		checker *Checker
		ops     []history.Op
		reason  string
	}{
		{"empty", &Checker{}, nil, "no read, write or cas ops with a known or possible effect to check"},
		{"unknown model", &Checker{Model: "stack"}, nil, `unknown model "stack"`},
		{"bad value", &Checker{}, h(inv(0, "write", "x"), ok(0, "write", "x")), "the history cannot be checked: op 0 (process 0): write of x: not an integer"},
		{"bad key in whole", &Checker{Whole: true}, h(inv(0, "write", "x"), ok(0, "write", "x")), "write of x: not an integer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tt.checker.Check(context.Background(), tt.ops, models.Options{})
			if res.Verdict != models.Unknown || !strings.Contains(res.Reason, tt.reason) {
				t.Errorf("verdict %s reason %q, want unknown with %q", res.Verdict, res.Reason, tt.reason)
			}
		})
	}
}

// hardHistory: n processes each acquire and release a lock, and one more
// releases a lock it never held, so no order exists and the search must
// try every interleaving of the others (about n·2ⁿ nodes).
func hardHistory(n int) []history.Op {
	var ops []history.Op
	for p := range n {
		pr := history.Process(p)
		ops = append(ops, inv(pr, "acquire", nil), ok(pr, "acquire", nil), inv(pr, "release", nil), ok(pr, "release", nil))
	}
	ops = append(ops, inv(history.Process(n), "release", nil), ok(history.Process(n), "release", nil))
	return h(ops...)
}

func TestTimeout(t *testing.T) {
	ops := hardHistory(22)
	c := &Checker{Model: linear.Mutex, Timeout: 50 * time.Millisecond}
	start := time.Now()
	res := c.Check(context.Background(), ops, models.Options{})
	took := time.Since(start)
	if res.Verdict != models.Unknown {
		t.Fatalf("verdict %s (%s), want unknown", res.Verdict, res.Reason)
	}
	if want := "sequential consistency check (45 ops, 0 indeterminate) timed out after 50ms"; res.Reason != want {
		t.Errorf("reason %q, want %q", res.Reason, want)
	}
	if took > 2*time.Second {
		t.Errorf("check took %v after a 50ms timeout", took)
	}
	if res.Stats["unknown_keys"] != 1 || res.Stats["nodes"] == 0 {
		t.Errorf("stats %v", res.Stats)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res = (&Checker{Model: linear.Mutex}).Check(ctx, ops, models.Options{})
	if res.Verdict != models.Unknown || !strings.Contains(res.Reason, "stopped after") || !strings.Contains(res.Reason, "context canceled") {
		t.Errorf("cancelled: %s %q", res.Verdict, res.Reason)
	}

	// Small enough to finish: the same shape is decided invalid.
	res = (&Checker{Model: linear.Mutex}).Check(context.Background(), hardHistory(6), models.Options{})
	if res.Verdict != models.Invalid {
		t.Errorf("6 processes: %s (%s), want invalid", res.Verdict, res.Reason)
	}
}

func TestModels(t *testing.T) {
	reg := Models()
	want := map[string]string{
		Sequential: linear.KV, SequentialWhole: linear.KV, SequentialMutex: linear.Mutex,
		SequentialFIFOQueue: linear.FIFOQueue, SequentialSet: linear.Set, SequentialCounter: linear.Counter,
	}
	if len(reg) != len(want) {
		t.Errorf("%d models, want %d", len(reg), len(want))
	}
	for name, model := range want {
		e, err := reg.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		c := e.New()
		if e.Summary == "" || c.Name() != Name {
			t.Errorf("%s: summary %q name %q", name, e.Summary, c.Name())
		}
		if res := c.Check(context.Background(), nil, models.Options{}); res.Model != model {
			t.Errorf("%s checks model %q, want %q", name, res.Model, model)
		}
	}
	// Each New is a fresh checker.
	a, b := reg[SequentialWhole].New().(*Checker), reg[SequentialWhole].New().(*Checker)
	if a == b || !a.Whole {
		t.Errorf("New returned %p and %p, whole %v", a, b, a.Whole)
	}
}
