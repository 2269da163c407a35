package session

import (
	"context"
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
		session func(history.Op) string
		ops     []string
		kinds   []string // the anomalies' kinds (the session checker's); none: valid
		anomaly []int64  // ops of the first anomaly
		explain string   // part of the first anomaly's explanation
	}{
		// Sets.
		{name: "read your add", ops: []string{"0 invoke add 1", "0 ok add 1", "0 invoke read nil", "0 ok read [1]"}},
		{name: "fail imposes nothing", ops: []string{"0 invoke add 1", "0 fail add 1", "0 invoke read nil", "0 ok read []"}},
		{name: "an info ends the session", ops: []string{
			"0 invoke add 1", "0 info add 1",
			"5 invoke read nil", "5 ok read []", // the same worker as process 5
		}},
		{name: "concurrent read may miss it", ops: []string{"0 invoke add 1", "1 invoke read nil", "1 ok read []", "0 ok add 1"}},
		{
			name: "a read that misses the session's own write", kinds: []string{ReadYourWrites}, anomaly: []int64{0, 1, 2, 3},
			ops:     []string{"0 invoke add 1", "0 ok add 1", "0 invoke read nil", "0 ok read []"},
			explain: "Process 0's read → [] (ops 2–3) misses process 0's add 1 (ops 0–1), which its session (process 0) completed before the read began",
		},
		{
			name: "read your writes, several", kinds: []string{ReadYourWrites}, anomaly: []int64{0, 1, 4, 5},
			ops:     []string{"0 invoke add 1", "0 ok add 1", "0 invoke add 2", "0 ok add 2", "0 invoke read nil", "0 ok read [3]", "1 invoke add 3", "1 ok add 3"},
			explain: "misses process 0's add 1 (ops 0–1), which its session (process 0) completed before the read began, and 1 more such writes",
		},
		{name: "monotonic reads", ops: []string{
			"0 invoke add 1", "0 ok add 1", "0 invoke add 2", "0 ok add 2",
			"1 invoke read nil", "1 ok read [1]", "1 invoke read nil", "1 ok read [2 1]",
		}},
		{
			name: "a read going back in time", kinds: []string{MonotonicReads}, anomaly: []int64{2, 3, 4, 5},
			ops:     []string{"0 invoke add 1", "0 ok add 1", "1 invoke read nil", "1 ok read [1]", "1 invoke read nil", "1 ok read []"},
			explain: "Process 1's read → [] (ops 4–5) misses 1, which process 1's read → [1] (ops 2–3) of the same session (process 1) returned before the read began",
		},
		{name: "monotonic writes", ops: []string{
			"0 invoke add 1", "0 ok add 1", "0 invoke add 2", "0 ok add 2",
			"1 invoke read nil", "1 ok read [1]", "1 invoke read nil", "1 ok read [1 2]",
		}},
		{
			name: "a later write visible without the earlier", kinds: []string{MonotonicWrites}, anomaly: []int64{0, 1, 2, 3, 4, 5},
			ops:     []string{"0 invoke add 1", "0 ok add 1", "0 invoke add 2", "0 ok add 2", "1 invoke read nil", "1 ok read [2]"},
			explain: "Process 1's read → [2] (ops 4–5) shows process 0's add 2 (ops 2–3) but not process 0's add 1 (ops 0–1), which the same session (process 0) completed before invoking it",
		},
		{
			name: "an indeterminate later write that shows", kinds: []string{MonotonicWrites}, anomaly: []int64{0, 1, 2, 3, 4, 5},
			ops:     []string{"0 invoke add 1", "0 ok add 1", "0 invoke add 2", "0 info add 2", "1 invoke read nil", "1 ok read [2]"},
			explain: "shows process 0's indeterminate add 2 (ops 2–3) but not process 0's add 1 (ops 0–1)",
		},
		{name: "writes follow reads", ops: []string{
			"0 invoke add 1", "0 ok add 1", "1 invoke read nil", "1 ok read [1]", "1 invoke add 2", "1 ok add 2",
			"2 invoke read nil", "2 ok read [2 1]",
		}},
		{
			name: "a write seen without what its writer had read", kinds: []string{WritesFollowReads}, anomaly: []int64{2, 3, 4, 5, 6, 7},
			ops: []string{
				"0 invoke add 1", "0 ok add 1", "1 invoke read nil", "1 ok read [1]", "1 invoke add 2", "1 ok add 2",
				"2 invoke read nil", "2 ok read [2]",
			},
			explain: "Process 2's read → [2] (ops 6–7) shows process 1's add 2 (ops 4–5) but misses 1, which the writer's session (process 1) had read, in process 1's read → [1] (ops 2–3), before invoking it",
		},
		{
			name: "custom sessions", session: func(op history.Op) string { return map[history.Process]string{0: "alice", 5: "alice"}[op.Process] },
			kinds: []string{ReadYourWrites}, anomaly: []int64{0, 1, 2, 3},
			ops:     []string{"0 invoke add 1", "0 ok add 1", "5 invoke read nil", "5 ok read []"},
			explain: `Process 5's read → [] (ops 2–3) misses process 0's add 1 (ops 0–1), which its session (session "alice") completed before the read began`,
		},
		{
			name:    "custom sessions may overlap",
			session: func(history.Op) string { return "one" },
			ops:     []string{"0 invoke add 1", "1 invoke read nil", "0 ok add 1", "1 ok read []", "1 invoke read nil", "1 ok read [1]"},
		},

		{
			name: "overlapping session reads",
			session: func(op history.Op) string {
				if op.Process >= 1 && op.Process <= 3 {
					return "one"
				}
				return op.Process.String()
			},
			kinds: []string{MonotonicReads}, anomaly: []int64{2, 3, 8, 11},
			ops: []string{
				"0 invoke append 1 key=x", "0 ok append 1 key=x",
				"1 invoke read nil key=x", "1 ok read [1] key=x", // Ra
				"5 invoke append 5 key=x", "5 ok append 5 key=x",
				"2 invoke read nil key=x", // Rb begins
				"4 invoke append 3 key=x",
				"3 invoke read nil key=x", // Rc begins after Ra completed
				"2 ok read [1 5] key=x",   // Rb, extending Ra, completes after Rc began
				"4 ok append 3 key=x",
				"3 ok read [3] key=x", // Rc does not extend Ra
			},
			explain: `Process 3's read of key x → [3] (ops 8–11) does not extend process 1's read of key x → [1] (ops 2–3) of the same session (session "one")`,
		},

		// Lists.
		{name: "lists", ops: []string{
			"0 invoke append 1 key=x", "0 ok append 1 key=x", "0 invoke read nil key=x", "0 ok read [1] key=x",
			"1 invoke read nil key=x", "1 ok read [1] key=x", "1 invoke append 2 key=x", "1 ok append 2 key=x",
			"0 invoke append 3 key=x", "0 ok append 3 key=x",
			"2 invoke read nil key=x", "2 ok read [1 2 3] key=x", "2 invoke read nil key=x", "2 ok read [1 2 3] key=x",
		}},
		{
			name: "list: a read that misses the session's own append", kinds: []string{ReadYourWrites}, anomaly: []int64{0, 1, 2, 3},
			ops:     []string{"0 invoke append 1 key=x", "0 ok append 1 key=x", "0 invoke read nil key=x", "0 ok read [] key=x"},
			explain: "Process 0's read of key x → [] (ops 2–3) misses process 0's append 1 (ops 0–1)",
		},
		{
			name: "list: a read that does not extend the earlier", kinds: []string{MonotonicReads}, anomaly: []int64{6, 7, 8, 9},
			ops: []string{
				"0 invoke append 1 key=x", "0 ok append 1 key=x", "2 invoke append 2 key=x", "2 ok append 2 key=x",
				"3 invoke append 3 key=x", "3 info append 3 key=x",
				"1 invoke read nil key=x", "1 ok read [1 2] key=x", "1 invoke read nil key=x", "1 ok read [1 3 2] key=x",
			},
			explain: "Process 1's read of key x → [1 3 2] (ops 8–9) does not extend process 1's read of key x → [1 2] (ops 6–7) of the same session (process 1), which completed before the read began",
		},
		{
			name: "list: session's appends out of order", kinds: []string{MonotonicWrites}, anomaly: []int64{0, 1, 2, 3, 4, 5},
			ops:     []string{"0 invoke append 1 key=x", "0 ok append 1 key=x", "0 invoke append 2 key=x", "0 ok append 2 key=x", "1 invoke read nil key=x", "1 ok read [2 1] key=x"},
			explain: "Process 1's read of key x → [2 1] (ops 4–5) puts process 0's append 2 (ops 2–3)'s element before process 0's append 1 (ops 0–1)'s, though their session (process 0) completed the second before invoking the first",
		},
		{
			name: "list: a write seen without what its writer had read", kinds: []string{WritesFollowReads}, anomaly: []int64{2, 3, 4, 5, 6, 7},
			ops: []string{
				"0 invoke append 1 key=x", "0 ok append 1 key=x", "1 invoke read nil key=x", "1 ok read [1] key=x",
				"1 invoke append 2 key=x", "1 ok append 2 key=x", "2 invoke read nil key=x", "2 ok read [2 1] key=x",
			},
			explain: "Process 2's read of key x → [2 1] (ops 6–7) shows process 1's append 2 (ops 4–5) but does not extend process 1's read of key x → [1] (ops 2–3), which the writer's session (process 1) completed before invoking it",
		},
		{
			name: "keys are independent", kinds: []string{MonotonicReads}, anomaly: []int64{4, 5, 8, 9},
			ops: []string{
				"0 invoke add 1 key=a", "0 ok add 1 key=a", "0 invoke add 1 key=b", "0 ok add 1 key=b",
				"1 invoke read nil key=a", "1 ok read [1] key=a", "1 invoke read nil key=b", "1 ok read [] key=b",
				"1 invoke read nil key=a", "1 ok read [] key=a",
			},
			explain: "Process 1's read of key a → [] (ops 8–9) misses 1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ops := hist(t, tt.ops...)
			res := (&Checker{Session: tt.session}).Check(context.Background(), ops, models.Options{})
			if res.Checker != Session || res.Model != Session {
				t.Errorf("checker %q model %q", res.Checker, res.Model)
			}
			var kinds []string
			for _, a := range res.Anomalies {
				kinds = append(kinds, a.Kind)
			}
			if !reflect.DeepEqual(kinds, tt.kinds) {
				t.Fatalf("anomalies %v (%s), want %v", kinds, res.Reason, tt.kinds)
			}
			if len(tt.kinds) == 0 {
				if res.Verdict != models.Valid || res.Reason != "" || res.Properties != nil {
					t.Errorf("%s %q %v, want valid", res.Verdict, res.Reason, res.Properties)
				}
			} else {
				a := res.Anomalies[0]
				if res.Verdict != models.Invalid || res.Properties["violates"] != tt.kinds[0] {
					t.Errorf("%s %v, want invalid violating %s", res.Verdict, res.Properties, tt.kinds[0])
				}
				if !reflect.DeepEqual(a.Ops, tt.anomaly) {
					t.Errorf("anomaly ops %v, want %v", a.Ops, tt.anomaly)
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
			}
			// Each guarantee's own checker finds exactly its anomalies.
			for _, g := range order() {
				c := &Checker{Model: g.name(), Session: tt.session}
				r := c.Check(context.Background(), ops, models.Options{})
				want := 0
				for _, k := range tt.kinds {
					if k == g.name() {
						want++
					}
				}
				if len(r.Anomalies) != want || r.Checker != g.name() || r.Stats[g.stat()] != int64(want) {
					t.Errorf("%s checker: %d anomalies, stats %v, want %d", g.name(), len(r.Anomalies), r.Stats, want)
				}
				if (want > 0) != (r.Verdict == models.Invalid) {
					t.Errorf("%s checker: %s", g.name(), r.Verdict)
				}
			}
		})
	}
}

