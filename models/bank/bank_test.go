package bank

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

func edn(t testing.TB, s string) []history.Op {
	t.Helper()
	ops, err := history.ReadEDN(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return ops
}

func total(n int64) *int64 { return &n }

func TestHandWritten(t *testing.T) {
	const good = `[
{:type :invoke, :f :read, :process 0, :value nil}
{:type :ok, :f :read, :process 0, :value {0 50, 1 50}}
{:type :invoke, :f :transfer, :process 1, :value {:from 0, :to 1, :amount 5}}
{:type :invoke, :f :read, :process 0, :value nil}
{:type :ok, :f :read, :process 0, :value {0 50, 1 50}}
{:type :ok, :f :transfer, :process 1, :value {:from 0, :to 1, :amount 5}}
{:type :invoke, :f :transfer, :process 1, :value {:from 1, :to 0, :amount 70}}
{:type :fail, :f :transfer, :process 1, :value {:from 1, :to 0, :amount 70}, :error :insufficient-funds}
{:type :invoke, :f :read, :process 0, :value nil}
{:type :ok, :f :read, :process 0, :value {0 45, 1 55}}
{:type :invoke, :f :read, :process 2, :value nil}
{:type :info, :f :read, :process 2, :value nil, :error :timeout}
{:type :invoke, :f :transfer, :process 3, :value {:from 0, :to 1, :amount 1}}
]`
	tests := []struct {
		name    string
		history string
		checker *Checker
		verdict models.Verdict
		kinds   []string // anomaly kinds, in order
		ops     []int64  // ops of the first anomaly
		explain string   // part of the first anomaly's explanation
		props   map[string]string
		stats   map[string]int64
	}{
		{
			name: "good, total inferred", history: good, verdict: models.Valid,
			props: map[string]string{"total": "100", "total_source": "inferred from the first well-formed ok read (op 1)", "accounts": "0, 1", "negative_balances": "forbidden"},
			stats: map[string]int64{"reads": 3, "bad_reads": 0, "transfers": 3, "transfers_ok": 1, "transfers_failed": 1, "transfers_indeterminate": 1, "accounts": 2},
		},
		{
			name: "good, total configured", history: good, checker: NewWithTotal(100, "0", "1"), verdict: models.Valid,
			props: map[string]string{"total": "100", "total_source": "configured", "accounts_source": "configured"},
		},
		{
			name: "good, string accounts", verdict: models.Valid, checker: NewWithTotal(10),
			history: `[{:type :invoke, :f :transfer, :process 0, :value {:from "alice", :to :bob, :amount 2}}
{:type :ok, :f :transfer, :process 0, :value {:from "alice", :to :bob, :amount 2}}
{:type :invoke, :f :read, :process 0}
{:type :ok, :f :read, :process 0, :value {"alice" 3, :bob 7}}]`,
			props: map[string]string{"accounts": "alice, bob"},
		},
		{
			name: "transfer creates money", verdict: models.Invalid, kinds: []string{WrongTotalKind}, ops: []int64{4, 5},
			explain: "Read at op 5 (process 0) totals 105, not 100: 5 extra, money created (0: 50, 1: 55)",
			history: `[{:type :invoke, :f :read, :process 0}
{:type :ok, :f :read, :process 0, :value {0 50, 1 50}}
{:type :invoke, :f :transfer, :process 1, :value {:from 0, :to 1, :amount 5}}
{:type :ok, :f :transfer, :process 1, :value {:from 0, :to 1, :amount 5}}
{:type :invoke, :f :read, :process 0}
{:type :ok, :f :read, :process 0, :value {0 50, 1 55}}]`,
			props: map[string]string{"violates": "snapshot-isolation,serializable"},
			stats: map[string]int64{"wrong_total": 1, "bad_reads": 1, "reads": 2, "lowest_total": 105, "highest_total": 105},
		},
		{
			name: "read sees half a transfer", verdict: models.Invalid, kinds: []string{WrongTotalKind}, ops: []int64{1, 3},
			checker: NewWithTotal(100),
			explain: "Read at op 3 (process 0) totals 95, not 100: 5 missing",
			history: `[{:type :invoke, :f :transfer, :process 1, :value {:from 0, :to 1, :amount 5}}
{:type :invoke, :f :read, :process 0}
{:type :ok, :f :transfer, :process 1, :value {:from 0, :to 1, :amount 5}}
{:type :ok, :f :read, :process 0, :value {0 45, 1 50}}]`,
		},
		{
			name: "account absent from a read", verdict: models.Invalid, kinds: []string{WrongTotalKind}, ops: []int64{0, 1},
			checker: NewWithTotal(100, "0", "1", "2"),
			explain: "Read at op 1 (process 0) totals 90, not 100: 10 missing; account 2 is absent from the read (0: 40, 1: 50)",
			history: `[{:type :invoke, :f :read, :process 0}
{:type :ok, :f :read, :process 0, :value {0 40, 1 50}}]`,
		},
		{
			name: "negative balance", verdict: models.Invalid, kinds: []string{NegativeBalanceKind}, ops: []int64{6, 7},
			explain: "Read at op 7 (process 0) shows account 0 at -10: a negative balance",
			history: `[{:type :invoke, :f :read, :process 0}
{:type :ok, :f :read, :process 0, :value {0 20, 1 80}}
{:type :invoke, :f :transfer, :process 1, :value {:from 0, :to 1, :amount 15}}
{:type :invoke, :f :transfer, :process 2, :value {:from 0, :to 1, :amount 15}}
{:type :ok, :f :transfer, :process 1, :value {:from 0, :to 1, :amount 15}}
{:type :ok, :f :transfer, :process 2, :value {:from 0, :to 1, :amount 15}}
{:type :invoke, :f :read, :process 0}
{:type :ok, :f :read, :process 0, :value {0 -10, 1 110}}]`,
			stats: map[string]int64{"negative_balance": 1, "wrong_total": 0},
		},
		{
			name: "negative balance allowed", verdict: models.Valid, checker: &Checker{NegativeAllowed: true},
			history: `[{:type :invoke, :f :read, :process 0}
{:type :ok, :f :read, :process 0, :value {0 20, 1 80}}
{:type :invoke, :f :read, :process 0}
{:type :ok, :f :read, :process 0, :value {0 -10, 1 110}}]`,
			props: map[string]string{"negative_balances": "allowed"},
		},
		{
			name: "unknown account", verdict: models.Invalid, kinds: []string{UnknownAccountKind}, ops: []int64{0, 1},
			checker: NewWithTotal(100, "0", "1"),
			explain: "Read at op 1 (process 0) shows account 7, which is not one of the test's 2 accounts",
			history: `[{:type :invoke, :f :read, :process 0}
{:type :ok, :f :read, :process 0, :value {0 50, 1 50, 7 0}}]`,
		},
		{
			name: "unknown account inferred from transfers", verdict: models.Invalid, kinds: []string{UnknownAccountKind, WrongTotalKind}, ops: []int64{4, 5},
			explain: "accounts 5, x, which are not one of the test's 3 accounts",
			history: `[{:type :invoke, :f :read, :process 0}
{:type :ok, :f :read, :process 0, :value {0 50, 1 50}}
{:type :invoke, :f :transfer, :process 1, :value {:from 0, :to 2, :amount 5}}
{:type :ok, :f :transfer, :process 1, :value {:from 0, :to 2, :amount 5}}
{:type :invoke, :f :read, :process 0}
{:type :ok, :f :read, :process 0, :value {0 45, 1 50, 2 5, 5 1, "x" 0}}]`,
		},
		{
			name: "nil balance", verdict: models.Invalid, kinds: []string{NilBalanceKind}, ops: []int64{2, 3},
			explain: "Read at op 3 (process 0) shows no balance (nil) for account 1",
			history: `[{:type :invoke, :f :read, :process 0}
{:type :ok, :f :read, :process 0, :value {0 50, 1 50}}
{:type :invoke, :f :read, :process 0}
{:type :ok, :f :read, :process 0, :value {0 50, 1 nil}}]`,
		},
		{
			name: "no ok read", verdict: models.Unknown,
			history: `[{:type :invoke, :f :read, :process 0}
{:type :fail, :f :read, :process 0}]`,
		},
		{
			name: "malformed read", verdict: models.Unknown,
			history: `[{:type :invoke, :f :read, :process 0}
{:type :ok, :f :read, :process 0, :value {0 50, 1 50}}
{:type :invoke, :f :read, :process 0}
{:type :ok, :f :read, :process 0, :value "garbage"}]`,
			stats: map[string]int64{"malformed": 1, "reads": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.checker
			if c == nil {
				c = New()
			}
			res := c.Check(context.Background(), edn(t, tt.history), models.Options{})
			if res.Verdict != tt.verdict {
				t.Fatalf("verdict %s, want %s (reason %q)", res.Verdict, tt.verdict, res.Reason)
			}
			if res.Checker != Name || res.Model != Name {
				t.Errorf("checker %q model %q", res.Checker, res.Model)
			}
			var kinds []string
			for _, a := range res.Anomalies {
				kinds = append(kinds, a.Kind)
			}
			if !slices.Equal(kinds, tt.kinds) {
				t.Errorf("kinds %v, want %v", kinds, tt.kinds)
			}
			if len(res.Anomalies) > 0 {
				a := res.Anomalies[0]
				if !slices.Equal(a.Ops, tt.ops) {
					t.Errorf("ops %v, want %v", a.Ops, tt.ops)
				}
				if !strings.Contains(a.Explanation, tt.explain) {
					t.Errorf("explanation %q lacks %q", a.Explanation, tt.explain)
				}
				if !strings.Contains(res.Reason, a.Explanation) {
					t.Errorf("reason %q lacks the first anomaly", res.Reason)
				}
			}
			if tt.verdict == models.Unknown && res.Reason == "" {
				t.Error("unknown without a reason")
			}
			for k, v := range tt.props {
				if res.Properties[k] != v {
					t.Errorf("property %s = %q, want %q", k, res.Properties[k], v)
				}
			}
			for k, v := range tt.stats {
				if res.Stats[k] != v {
					t.Errorf("stat %s = %d, want %d", k, res.Stats[k], v)
				}
			}
		})
	}
}

// TestShapes feeds the value shapes other encodings give: faultline's JSON
// lines (json.Number), jepsen.util log lines, pairs and Go-built maps.
func TestShapes(t *testing.T) {
	jsonl := `{"format":"faultline-history","version":1}
{"index":0,"time":1,"type":"invoke","process":0,"f":"transfer","value":{"from":0,"to":1,"amount":3}}
{"index":1,"time":2,"type":"ok","process":0,"f":"transfer","value":{"from":0,"to":1,"amount":3}}
{"index":2,"time":3,"type":"invoke","process":0,"f":"read","value":null}
{"index":3,"time":4,"type":"ok","process":0,"f":"read","value":{"0":7,"1":13}}
`
	ops, err := history.Read(strings.NewReader(jsonl))
	if err != nil {
		t.Fatal(err)
	}
	if res := NewWithTotal(20).Check(context.Background(), ops, models.Options{}); res.Verdict != models.Valid {
		t.Errorf("jsonl: %s %s", res.Verdict, res.Reason)
	}

	log := "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:ok\t:read\t{0 7, 1 14}\n"
	ops, err = history.ReadJepsenLog(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	res := NewWithTotal(20).Check(context.Background(), ops, models.Options{})
	if res.Verdict != models.Invalid || res.Anomalies[0].Kind != WrongTotalKind {
		t.Errorf("log: %s %v", res.Verdict, res.Anomalies)
	}

	goOps := []history.Op{
		{Index: 0, Type: history.Invoke, Process: 0, F: "read"},
		{Index: 1, Type: history.OK, Process: 0, F: "read", Value: map[int]int{0: 10, 1: 10}},
		{Index: 2, Type: history.Invoke, Process: 0, F: "read"},
		{Index: 3, Type: history.OK, Process: 0, F: "read", Value: []any{[]any{int64(0), json.Number("12")}, []any{"1", int64(8)}}},
		{Index: 4, Type: history.Invoke, Process: 0, F: "read"},
		{Index: 5, Type: history.OK, Process: 0, F: "read", Value: map[uint8]int16{0: 15, 1: 6}},
	}
	res = New().Check(context.Background(), goOps, models.Options{})
	if res.Verdict != models.Invalid || len(res.Anomalies) != 1 || !slices.Equal(res.Anomalies[0].Ops, []int64{4, 5}) {
		t.Errorf("go values: %s %v", res.Verdict, res.Anomalies)
	}
}

func TestMaxAnomalies(t *testing.T) {
	var b strings.Builder
	b.WriteString("[{:type :invoke, :f :read, :process 0} {:type :ok, :f :read, :process 0, :value {0 5, 1 5}}\n")
	for range 30 {
		b.WriteString("{:type :invoke, :f :read, :process 0} {:type :ok, :f :read, :process 0, :value {0 5, 1 6}}\n")
	}
	b.WriteString("]")
	res := (&Checker{MaxAnomalies: 4}).Check(context.Background(), edn(t, b.String()), models.Options{})
	if len(res.Anomalies) != 4 || res.Stats["wrong_total"] != 30 || res.Stats["bad_reads"] != 30 {
		t.Errorf("%d anomalies, stats %v", len(res.Anomalies), res.Stats)
	}
}

func TestCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ops := generate(rand.New(rand.NewPCG(1, 1)), genConfig{ops: 1000, accounts: 3, procs: 3})
	res := New().Check(ctx, ops, models.Options{})
	if res.Verdict != models.Unknown || !strings.Contains(res.Reason, "canceled") {
		t.Errorf("%s %q", res.Verdict, res.Reason)
	}
}

func TestModels(t *testing.T) {
	r := Models()
	e, err := r.Lookup(Name)
	if err != nil {
		t.Fatal(err)
	}
	if e.Summary == "" || strings.Contains(e.Summary, "\n") {
		t.Errorf("summary %q", e.Summary)
	}
	if c := e.New(); c.Name() != Name {
		t.Errorf("name %q", c.Name())
	}
}

// genConfig shapes a generated history.
type genConfig struct {
	ops      int     // approximate number of history entries
	accounts int     // accounts 0..accounts-1
	procs    int     // concurrent workers
	info     float64 // chance that a completion is reported as info
	perAcct  int64   // starting balance of each account
}

// generate runs a correct bank (each op takes effect atomically at one
// moment between its invocation and completion, transfers refuse to
// overdraw) under concurrent workers, and records its history with the
// value shapes an EDN import gives.
func generate(rng *rand.Rand, g genConfig) []history.Op {
	if g.perAcct == 0 {
		g.perAcct = 100
	}
	bal := make([]int64, g.accounts)
	for i := range bal {
		bal[i] = g.perAcct
	}
	names := make([]string, g.accounts)
	for i := range names {
		names[i] = strconv.Itoa(i)
	}
	type worker struct {
		proc    history.Process
		busy    bool
		applied bool
		f       string
		arg     map[string]any
		result  any
		failed  bool
	}
	ws := make([]worker, g.procs)
	for i := range ws {
		ws[i].proc = history.Process(i)
	}
	next := history.Process(g.procs)
	ops := make([]history.Op, 0, g.ops+2*g.procs)
	emit := func(w *worker, typ history.Type, v any) {
		ops = append(ops, history.Op{Index: int64(len(ops)), Time: int64(len(ops)) * 1000, Type: typ, Process: w.proc, F: w.f, Value: v})
	}
	for len(ops) < g.ops {
		w := &ws[rng.IntN(len(ws))]
		switch {
		case !w.busy:
			w.busy, w.applied, w.failed, w.result = true, false, false, nil
			if rng.IntN(2) == 0 {
				w.f, w.arg = "read", nil
				emit(w, history.Invoke, nil)
			} else {
				from := rng.IntN(g.accounts)
				to := (from + 1 + rng.IntN(g.accounts-1)) % g.accounts
				w.f = "transfer"
				w.arg = map[string]any{"from": int64(from), "to": int64(to), "amount": int64(1 + rng.IntN(int(g.perAcct/2)))}
				emit(w, history.Invoke, w.arg)
			}
		case !w.applied && rng.IntN(2) == 0:
			w.applied = true
			if w.f == "read" {
				m := make(map[string]any, g.accounts)
				for i, b := range bal {
					m[names[i]] = b
				}
				w.result = m
				break
			}
			from, to, amt := w.arg["from"].(int64), w.arg["to"].(int64), w.arg["amount"].(int64)
			if bal[from] < amt {
				w.failed = true
				break
			}
			bal[from] -= amt
			bal[to] += amt
		default:
			w.busy = false
			switch {
			case rng.Float64() < g.info:
				emit(w, history.Info, w.arg)
				w.proc = next
				next++
			case w.f == "read" && w.applied:
				emit(w, history.OK, w.result)
			case w.f == "read" || !w.applied || w.failed:
				emit(w, history.Fail, w.arg)
			default:
				emit(w, history.OK, w.arg)
			}
		}
	}
	return ops
}

// TestRandom checks histories of a correct bank (valid), then the same
// histories with one ok read corrupted (each corruption must be found at
// exactly that read).
func TestRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for i := range 300 {
		g := genConfig{ops: 20 + rng.IntN(200), accounts: 2 + rng.IntN(5), procs: 1 + rng.IntN(5), info: 0.1 * rng.Float64()}
		ops := generate(rng, g)
		tot := int64(g.accounts) * 100
		res := NewWithTotal(tot).Check(context.Background(), ops, models.Options{})
		if res.Verdict == models.Invalid {
			t.Fatalf("history %d: correct bank judged invalid: %s", i, res.Reason)
		}
		inferred := New().Check(context.Background(), ops, models.Options{})
		if inferred.Verdict != res.Verdict {
			t.Fatalf("history %d: inferred total gives %s, configured %s", i, inferred.Verdict, res.Verdict)
		}

		var reads []int
		for p, op := range ops {
			if op.F == "read" && op.Type == history.OK {
				reads = append(reads, p)
			}
		}
		if len(reads) == 0 {
			continue
		}
		p := reads[rng.IntN(len(reads))]
		orig := ops[p].Value.(map[string]any)
		bad := make(map[string]any, len(orig))
		for k, v := range orig {
			bad[k] = v
		}
		kind := []string{WrongTotalKind, NegativeBalanceKind, UnknownAccountKind}[rng.IntN(3)]
		switch kind {
		case WrongTotalKind:
			d := int64(1 + rng.IntN(5))
			if rng.IntN(2) == 0 {
				d = -d
			}
			k := strconv.Itoa(rng.IntN(g.accounts))
			if bad[k].(int64)+d < 0 {
				d = -d
			}
			bad[k] = bad[k].(int64) + d
		case NegativeBalanceKind:
			a, b := "0", "1"
			x := bad[a].(int64)
			bad[a] = int64(-1)
			bad[b] = bad[b].(int64) + x + 1
		case UnknownAccountKind:
			bad["zz"] = int64(0)
		}
		ops[p].Value = bad
		var accts []string
		for a := range g.accounts {
			accts = append(accts, strconv.Itoa(a))
		}
		res = NewWithTotal(tot, accts...).Check(context.Background(), ops, models.Options{})
		if res.Verdict != models.Invalid || len(res.Anomalies) != 1 {
			t.Fatalf("history %d: %s not found: %s %v", i, kind, res.Verdict, res.Anomalies)
		}
		if a := res.Anomalies[0]; a.Kind != kind || a.Ops[len(a.Ops)-1] != int64(p) {
			t.Fatalf("history %d: injected %s at op %d, found %s at %v", i, kind, p, a.Kind, a.Ops)
		}
		ops[p].Value = orig
	}
}

func BenchmarkCheck(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("ops=%d", n), func(b *testing.B) {
			ops := generate(rand.New(rand.NewPCG(1, 2)), genConfig{ops: n, accounts: 8, procs: 10, info: 0.01})
			c := NewWithTotal(800)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if res := c.Check(context.Background(), ops, models.Options{}); res.Verdict != models.Valid {
					b.Fatalf("%s: %s", res.Verdict, res.Reason)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}
