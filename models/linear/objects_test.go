package linear

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// Builders for hand-written histories: seq numbers the ops in order.
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

// onKey sets the key of ops.
func onKey(key string, ops ...history.Op) []history.Op {
	for i := range ops {
		ops[i].Key = key
	}
	return ops
}

func seq(parts ...[]history.Op) []history.Op {
	var out []history.Op
	for _, p := range parts {
		for _, o := range p {
			o.Index = int64(len(out))
			o.Time = o.Index * 10
			out = append(out, o)
		}
	}
	return out
}

func h(ops ...history.Op) []history.Op { return seq(ops) }

func list(vs ...int64) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}

type objectCase struct {
	name    string
	ops     []history.Op
	verdict models.Verdict
	kind    string
	key     string
	anomaly []int64 // history indexes the anomaly names
	explain string  // the explanation, exactly
	reason  string  // part of the reason (unknown verdicts)
}

func runObjectCases(t *testing.T, model string, cases []objectCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			res := (&Checker{Model: model}).Check(context.Background(), tt.ops, models.Options{})
			if res.Model != model || res.Checker != Name {
				t.Errorf("checker %q model %q", res.Checker, res.Model)
			}
			if res.Verdict != tt.verdict {
				t.Fatalf("verdict %s (%s), want %s", res.Verdict, res.Reason, tt.verdict)
			}
			switch tt.verdict {
			case models.Valid:
				if len(res.Anomalies) != 0 || res.Reason != "" {
					t.Errorf("valid with anomalies %+v, reason %q", res.Anomalies, res.Reason)
				}
			case models.Unknown:
				if !strings.Contains(res.Reason, tt.reason) {
					t.Errorf("reason %q, want it to contain %q", res.Reason, tt.reason)
				}
			case models.Invalid:
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
			}
		})
	}
}

func TestKV(t *testing.T) {
	runObjectCases(t, KV, []objectCase{
		{name: "jepsen tuples", verdict: models.Valid, ops: h(
			inv(0, "write", list(1, 3)), ok(0, "write", list(1, 3)),
			inv(1, "write", list(2, 5)), inv(0, "read", []any{int64(1), nil}), ok(1, "write", list(2, 5)), ok(0, "read", list(1, 3)),
			inv(0, "cas", []any{int64(1), list(3, 4)}), ok(0, "cas", []any{int64(1), list(3, 4)}),
			inv(1, "read", []any{int64(2), nil}), ok(1, "read", list(2, 5)),
			inv(1, "read", []any{"k", nil}), ok(1, "read", []any{"k", nil}),
		)},
		{name: "keys and plain values", verdict: models.Valid, ops: seq(
			onKey("a", inv(0, "write", 1), ok(0, "write", 1)),
			onKey("b", inv(1, "read", nil), ok(1, "read", nil)),
			onKey("a", inv(1, "cas", list(1, 2)), ok(1, "cas", list(1, 2))),
		)},
		{name: "stale read in tuples", verdict: models.Invalid, kind: StaleReadKind, key: "1", anomaly: []int64{0, 1, 2, 3, 6, 7},
			ops: h(
				inv(0, "write", list(1, 1)), ok(0, "write", list(1, 1)),
				inv(0, "write", list(1, 2)), ok(0, "write", list(1, 2)),
				inv(2, "write", list(2, 9)), ok(2, "write", list(2, 9)),
				inv(1, "read", []any{int64(1), nil}), ok(1, "read", list(1, 1)),
			),
			explain: "Stale read on key 1: process 1's read → 1 (ops 6–7), but 1 had been overwritten by process 0's write 2 (ops 2–3), which completed before the read began and started after process 0's write 1 (ops 0–1) had completed"},
		{name: "read of another key", verdict: models.Unknown, reason: "read of key 1 returned a value of key 2", ops: h(
			inv(0, "read", []any{int64(1), nil}), ok(0, "read", list(2, 3)),
		)},
	})
}