func TestStats(t *testing.T) {
	ops := hist(t,
		"0 invoke add 1", "0 ok add 1",
		"0 invoke add 1", "0 ok add 1", // the same element again
		"1 invoke add 2", "1 fail add 2",
		"2 invoke add 3", "2 info add 3",
		"3 invoke add 4",
		"4 invoke read nil", "4 ok read [1]",
		"5 invoke read nil", "5 info read nil",
		"6 invoke cas [1 2]", "6 ok cas [1 2]",
	)
	res := NewSession().Check(context.Background(), ops, models.Options{})
	want := map[string]int64{
		"sessions": 5, "keys": 1, "reads": 1, "writes": 5, "acknowledged": 2, "indeterminate": 2, "failed": 1,
		"duplicate_writes": 1, "malformed": 0,
		"read_your_writes_violations": 0, "monotonic_reads_violations": 0, "monotonic_writes_violations": 0, "writes_follow_reads_violations": 0,
	}
	if res.Verdict != models.Valid || !reflect.DeepEqual(res.Stats, want) {
		t.Errorf("%s stats %v, want %v", res.Verdict, res.Stats, want)
	}
	res = NewMonotonicReads().Check(context.Background(), ops, models.Options{})
	if _, ok := res.Stats["read_your_writes_violations"]; ok || res.Stats["monotonic_reads_violations"] != 0 {
		t.Errorf("monotonic reads stats %v", res.Stats)
	}
}

