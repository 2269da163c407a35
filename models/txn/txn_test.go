package txn

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// parseTxns reads transactions written as "ok [[:append :x 1] [:r :x [1]]]"
// (type, then the completion's value in Elle's EDN shape) with
// history.ReadEDN, one process each.
func parseTxns(t testing.TB, txns []string) []history.Op {
	t.Helper()
	var sb strings.Builder
	sb.WriteString("[")
	for i, s := range txns {
		typ, val, ok := strings.Cut(s, " ")
		if !ok {
			t.Fatalf("bad txn %q", s)
		}
		fmt.Fprintf(&sb, "{:process %d, :type :%s, :f :txn, :value %s}\n", i, typ, val)
	}
	sb.WriteString("]")
	ops, err := history.ReadEDN(strings.NewReader(sb.String()))
	if err != nil {
		t.Fatalf("read %s: %v", sb.String(), err)
	}
	return ops
}

// invocation returns the invoke op of a completion: the same micro-ops
// with reads unknown (nil), as Jepsen records them.
func invocation(c history.Op) history.Op {
	inv := c
	inv.Type = history.Invoke
	var mops []any
	for _, m := range c.Value.([]any) {
		m := slices.Clone(m.([]any))
		if m[0] == "r" {
			m[2] = nil
		}
		mops = append(mops, m)
	}
	inv.Value = mops
	return inv
}

func reindex(ops []history.Op) []history.Op {
	for i := range ops {
		ops[i].Index = int64(i)
		ops[i].Time = int64(i) * 1000
	}
	return ops
}

// concurrent invokes every transaction, then completes them in order, so
// no real-time or process order relates them.
func concurrent(t testing.TB, txns ...string) []history.Op {
	done := parseTxns(t, txns)
	var ops []history.Op
	for _, c := range done {
		ops = append(ops, invocation(c))
	}
	return reindex(append(ops, done...))
}

// serial runs the transactions one after another, each on its own
// process (sameProcess: all on process 0).
func serial(t testing.TB, sameProcess bool, txns ...string) []history.Op {
	var ops []history.Op
	for _, c := range parseTxns(t, txns) {
		if sameProcess {
			c.Process = 0
		}
		ops = append(ops, invocation(c), c)
	}
	return reindex(ops)
}

func kinds(res models.Result) []string {
	if res.Properties["anomalies"] == "" {
		return nil
	}
	return strings.Split(res.Properties["anomalies"], ",")
}