func TestMutex(t *testing.T) {
	runObjectCases(t, Mutex, []objectCase{
		{name: "handed over", verdict: models.Valid, ops: h(
			inv(0, "acquire", nil), ok(0, "acquire", nil), inv(0, "release", nil), ok(0, "release", nil),
			inv(1, "acquire", nil), ok(1, "acquire", nil), inv(1, "release", nil), ok(1, "release", nil),
		)},
		{name: "waits while held", verdict: models.Valid, ops: h(
			inv(0, "acquire", nil), inv(1, "acquire", nil), ok(0, "acquire", nil),
			inv(0, "release", nil), ok(0, "release", nil), ok(1, "acquire", nil),
		)},
		{name: "indeterminate acquire never happened", verdict: models.Valid, ops: h(
			inv(0, "acquire", nil), info(0, "acquire", nil),
			inv(1, "acquire", nil), ok(1, "acquire", nil),
		)},
		{name: "failed acquire", verdict: models.Valid, ops: h(
			inv(0, "acquire", nil), ok(0, "acquire", nil),
			inv(1, "acquire", nil), fail(1, "acquire", nil),
		)},
		{name: "owner named in the value survives a new process", verdict: models.Valid, ops: h(
			inv(0, "acquire", "w0"), info(0, "acquire", "w0"),
			inv(4, "release", "w0"), ok(4, "release", "w0"),
			inv(1, "acquire", "w1"), ok(1, "acquire", "w1"),
		)},
		{name: "lock held twice", verdict: models.Invalid, kind: LockHeldTwiceKind, anomaly: []int64{0, 1, 2, 3},
			ops:     h(inv(0, "acquire", nil), ok(0, "acquire", nil), inv(1, "acquire", nil), ok(1, "acquire", nil)),
			explain: "Lock held twice on the history: process 0's acquire (ops 0–1) succeeded, then process 1's acquire (ops 2–3) succeeded although no release by process 0 can fall between them"},
		{name: "lock held twice, concurrently", verdict: models.Invalid, kind: LockHeldTwiceKind, key: "l", anomaly: []int64{0, 1, 2, 3},
			ops:     onKey("l", h(inv(0, "acquire", nil), inv(1, "acquire", nil), ok(0, "acquire", nil), ok(1, "acquire", nil))...),
			explain: "Lock held twice on key l: process 0's acquire (ops 0–2) and process 1's acquire (ops 1–3) both succeeded, but no release by process 0 can fall after the first and before the second, nor one by process 1 after the second and before the first"},
		{name: "release by a non-owner", verdict: models.Invalid, kind: AnomalyKind, anomaly: []int64{0, 1, 2, 3},
			ops:     h(inv(0, "acquire", nil), ok(0, "acquire", nil), inv(1, "release", nil), ok(1, "release", nil)),
			explain: "Process 1's release (ops 2–3) cannot be linearized: after the longest linearizable prefix of the history (1 of its 2 ops) the lock is held by process 0, from process 0's acquire (ops 0–1), so process 1 cannot release it, and no other order of the ops fits real time either"},
		{name: "release of a free lock", verdict: models.Invalid, kind: AnomalyKind, anomaly: []int64{0, 1},
			ops:     h(inv(0, "release", nil), ok(0, "release", nil)),
			explain: "Process 0's release (ops 0–1) cannot be linearized: no op of the history can take effect before it, and initially the lock is free, so there is nothing to release"},
		{name: "bad owner", verdict: models.Unknown, reason: "acquire by [1]: the owner is neither an integer nor a string",
			ops: h(inv(0, "acquire", list(1)), ok(0, "acquire", list(1)))},
	})
}

