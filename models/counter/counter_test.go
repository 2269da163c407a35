package counter

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/faultline/faultline/internal/histtest"
	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// hist builds a history from one line per op (see histtest.Build).
func hist(t testing.TB, lines ...string) []history.Op { return histtest.Build(t, lines...) }

func TestHandWritten(t *testing.T) {
	tests := []struct {
		name    string
		ops     []string
		verdict models.Verdict
		anomaly []int64 // ops of the first anomaly
		explain string
	}{
		{name: "sequential", verdict: models.Valid, ops: []string{
			"0 invoke add 1", "0 ok add 1",
			"0 invoke read nil", "0 ok read 1",
			"1 invoke add 2", "1 ok add 2",
			"0 invoke read nil", "0 ok read 3",
		}},
		{name: "concurrent add seen or not", verdict: models.Valid, ops: []string{
			"0 invoke add 1", "1 invoke read nil", "2 invoke read nil",
			"1 ok read 1", "2 ok read 0", "0 ok add 1",
		}},
		{name: "info add may count later", verdict: models.Valid, ops: []string{
			"0 invoke add 5", "0 info add 5",
			"1 invoke read nil", "1 ok read 0",
			"1 invoke read nil", "1 ok read 5",
			"1 invoke read nil", "1 ok read 0", // the bounds are not monotonic in time: Jepsen's interval check
		}},
		{name: "unfinished add may count", verdict: models.Valid, ops: []string{
			"0 invoke add 5", "1 invoke read nil", "1 ok read 5",
		}},
		{name: "nil read is zero", verdict: models.Valid, ops: []string{
			"0 invoke read nil", "0 ok read nil", "0 invoke add 1", "0 ok add 1",
		}},
		{name: "negative deltas", verdict: models.Valid, ops: []string{
			"0 invoke add 5", "0 ok add 5",
			"0 invoke add -3", "1 invoke read nil", "1 ok read 2", "1 invoke read nil", "1 ok read 5", "0 ok add -3",
			"1 invoke read nil", "1 ok read 2",
		}},
		{name: "keys are independent", verdict: models.Valid, ops: []string{
			"0 invoke add 5 key=a", "0 ok add 5 key=a",
			"0 invoke read nil key=b", "0 ok read 0 key=b",
			"0 invoke read nil key=a", "0 ok read 5 key=a",
		}},
		{
			name: "lost increment", verdict: models.Invalid, anomaly: []int64{6, 7},
			ops: []string{
				"0 invoke add 1", "0 ok add 1",
				"1 invoke add 2", "1 ok add 2",
				"2 invoke add 4", "2 info add 4",
				"0 invoke read nil", "0 ok read 2",
			},
			explain: "Process 0's read → 2 (ops 6–7) lies outside [3, 7]: the ok adds completed before the read began sum to 3, and the adds that may also have taken effect by its completion (invoked before it completed: ok, indeterminate or unfinished) add at most 4",
		},
		{
			name: "read above every possible add", verdict: models.Invalid, anomaly: []int64{2, 3},
			ops:     []string{"0 invoke add 1", "0 ok add 1", "1 invoke read nil", "1 ok read 2"},
			explain: "Process 1's read → 2 (ops 2–3) lies outside [1, 1]: the ok adds completed before the read began sum to 1, and no other add may have taken effect by its completion",
		},
		{
			name: "failed add counted", verdict: models.Invalid, anomaly: []int64{2, 3},
			ops:     []string{"0 invoke add 1", "0 fail add 1", "1 invoke read nil", "1 ok read 1"},
			explain: "lies outside [0, 0]",
		},
		{
			name: "add invoked after the read completed", verdict: models.Invalid, anomaly: []int64{0, 1},
			ops:     []string{"1 invoke read nil", "1 ok read 1", "0 invoke add 1", "0 ok add 1"},
			explain: "lies outside [0, 0]",
		},
		{
			name: "negative delta bounds", verdict: models.Invalid, anomaly: []int64{3, 4}, explain: "Process 1's read → 6 (ops 3–4) lies outside [2, 5]: the ok adds completed before the read began sum to 5, and the adds that may also have taken effect by its completion (invoked before it completed: ok, indeterminate or unfinished) change that by -3 to +0",
			ops: []string{"0 invoke add 5", "0 ok add 5", "0 invoke add -3", "1 invoke read nil", "1 ok read 6", "0 ok add -3"},
		},
		{
			name: "key mixup", verdict: models.Invalid, anomaly: []int64{2, 3}, explain: "Process 0's read of key b → 5 (ops 2–3) lies outside [0, 0]",
			ops: []string{"0 invoke add 5 key=a", "0 ok add 5 key=a", "0 invoke read nil key=b", "0 ok read 5 key=b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := New().Check(context.Background(), hist(t, tt.ops...), models.Options{})
			if res.Checker != Name || res.Model != Name {
				t.Errorf("checker %q model %q", res.Checker, res.Model)
			}
			if res.Verdict != tt.verdict {
				t.Fatalf("verdict %s (%s), want %s", res.Verdict, res.Reason, tt.verdict)
			}
			if tt.verdict == models.Valid {
				if len(res.Anomalies) != 0 || res.Reason != "" {
					t.Errorf("valid with anomalies %+v, reason %q", res.Anomalies, res.Reason)
				}
				return
			}
			if len(res.Anomalies) != 1 {
				t.Fatalf("%d anomalies, want 1: %+v", len(res.Anomalies), res.Anomalies)
			}
			a := res.Anomalies[0]
			if a.Kind != AnomalyKind || !reflect.DeepEqual(a.Ops, tt.anomaly) {
				t.Errorf("anomaly %q ops %v, want %q %v", a.Kind, a.Ops, AnomalyKind, tt.anomaly)
			}
			if !strings.Contains(a.Explanation, tt.explain) {
				t.Errorf("explanation\n  %s\nwant it to contain\n  %s", a.Explanation, tt.explain)
			}
			if a.Time != 10*a.Ops[0] {
				t.Errorf("time %d, want %d", a.Time, 10*a.Ops[0])
			}
			if res.Reason != a.Explanation {
				t.Errorf("reason %q", res.Reason)
			}
		})
	}
}