func TestUncheckable(t *testing.T) {
	tests := []struct {
		name    string
		checker *Checker
		ops     []string
		verdict models.Verdict
		reason  string
	}{
		{"empty", NewSession(), nil, models.Unknown, "no ok reads to check"},
		{"no writes", NewSession(), []string{"0 invoke read nil", "0 ok read []"}, models.Unknown, "no adds or appends, so no guarantee can be broken"},
		{"unknown model", &Checker{Model: "causal"}, nil, models.Unknown, `unknown model "causal"`},
		{"mixed", NewSession(), []string{"0 invoke add 1", "0 ok add 1", "0 invoke append 2", "0 ok append 2", "0 invoke read nil", "0 ok read [1 2]"},
			models.Unknown, "not checked: the history's only object mixes adds and appends"},
		{"bad read", NewSession(), []string{"0 invoke add 1", "0 ok add 1", "0 invoke read nil", "0 ok read 1", "0 invoke read nil", "0 ok read [1]"},
			models.Unknown, "1 malformed ops skipped, the first op 3 (process 0): read returned 1: not a list"},
		{"bad write", NewSession(), []string{"0 invoke append [1] key=x", "0 ok append [1] key=x", "0 invoke read nil key=x", "0 ok read [] key=x"},
			models.Unknown, "op 0 (process 0): append of [1]: not a single element"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tt.checker.Check(context.Background(), hist(t, tt.ops...), models.Options{})
			if res.Verdict != tt.verdict || !strings.Contains(res.Reason, tt.reason) {
				t.Errorf("verdict %s reason %q, want %s with %q", res.Verdict, res.Reason, tt.verdict, tt.reason)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := NewSession().Check(ctx, hist(t, "0 invoke add 1", "0 ok add 1", "0 invoke read nil", "0 ok read [1]"), models.Options{})
	if res.Verdict != models.Unknown || res.Reason != "session check stopped: context canceled" {
		t.Errorf("cancelled: %s %q", res.Verdict, res.Reason)
	}
}

func TestMaxAnomalies(t *testing.T) {
	lines := []string{"0 invoke add 1", "0 ok add 1"}
	for range 5 {
		lines = append(lines, "0 invoke read nil", "0 ok read []")
	}
	res := (&Checker{Model: ReadYourWrites, MaxAnomalies: 2}).Check(context.Background(), hist(t, lines...), models.Options{})
	if len(res.Anomalies) != 2 || res.Stats["read_your_writes_violations"] != 5 || !strings.HasPrefix(res.Reason, "reads violating 5 read-your-writes; the first: ") {
		t.Errorf("%d anomalies, stats %v, reason %q", len(res.Anomalies), res.Stats, res.Reason)
	}
}

func TestModels(t *testing.T) {
	r := Models()
	want := []string{MonotonicReads, MonotonicWrites, ReadYourWrites, Session, WritesFollowReads}
	if !reflect.DeepEqual(r.Names(), want) {
		t.Errorf("names %v", r.Names())
	}
	for name, e := range r {
		if e.Summary == "" || e.New().Name() != name {
			t.Errorf("%s: %+v", name, e)
		}
	}
}