func TestFIFOQueue(t *testing.T) {
	runObjectCases(t, FIFOQueue, []objectCase{
		{name: "in order", verdict: models.Valid, ops: h(
			inv(0, "enqueue", 1), ok(0, "enqueue", 1), inv(0, "enqueue", 2), ok(0, "enqueue", 2),
			inv(1, "dequeue", nil), ok(1, "dequeue", 1), inv(1, "dequeue", nil), ok(1, "dequeue", 2),
			inv(1, "dequeue", nil), ok(1, "dequeue", nil),
		)},
		{name: "concurrent enqueues in either order", verdict: models.Valid, ops: h(
			inv(0, "enqueue", 1), inv(2, "enqueue", 2), ok(0, "enqueue", 1), ok(2, "enqueue", 2),
			inv(1, "dequeue", nil), ok(1, "dequeue", 2), inv(1, "dequeue", nil), ok(1, "dequeue", 1),
		)},
		{name: "indeterminate enqueue happened", verdict: models.Valid, ops: h(
			inv(0, "enqueue", 3), info(0, "enqueue", 3), inv(1, "dequeue", nil), ok(1, "dequeue", 3),
		)},
		{name: "indeterminate dequeue took the head", verdict: models.Valid, ops: h(
			inv(0, "enqueue", 1), ok(0, "enqueue", 1), inv(1, "dequeue", nil), info(1, "dequeue", nil),
			inv(2, "dequeue", nil), ok(2, "dequeue", nil),
		)},
		{name: "never enqueued", verdict: models.Invalid, kind: UnexpectedDequeueKind, anomaly: []int64{2, 3},
			ops:     h(inv(0, "enqueue", 1), ok(0, "enqueue", 1), inv(1, "dequeue", nil), ok(1, "dequeue", 5)),
			explain: "Unexpected dequeue on the history: process 1's dequeue → 5 (ops 2–3) returned 5, which was never enqueued"},
		{name: "dequeued before enqueued", verdict: models.Invalid, kind: UnexpectedDequeueKind, anomaly: []int64{0, 1, 2, 3},
			ops:     h(inv(1, "dequeue", nil), ok(1, "dequeue", 1), inv(0, "enqueue", 1), info(0, "enqueue", 1)),
			explain: "Unexpected dequeue on the history: process 1's dequeue → 1 (ops 0–1) returned 1 before any enqueue of it began: the first, process 0's indeterminate enqueue 1 (ops 2–3), began after the dequeue had completed"},
		{name: "dequeued twice", verdict: models.Invalid, kind: DuplicateDequeueKind, anomaly: []int64{0, 1, 2, 3, 4, 5},
			ops:     h(inv(0, "enqueue", 1), ok(0, "enqueue", 1), inv(1, "dequeue", nil), ok(1, "dequeue", 1), inv(2, "dequeue", nil), ok(2, "dequeue", 1)),
			explain: "Duplicate dequeue on the history: 1 was dequeued twice, by process 1's dequeue → 1 (ops 2–3) and process 2's dequeue → 1 (ops 4–5), but enqueued only once, by process 0's enqueue 1 (ops 0–1)"},
		{name: "out of order", verdict: models.Invalid, kind: AnomalyKind, anomaly: []int64{4, 5},
			ops:     h(inv(0, "enqueue", 1), ok(0, "enqueue", 1), inv(0, "enqueue", 2), ok(0, "enqueue", 2), inv(1, "dequeue", nil), ok(1, "dequeue", 2)),
			explain: "Process 1's dequeue → 2 (ops 4–5) cannot be linearized: after the longest linearizable prefix of the history (2 of its 3 ops) the queue holds [1 2] (head first), so the dequeue should have returned 1, not 2, and no other order of the ops fits real time either"},
		{name: "empty while not", verdict: models.Invalid, kind: AnomalyKind, key: "q", anomaly: []int64{2, 3},
			ops:     onKey("q", h(inv(0, "enqueue", 1), ok(0, "enqueue", 1), inv(1, "dequeue", nil), ok(1, "dequeue", nil))...),
			explain: "Process 1's dequeue → nil (ops 2–3) cannot be linearized: after the longest linearizable prefix of key q (1 of its 2 ops) the queue holds [1] (head first), so the dequeue cannot find it empty, and no other order of the ops fits real time either"},
		{name: "bad value", verdict: models.Unknown, reason: "enqueue of x: not an integer", ops: h(inv(0, "enqueue", "x"), ok(0, "enqueue", "x"))},
		{name: "unknown f", verdict: models.Unknown, reason: `f "drain" is not enqueue or dequeue`, ops: h(inv(0, "drain", nil), ok(0, "drain", nil))},
	})
}