func TestHandWritten(t *testing.T) {
	tests := []struct {
		name  string
		model string
		ops   func(t testing.TB) []history.Op
		// kinds found (all of them), and the weakest model violated ("" for none).
		kinds   []string
		weakest string
	}{
		// list-append, known good
		{"la good serial", ListAppend, func(t testing.TB) []history.Op {
			return serial(t, false, "ok [[:append :x 1]]", "ok [[:r :x [1]] [:append :x 2]]", "ok [[:r :x [1 2]] [:r :y nil]]")
		}, nil, ""},
		{"la good concurrent", ListAppend, func(t testing.TB) []history.Op {
			return concurrent(t, "ok [[:append :x 1] [:append :y 1]]", "ok [[:r :x [1]] [:append :x 2] [:r :x [1 2]]]", "ok [[:r :y [1]] [:r :x [1 2]]]")
		}, nil, ""},
		{"la failed writes unread", ListAppend, func(t testing.TB) []history.Op {
			return concurrent(t, "fail [[:append :x 1]]", "ok [[:r :x nil]]", "ok [[:append :x 2] [:r :x [2]]]")
		}, nil, ""},
		{"la info write never seen", ListAppend, func(t testing.TB) []history.Op {
			return concurrent(t, "info [[:append :x 1] [:r :y nil]]", "ok [[:r :x []]]")
		}, nil, ""},
		{"la info write seen", ListAppend, func(t testing.TB) []history.Op {
			return concurrent(t, "info [[:append :x 1]]", "ok [[:r :x [1]]]", "ok [[:r :x [1]] [:append :x 2]]")
		}, nil, ""},
		{"la integer keys", ListAppend, func(t testing.TB) []history.Op {
			return serial(t, false, "ok [[:append 3 1] [:append 4 1]]", "ok [[:r 3 [1]] [:r 4 [1]]]")
		}, nil, ""},

		// list-append, textbook anomalies
		{"la G0 write cycle", ListAppend, func(t testing.TB) []history.Op {
			return concurrent(t, "ok [[:append :x 1] [:append :y 1]]", "ok [[:append :x 2] [:append :y 2]]", "ok [[:r :x [1 2]] [:r :y [2 1]]]")
		}, []string{"G0"}, ReadUncommitted},
		{"la G1a aborted read", ListAppend, func(t testing.TB) []history.Op {
			return concurrent(t, "fail [[:append :x 1]]", "ok [[:r :x [1]]]")
		}, []string{"G1a"}, ReadCommitted},
		{"la G1b intermediate read", ListAppend, func(t testing.TB) []history.Op {
			return concurrent(t, "ok [[:append :x 1] [:append :x 2]]", "ok [[:r :x [1]]]", "ok [[:r :x [1 2]]]")
		}, []string{"G1b", "G-single"}, ReadCommitted},
		{"la G1c circular information flow", ListAppend, func(t testing.TB) []history.Op {
			return concurrent(t, "ok [[:append :x 1] [:r :y [1]]]", "ok [[:append :y 1] [:r :x [1]]]")
		}, []string{"G1c"}, ReadCommitted},
		{"la G-single read skew", ListAppend, func(t testing.TB) []history.Op {
			return concurrent(t, "ok [[:append :x 1] [:append :y 1]]", "ok [[:r :x nil] [:r :y [1]]]")
		}, []string{"G-single"}, SnapshotIsolation},
		{"la lost update", ListAppend, func(t testing.TB) []history.Op {
			return concurrent(t, "ok [[:r :x []] [:append :x 1]]", "ok [[:r :x []] [:append :x 2]]", "ok [[:r :x [1 2]]]")
		}, []string{"G-single"}, SnapshotIsolation},
		{"la write skew", ListAppend, func(t testing.TB) []history.Op {
			return concurrent(t, "ok [[:r :x []] [:r :y []] [:append :x 1]]", "ok [[:r :x []] [:r :y []] [:append :y 1]]", "ok [[:r :x [1]] [:r :y [1]]]")
		}, []string{"G2-item"}, Serializable},
		{"la write skew, appends never read", ListAppend, func(t testing.TB) []history.Op {
			return concurrent(t, "ok [[:r :y []] [:append :x 1]]", "ok [[:r :x []] [:append :y 1]]")
		}, []string{"G2-item"}, Serializable},
		{"la G-nonadjacent", ListAppend, func(t testing.TB) []history.Op {
			// T1 -rw-> T2 -wr-> T3 -rw-> T4 -wr-> T1
			return concurrent(t, "ok [[:r :a []] [:r :d [1]]]", "ok [[:append :a 1]]", "ok [[:r :a [1]] [:r :b []]]", "ok [[:append :b 1] [:append :d 1]]")
		}, []string{"G-nonadjacent"}, SnapshotIsolation},
		{"la info commit seen through another key", ListAppend, func(t testing.TB) []history.Op {
			return concurrent(t, "info [[:append :x 1] [:append :y 1]]", "ok [[:r :x [1]] [:r :y []]]")
		}, []string{"G-single"}, SnapshotIsolation},
		{"la internal", ListAppend, func(t testing.TB) []history.Op {
			return concurrent(t, "ok [[:append :x 1] [:r :x []]]")
		}, []string{"internal"}, SnapshotIsolation},
		{"la non-repeatable read", ListAppend, func(t testing.TB) []history.Op {
			return concurrent(t, "ok [[:append :x 1]]", "ok [[:r :x []] [:r :x [1]]]")
		}, []string{"internal"}, SnapshotIsolation},
		{"la future read", ListAppend, func(t testing.TB) []history.Op {
			return concurrent(t, "ok [[:r :x [1]] [:append :x 1]]")
		}, []string{"future-read"}, ReadCommitted},
		{"la own appends out of order", ListAppend, func(t testing.TB) []history.Op {
			return concurrent(t, "ok [[:append :x 1] [:append :x 2]]", "ok [[:r :x [2 1]]]")
		}, []string{"internal", "G1b"}, ReadCommitted},
		{"la own append skipped", ListAppend, func(t testing.TB) []history.Op {
			return concurrent(t, "ok [[:append :x 1] [:append :x 2] [:append :x 3]]", "ok [[:r :x [1 3]]]")
		}, []string{"internal", "G-single"}, SnapshotIsolation},
		{"la duplicate elements", ListAppend, func(t testing.TB) []history.Op {
			return concurrent(t, "ok [[:append :x 1]]", "ok [[:r :x [1 1]]]")
		}, []string{"duplicate-elements"}, ReadUncommitted},
		{"la incompatible order", ListAppend, func(t testing.TB) []history.Op {
			return concurrent(t, "ok [[:append :x 1]]", "ok [[:append :x 2]]", "ok [[:r :x [1 2]]]", "ok [[:r :x [2 1]]]")
		}, []string{"incompatible-order"}, ReadCommitted},
		{"la garbage read", ListAppend, func(t testing.TB) []history.Op {
			return concurrent(t, "ok [[:append :x 1]]", "ok [[:r :x [1 9]]]")
		}, []string{"garbage-read"}, ReadUncommitted},
		{"la stale read in real time", ListAppend, func(t testing.TB) []history.Op {
			return serial(t, false, "ok [[:append :x 1]]", "ok [[:r :x []]]")
		}, []string{"G-single-realtime"}, StrictSerializable},
		{"la stale read on one process", ListAppend, func(t testing.TB) []history.Op {
			return serial(t, true, "ok [[:append :x 1]]", "ok [[:r :x []]]")
		}, []string{"G-single-process"}, StrictSerializable},

		// rw-register
		{"rw good", RWRegister, func(t testing.TB) []history.Op {
			return serial(t, false, "ok [[:w :x 1]]", "ok [[:r :x 1] [:w :x 2] [:r :x 2]]", "ok [[:r :x 2] [:r :y nil]]")
		}, nil, ""},
		{"rw blind writes", RWRegister, func(t testing.TB) []history.Op {
			return concurrent(t, "ok [[:w :x 1]]", "ok [[:w :x 2]]", "ok [[:r :x 2]]", "ok [[:r :x 1]]")
		}, nil, ""},
		{"rw G0", RWRegister, func(t testing.TB) []history.Op {
			return concurrent(t, "ok [[:w :x 1] [:r :y 10] [:w :y 11]]", "ok [[:w :y 10] [:r :x 1] [:w :x 2]]")
		}, []string{"G0", "G1c"}, ReadUncommitted},
		{"rw G1a", RWRegister, func(t testing.TB) []history.Op {
			return concurrent(t, "fail [[:w :x 1]]", "ok [[:r :x 1]]")
		}, []string{"G1a"}, ReadCommitted},
		{"rw G1b", RWRegister, func(t testing.TB) []history.Op {
			return concurrent(t, "ok [[:w :x 1] [:w :x 2]]", "ok [[:r :x 1]]")
		}, []string{"G1b"}, ReadCommitted},
		{"rw G1c", RWRegister, func(t testing.TB) []history.Op {
			return concurrent(t, "ok [[:w :x 1] [:r :y 1]]", "ok [[:w :y 1] [:r :x 1]]")
		}, []string{"G1c"}, ReadCommitted},
		{"rw G-single read skew", RWRegister, func(t testing.TB) []history.Op {
			return concurrent(t, "ok [[:w :x 1] [:w :y 1]]", "ok [[:r :x nil] [:r :y 1]]")
		}, []string{"G-single"}, SnapshotIsolation},
		{"rw read-modify-write", RWRegister, func(t testing.TB) []history.Op {
			return serial(t, false, "ok [[:w :x 0]]", "ok [[:r :x 0] [:w :x 1]]", "ok [[:r :x 1] [:w :x 2]]")
		}, nil, ""},
		{"rw lost update, both", RWRegister, func(t testing.TB) []history.Op {
			ops := serial(t, false, "ok [[:w :x 0]]")
			return reindex(append(ops, concurrent(t, "ok [[:r :x 0] [:w :x 1]]", "ok [[:r :x 0] [:w :x 2]]")...))
		}, []string{"lost-update", "G2-item"}, SnapshotIsolation},
		{"rw write skew", RWRegister, func(t testing.TB) []history.Op {
			return concurrent(t, "ok [[:r :x nil] [:r :y nil] [:w :x 1]]", "ok [[:r :x nil] [:r :y nil] [:w :y 1]]")
		}, []string{"G2-item"}, Serializable},
		{"rw internal", RWRegister, func(t testing.TB) []history.Op {
			return concurrent(t, "ok [[:w :x 1] [:r :x 2]]", "ok [[:w :x 2]]")
		}, []string{"internal"}, SnapshotIsolation},
		{"rw blind writes, then reads that agree", RWRegister, func(t testing.TB) []history.Op {
			ops := concurrent(t, "ok [[:w :x 1]]", "ok [[:w :x 2]]")
			return reindex(append(ops, serial(t, false, "ok [[:r :x 2]]", "ok [[:r :x 2]]")...))
		}, nil, ""},
		{"rw blind writes, then reads that diverge", RWRegister, func(t testing.TB) []history.Op {
			ops := concurrent(t, "ok [[:w :x 1]]", "ok [[:w :x 2]]")
			return reindex(append(ops, serial(t, false, "ok [[:r :x 1]]", "ok [[:r :x 2]]")...))
		}, []string{"G0-realtime"}, StrictSerializable},
		{"rw stale read in real time", RWRegister, func(t testing.TB) []history.Op {
			return serial(t, false, "ok [[:w :x 1]]", "ok [[:r :x nil]]")
		}, []string{"G-single-realtime"}, StrictSerializable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ops := tt.ops(t)
			for _, model := range []string{tt.model, Elle} {
				res := (&Checker{Model: model}).Check(context.Background(), ops, models.Options{})
				if res.Model != tt.model {
					t.Errorf("%s: model %q, want %q", model, res.Model, tt.model)
				}
				got := kinds(res)
				slices.Sort(got)
				want := slices.Clone(tt.kinds)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("%s: anomalies %v, want %v; reason: %s", model, got, want, res.Reason)
				}
				weakest, _, _ := strings.Cut(res.Properties["violates"], ",")
				if weakest != tt.weakest {
					t.Errorf("%s: weakest violated %q, want %q (violates %q)", model, weakest, tt.weakest, res.Properties["violates"])
				}
				wantVerdict := models.Valid
				if tt.weakest != "" {
					wantVerdict = models.Invalid
				}
				if res.Verdict != wantVerdict {
					t.Errorf("%s: verdict %s, want %s; reason: %s", model, res.Verdict, wantVerdict, res.Reason)
				}
				for _, a := range res.Anomalies {
					if a.Explanation == "" || len(a.Ops) == 0 {
						t.Errorf("anomaly without explanation or ops: %+v", a)
					}
					// A cycle names one edge per transaction, each relation
					// as the explanation says it; other anomalies name none.
					isCycle := strings.HasPrefix(a.Kind, "G0") || strings.HasPrefix(a.Kind, "G1c") || strings.HasPrefix(a.Kind, "G-") || strings.HasPrefix(a.Kind, "G2")
					if isCycle != (len(a.Cycle) > 0) || (isCycle && len(a.Cycle) != len(a.Ops)) {
						t.Errorf("%s: cycle %+v for ops %v", a.Kind, a.Cycle, a.Ops)
					}
					for _, e := range a.Cycle {
						label := "(" + e.Rel + ")"
						if e.Rel == "realtime" {
							label = "(real time"
						}
						if !strings.Contains(a.Explanation, label) || (e.Key == "") != (e.Rel == "process" || e.Rel == "realtime") {
							t.Errorf("%s: edge %+v does not match %q", a.Kind, e, a.Explanation)
						}
					}
				}
				if testing.Verbose() && model == tt.model {
					for _, a := range res.Anomalies {
						t.Logf("%s %v: %s", a.Kind, a.Ops, a.Explanation)
					}
				}
			}
		})
	}
}