func TestStats(t *testing.T) {
	ops := hist(t,
		"0 invoke add 1", "0 ok add 1",
		"1 invoke add -2", "1 fail add -2",
		"2 invoke add 3", "2 info add 3",
		"3 invoke add 4",
		"4 invoke read nil", "4 ok read 5",
		"5 invoke read nil", "5 fail read nil",
		"6 invoke read nil", "6 info read nil",
		"0 ok read 1", // unmatched: process 0 has nothing pending
	)
	res := New().Check(context.Background(), ops, models.Options{})
	want := map[string]int64{
		"keys": 1, "reads": 1, "adds": 4, "acknowledged": 1, "indeterminate": 2, "failed": 1,
		"out_of_bounds": 0, "negative_adds": 1, "malformed": 0, "unmatched_completions": 1,
	}
	if !reflect.DeepEqual(res.Stats, want) || res.Verdict != models.Valid {
		t.Errorf("%s stats %v, want valid %v", res.Verdict, res.Stats, want)
	}
	if res.DurationNS <= 0 {
		t.Errorf("duration %d", res.DurationNS)
	}
}

func TestUncheckable(t *testing.T) {
	tests := []struct {
		name    string
		ops     []string
		verdict models.Verdict
		reason  string
	}{
		{"empty", nil, models.Unknown, "no ok reads of a counter to check"},
		{"only adds", []string{"0 invoke add 1", "0 ok add 1"}, models.Unknown, "no ok reads"},
		{"bad add", []string{"0 invoke add x", "0 ok add x", "0 invoke read nil", "0 ok read 0"}, models.Unknown,
			`1 malformed ops skipped, the first op 0 (process 0): add of "x": not an integer`},
		{"bad read", []string{"0 invoke read nil", "0 ok read [1]", "0 invoke read nil", "0 ok read 0"}, models.Unknown,
			"op 1 (process 0): read returned [1]: not an integer or nil"},
		{"invalid beats malformed", []string{"0 invoke add x", "0 ok add x", "0 invoke read nil", "0 ok read 1"}, models.Invalid,
			"lies outside [0, 0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := New().Check(context.Background(), hist(t, tt.ops...), models.Options{})
			if res.Verdict != tt.verdict || !strings.Contains(res.Reason, tt.reason) {
				t.Errorf("verdict %s reason %q, want %s with %q", res.Verdict, res.Reason, tt.verdict, tt.reason)
			}
		})
	}
}

func TestContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := New().Check(ctx, hist(t, "0 invoke read nil", "0 ok read 0"), models.Options{})
	if res.Verdict != models.Unknown || !strings.Contains(res.Reason, "context canceled") {
		t.Errorf("%s %q", res.Verdict, res.Reason)
	}
}

func TestMaxAnomalies(t *testing.T) {
	var lines []string
	for range 5 {
		lines = append(lines, "0 invoke read nil", "0 ok read 1")
	}
	ops := hist(t, lines...)
	res := (&Checker{MaxAnomalies: 2}).Check(context.Background(), ops, models.Options{})
	if len(res.Anomalies) != 2 || res.Stats["out_of_bounds"] != 5 || !strings.HasPrefix(res.Reason, "5 reads lie outside their bounds; the first: ") {
		t.Errorf("%d anomalies, stats %v, reason %q", len(res.Anomalies), res.Stats, res.Reason)
	}
	res = (&Checker{MaxAnomalies: -1}).Check(context.Background(), ops, models.Options{})
	if len(res.Anomalies) != 5 {
		t.Errorf("unbounded: %d anomalies", len(res.Anomalies))
	}
}