func TestSet(t *testing.T) {
	runObjectCases(t, Set, []objectCase{
		{name: "grows", verdict: models.Valid, ops: h(
			inv(0, "add", 1), ok(0, "add", 1), inv(0, "add", 2), inv(1, "read", nil), ok(1, "read", list(1)), ok(0, "add", 2),
			inv(1, "read", nil), ok(1, "read", list(2, 1)),
		)},
		{name: "indeterminate add happened", verdict: models.Valid, ops: h(
			inv(0, "add", 3), info(0, "add", 3), inv(1, "read", nil), ok(1, "read", list(3)), inv(1, "read", nil), ok(1, "read", list(3)),
		)},
		{name: "empty read is nil", verdict: models.Valid, ops: h(inv(1, "read", nil), ok(1, "read", nil))},
		{name: "lost add", verdict: models.Invalid, kind: LostAddKind, anomaly: []int64{0, 1, 4, 5},
			ops:     h(inv(0, "add", 1), ok(0, "add", 1), inv(0, "add", 2), ok(0, "add", 2), inv(1, "read", nil), ok(1, "read", list(2))),
			explain: "Lost add on the history: process 1's read → {2} (ops 4–5) lacks 1, although process 0's add 1 (ops 0–1) had completed before the read began"},
		{name: "unexpected element", verdict: models.Invalid, kind: UnexpectedElementKind, anomaly: []int64{2, 3},
			ops:     h(inv(0, "add", 1), ok(0, "add", 1), inv(1, "read", nil), ok(1, "read", list(1, 7))),
			explain: "Unexpected element on the history: process 1's read → {1 7} (ops 2–3) has 7, which was never added"},
		{name: "stale read", verdict: models.Invalid, kind: StaleReadKind, anomaly: []int64{1, 2, 3, 4},
			ops:     h(inv(0, "add", 1), inv(1, "read", nil), ok(1, "read", list(1)), inv(2, "read", nil), ok(2, "read", nil)),
			explain: "Stale read on the history: process 2's read → {} (ops 3–4) lacks 1, which process 1's read → {1} (ops 1–2) had already returned before the read began"},
		{name: "reads disagree on the order", verdict: models.Invalid, kind: AnomalyKind, anomaly: []int64{3, 7},
			ops:     h(inv(0, "add", 1), inv(1, "add", 2), inv(2, "read", nil), inv(3, "read", nil), ok(0, "add", 1), ok(1, "add", 2), ok(2, "read", list(1)), ok(3, "read", list(2))),
			explain: "Process 3's read → {2} (ops 3–7) cannot be linearized: after the longest linearizable prefix of the history (3 of its 4 ops) the set holds {1 2}, so the read, which lacks 1, cannot follow it, and no other order of the ops fits real time either"},
		{name: "bad read", verdict: models.Unknown, reason: "read returned 3: not a list of integers", ops: h(inv(1, "read", nil), ok(1, "read", 3))},
	})
}