// TestViolatesChain checks that each model ruled out rules out every
// stronger one, and that the verdict follows the judged model.
func TestViolatesChain(t *testing.T) {
	ops := concurrent(t, "ok [[:r :x []] [:r :y []] [:append :x 1]]", "ok [[:r :x []] [:r :y []] [:append :y 1]]", "ok [[:r :x [1]] [:r :y [1]]]")
	for _, c := range Consistencies() {
		res := (&Checker{Consistency: c}).Check(context.Background(), ops, models.Options{})
		if got, want := res.Properties["violates"], "serializable,strict-serializable"; got != want {
			t.Errorf("%s: violates %q, want %q", c, got, want)
		}
		want := models.Valid
		if rank(c) >= rank(Serializable) {
			want = models.Invalid
		}
		if res.Verdict != want {
			t.Errorf("judging %s: verdict %s, want %s", c, res.Verdict, want)
		}
		if (len(res.Anomalies) > 0) != (want == models.Invalid) {
			t.Errorf("judging %s: anomalies listed %v with verdict %s", c, res.Anomalies, res.Verdict)
		}
		if want == models.Valid && !strings.Contains(res.Reason, "G2-item (1), which rules out serializable") {
			t.Errorf("judging %s: reason %q", c, res.Reason)
		}
	}
}