func TestModels(t *testing.T) {
	r := Models()
	e, err := r.Lookup(Name)
	if err != nil || e.Summary == "" || e.New().Name() != Name || len(r) != 2 {
		t.Errorf("registry %v: %v", r, err)
	}
	if e, err := r.Lookup(EventualName); err != nil || e.New().Name() != EventualName {
		t.Errorf("registry %v: %v", r, err)
	}
}

// simulate runs procs clients against a real atomic counter: each op takes
// effect at one instant between its invocation and completion (or, for an
// indeterminate add, possibly never). Some adds fail without effect; some
// end as info, after which the client continues as a new process. When
// lie is set, some reads return a wrong value.
func simulate(rng *rand.Rand, n, procs int, negative, lie bool) []history.Op {
	type client struct {
		proc    history.Process
		busy    bool
		applied bool
		f       string
		delta   int64
		result  int64
	}
	var ops []history.Op
	emit := func(p history.Process, typ history.Type, f string, v any) {
		ops = append(ops, history.Op{Index: int64(len(ops)), Time: int64(len(ops)), Process: p, Type: typ, F: f, Value: v})
	}
	var counter int64
	var lateAdds []int64 // info adds that may still take effect
	cs := make([]client, procs)
	next := history.Process(procs)
	for i := range cs {
		cs[i].proc = history.Process(i)
	}
	for len(ops) < n {
		if len(lateAdds) > 0 && rng.IntN(10) == 0 {
			counter += lateAdds[0]
			lateAdds = lateAdds[1:]
		}
		c := &cs[rng.IntN(procs)]
		switch {
		case !c.busy:
			c.busy, c.applied = true, false
			if rng.IntN(2) == 0 {
				c.f, c.delta = "add", rng.Int64N(5)
				if negative {
					c.delta -= 2
				}
				emit(c.proc, history.Invoke, "add", c.delta)
			} else {
				c.f = "read"
				emit(c.proc, history.Invoke, "read", nil)
			}
		case !c.applied && rng.IntN(2) == 0:
			c.applied = true
			if c.f == "add" {
				counter += c.delta
			} else {
				c.result = counter
			}
		default:
			c.busy = false
			if c.f == "read" {
				if !c.applied {
					c.result = counter
				}
				v := c.result
				if lie && rng.IntN(20) == 0 {
					v += rng.Int64N(7) - 3
				}
				emit(c.proc, history.OK, "read", v)
				continue
			}
			switch r := rng.IntN(10); {
			case r == 0 && !c.applied:
				emit(c.proc, history.Fail, "add", c.delta)
			case r == 1:
				if !c.applied && rng.IntN(2) == 0 {
					lateAdds = append(lateAdds, c.delta)
				}
				emit(c.proc, history.Info, "add", c.delta)
				c.proc, next = next, next+1
			default:
				if !c.applied {
					counter += c.delta
				}
				emit(c.proc, history.OK, "add", c.delta)
			}
		}
	}
	return ops
}

// reference computes each ok read's bounds from the definition directly,
// in quadratic time, and counts the reads outside them.
func reference(ops []history.Op) int64 {
	calls, _, _ := history.Pair(ops)
	var bad int64
	for _, r := range calls {
		if ops[r.Inv].F != "read" || r.Type != history.OK {
			continue
		}
		v, _ := history.Int(ops[r.Done].Value)
		var certain, down, up int64
		for _, a := range calls {
			if ops[a.Inv].F != "add" || a.Type == history.Fail || a.Inv > r.Done {
				continue
			}
			d, _ := history.Int(ops[a.Inv].Value)
			switch {
			case a.Type == history.OK && a.Done < r.Inv:
				certain += d
			case d < 0:
				down += d
			default:
				up += d
			}
		}
		if v < certain+down || v > certain+up {
			bad++
		}
	}
	return bad
}

func TestRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		negative, lie := i%2 == 1, i%3 == 0
		ops := simulate(rng, 10+rng.IntN(200), 1+rng.IntN(5), negative, lie)
		res := New().Check(context.Background(), ops, models.Options{})
		want := reference(ops)
		if got := res.Stats["out_of_bounds"]; got != want {
			t.Fatalf("history %d: %d reads out of bounds, reference %d\n%s", i, got, want, dump(ops))
		}
		if !lie && res.Verdict == models.Invalid {
			t.Fatalf("history %d of a real counter is invalid: %s\n%s", i, res.Reason, dump(ops))
		}
	}
}

func dump(ops []history.Op) string {
	var sb strings.Builder
	for _, op := range ops {
		fmt.Fprintf(&sb, "%d %v %s %s %v\n", op.Index, op.Process, op.Type, op.F, op.Value)
	}
	return sb.String()
}