func TestCounter(t *testing.T) {
	runObjectCases(t, Counter, []objectCase{
		{name: "sums", verdict: models.Valid, ops: h(
			inv(0, "add", 1), ok(0, "add", 1), inv(0, "add", 2), inv(1, "read", nil), ok(1, "read", 1), ok(0, "add", 2),
			inv(1, "read", nil), ok(1, "read", 3),
		)},
		{name: "indeterminate add happened", verdict: models.Valid, ops: h(
			inv(0, "add", 5), info(0, "add", 5), inv(2, "add", -1), ok(2, "add", -1), inv(1, "read", nil), ok(1, "read", 4),
		)},
		{name: "read above the bounds", verdict: models.Invalid, kind: CounterBoundsKind, anomaly: []int64{5, 6},
			ops:     h(inv(0, "add", 1), ok(0, "add", 1), inv(0, "add", 2), ok(0, "add", 2), inv(0, "add", 4), inv(1, "read", nil), ok(1, "read", 10), info(0, "add", 4)),
			explain: "Counter read out of bounds on the history: process 1's read → 10 (ops 5–6), but the adds that completed before it began sum to 3, and with those that may have taken effect by its end the counter lies between 3 and 7"},
		{name: "read below the bounds", verdict: models.Invalid, kind: CounterBoundsKind, key: "c", anomaly: []int64{2, 3},
			ops:     onKey("c", h(inv(0, "add", 1), ok(0, "add", 1), inv(1, "read", nil), ok(1, "read", 0))...),
			explain: "Counter read out of bounds on key c: process 1's read → 0 (ops 2–3), but the adds that completed before it began sum to 1, and with those that may have taken effect by its end the counter lies between 1 and 1"},
		{name: "reads go backwards", verdict: models.Invalid, kind: AnomalyKind, anomaly: []int64{4, 5},
			ops:     h(inv(0, "add", 1), inv(2, "add", 1), inv(1, "read", nil), ok(1, "read", 2), inv(1, "read", nil), ok(1, "read", 1), ok(0, "add", 1), ok(2, "add", 1)),
			explain: "Process 1's read → 1 (ops 4–5) cannot be linearized: after the longest linearizable prefix of the history (3 of its 4 ops) the counter is 2, so the read of 1 cannot follow it, and no other order of the ops fits real time either"},
		{name: "unknown f", verdict: models.Unknown, reason: `f "increment" is not add or read`, ops: h(inv(0, "increment", 1), ok(0, "increment", 1))},
	})
}

// TestObjectVisualization: the new models draw with their own words.
func TestObjectVisualization(t *testing.T) {
	tests := []struct {
		model    string
		ops      []history.Op
		contains []string
	}{
		{Mutex, h(inv(0, "acquire", nil), ok(0, "acquire", nil), inv(1, "acquire", "w"), info(1, "acquire", "w")), []string{"acquire", "acquire as w (?)", "held by process 0"}},
		{FIFOQueue, h(inv(0, "enqueue", 1), ok(0, "enqueue", 1), inv(1, "dequeue", nil), ok(1, "dequeue", 1)), []string{"enqueue 1", "dequeue → 1", "[1]", "[]"}},
		{Set, h(inv(0, "add", 1), ok(0, "add", 1), inv(1, "read", nil), ok(1, "read", list(1))), []string{"add 1", "read → {1}"}},
		{Counter, h(inv(0, "add", 2), ok(0, "add", 2), inv(1, "read", nil), ok(1, "read", 2)), []string{"add 2", "read → 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			dir := t.TempDir()
			res := (&Checker{Model: tt.model}).Check(context.Background(), tt.ops, dirOptions(dir))
			if res.Verdict != models.Valid || len(res.Artifacts) != 1 {
				t.Fatalf("%s %v %q", res.Verdict, res.Artifacts, res.Reason)
			}
			b, err := os.ReadFile(filepath.Join(dir, VisualizationFile))
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tt.contains {
				if !strings.Contains(string(b), s) {
					t.Errorf("%s lacks %q", VisualizationFile, s)
				}
			}
		})
	}
}

// TestModels: every model in the registry checks, and names itself.
func TestModels(t *testing.T) {
	reg := Models()
	for _, s := range Specs() {
		e, err := reg.Lookup(s.Name())
		if err != nil {
			t.Fatal(err)
		}
		if e.Summary == "" {
			t.Errorf("%s: no summary", s.Name())
		}
		res := e.New().Check(context.Background(), nil, models.Options{})
		if res.Model != s.Name() || res.Verdict != models.Unknown {
			t.Errorf("%s: empty history gave model %q verdict %s", s.Name(), res.Model, res.Verdict)
		}
	}
	if len(reg) != len(Specs()) {
		t.Errorf("registry has %d models, specs %d", len(reg), len(Specs()))
	}
}