func TestOptionalOrders(t *testing.T) {
	ops := serial(t, true, "ok [[:append :x 1]]", "ok [[:r :x []]]")
	tests := []struct {
		c    Checker
		want string
	}{
		{Checker{}, "G-single-process"},
		{Checker{NoProcessOrder: true}, "G-single-realtime"},
		{Checker{NoRealTime: true}, "G-single-process"},
		{Checker{NoProcessOrder: true, NoRealTime: true}, ""},
	}
	for _, tt := range tests {
		res := tt.c.Check(context.Background(), ops, models.Options{})
		if got := res.Properties["anomalies"]; got != tt.want {
			t.Errorf("%+v: anomalies %q, want %q", tt.c, got, tt.want)
		}
	}
}

func TestExplanation(t *testing.T) {
	ops := concurrent(t, "ok [[:r :x []] [:append :x 1]]", "ok [[:r :x []] [:append :x 2]]", "ok [[:r :x [1 2]]]")
	res := (&Checker{}).Check(context.Background(), ops, models.Options{})
	if len(res.Anomalies) != 1 {
		t.Fatalf("anomalies %+v", res.Anomalies)
	}
	a := res.Anomalies[0]
	want := "Cycle with one anti-dependency (G-single): T1 (op 3) appended 1 to x and T2 (op 4) appended 2 right after it (ww); " +
		"T2 read x = [], without 1, which T1 appended next (rw); so each transaction precedes the next and the last precedes T1, which no serial order allows."
	if a.Explanation != want {
		t.Errorf("explanation:\n%s\nwant:\n%s", a.Explanation, want)
	}
	if !slices.Equal(a.Ops, []int64{3, 4}) || a.Time != 0 {
		t.Errorf("ops %v time %d", a.Ops, a.Time)
	}
	if want := []models.CycleEdge{{Rel: "ww", Key: "x"}, {Rel: "rw", Key: "x"}}; !slices.Equal(a.Cycle, want) {
		t.Errorf("cycle %+v, want %+v", a.Cycle, want)
	}
}

func TestUncheckable(t *testing.T) {
	tests := []struct {
		name   string
		c      Checker
		ops    []history.Op
		reason string
	}{
		{"empty", Checker{}, nil, "no txn ops"},
		{"other ops", Checker{}, []history.Op{{Type: history.Invoke, F: "read"}, {Type: history.OK, F: "read", Value: int64(1)}}, "no txn ops"},
		{"bad model", Checker{Model: "bank"}, nil, "unknown model"},
		{"bad consistency", Checker{Consistency: "linearizable"}, nil, "unknown consistency model"},
		{"malformed", Checker{}, []history.Op{
			{Index: 0, Type: history.Invoke, F: F, Value: []any{[]any{"append", "x", int64(1)}}},
			{Index: 1, Type: history.OK, F: F, Value: []any{[]any{"append", "x"}}},
		}, "op 1: micro-op 0"},
		{"malformed read", Checker{Model: ListAppend}, []history.Op{
			{Index: 0, Type: history.Invoke, F: F, Value: []any{[]any{"r", "x", nil}}},
			{Index: 1, Type: history.OK, F: F, Value: []any{[]any{"r", "x", int64(3)}}},
		}, "read of a single value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tt.c.Check(context.Background(), tt.ops, models.Options{})
			if res.Verdict != models.Unknown || !strings.Contains(res.Reason, tt.reason) {
				t.Errorf("verdict %s reason %q, want unknown with %q", res.Verdict, res.Reason, tt.reason)
			}
		})
	}
}

func TestContextDone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ops := concurrent(t, "ok [[:append :x 1]]", "ok [[:r :x [1]]]")
	res := (&Checker{}).Check(ctx, ops, models.Options{})
	if res.Verdict != models.Unknown || !strings.Contains(res.Reason, "canceled") {
		t.Errorf("verdict %s reason %q", res.Verdict, res.Reason)
	}
}

// TestJSONLines checks values decoded from faultline's own history file
// (json.Number) read as well as EDN ones.
func TestJSONLines(t *testing.T) {
	in := `{"format":"faultline-history","version":1}
{"index":0,"time":0,"type":"invoke","process":0,"f":"txn","value":[["append","x",1],["r","y",null]]}
{"index":1,"time":1,"type":"invoke","process":1,"f":"txn","value":[["append","y",1],["r","x",null]]}
{"index":2,"time":2,"type":"ok","process":0,"f":"txn","value":[["append","x",1],["r","y",[]]]}
{"index":3,"time":3,"type":"ok","process":1,"f":"txn","value":[["append","y",1],["r","x",[]]]}
`
	ops, err := history.Read(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	res := (&Checker{}).Check(context.Background(), ops, models.Options{})
	if res.Model != ListAppend || res.Properties["anomalies"] != "G2-item" {
		t.Errorf("model %s anomalies %q reason %s", res.Model, res.Properties["anomalies"], res.Reason)
	}
}

func TestModels(t *testing.T) {
	r := Models()
	for _, name := range []string{ListAppend, RWRegister, Elle} {
		e, err := r.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		if c := e.New(); c.Name() != StrictSerializable {
			t.Errorf("%s: checker name %q", name, c.Name())
		}
	}
}

// TestJepsenLog reads Elle's shapes from jepsen.util log lines.
func TestJepsenLog(t *testing.T) {
	in := `INFO  jepsen.util - 0	:invoke	:txn	[[:append 5 1] [:r 6 nil]]
INFO  jepsen.util - 1	:invoke	:txn	[[:append 6 1] [:r 5 nil]]
INFO  jepsen.util - 0	:ok	:txn	[[:append 5 1] [:r 6 []]]
INFO  jepsen.util - 1	:ok	:txn	[[:append 6 1] [:r 5 []]]
`
	ops, err := history.ReadJepsenLog(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	res := (&Checker{}).Check(context.Background(), ops, models.Options{})
	if res.Model != ListAppend || res.Properties["anomalies"] != "G2-item" || res.Stats["committed"] != 2 {
		t.Errorf("model %s anomalies %q stats %v: %s", res.Model, res.Properties["anomalies"], res.Stats, res.Reason)
	}
}
