package lock

import (
	"context"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// edn reads a history of "p type f [value] [@key] [t=seconds]" shorthand
// lines through the EDN importer (EDN histories carry no keys: @key sets
// Key afterwards).
func edn(t testing.TB, lines ...string) []history.Op {
	t.Helper()
	var b strings.Builder
	b.WriteString("[")
	keys := make([]string, len(lines))
	for i, l := range lines {
		f := strings.Fields(l)
		extra := ""
		var rest []string
		for _, x := range f[3:] {
			switch {
			case strings.HasPrefix(x, "@"):
				keys[i] = x[1:]
			case strings.HasPrefix(x, "t="):
				d, err := time.ParseDuration(x[2:] + "s")
				if err != nil {
					t.Fatal(err)
				}
				extra = ", :time " + strconv.FormatInt(d.Nanoseconds(), 10)
			default:
				rest = append(rest, x)
			}
		}
		v := "nil"
		if len(rest) > 0 {
			v = strings.Join(rest, " ")
		}
		b.WriteString("{:process " + f[0] + ", :type :" + f[1] + ", :f :" + f[2] + ", :value " + v + extra + "}\n")
	}
	b.WriteString("]")
	ops, err := history.ReadEDN(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	for i := range ops {
		ops[i].Key = keys[i]
	}
	return ops
}

func TestHandWritten(t *testing.T) {
	tests := []struct {
		name    string
		checker *Checker
		history []string
		verdict models.Verdict
		kinds   []string
		ops     []int64 // of the first anomaly
		explain string
		props   map[string]string
		stats   map[string]int64
	}{
		{
			name: "good, with tokens", verdict: models.Valid,
			history: []string{
				"0 invoke acquire", "0 ok acquire 1", "1 invoke acquire", "1 fail acquire",
				"0 invoke release", "0 ok release",
				"1 invoke acquire", "1 ok acquire 2", "1 invoke release", "1 ok release",
			},
			props: map[string]string{"fencing": "checked: 2 of 2 ok acquires returned a token", "lease": "none: holds last until released"},
			stats: map[string]int64{"acquires": 3, "acquired": 2, "acquire_failed": 1, "releases": 2, "released": 2, "tokens": 2, "double_holds": 0, "keys": 1},
		},
		{
			name: "lock held twice", verdict: models.Invalid, kinds: []string{DoubleHoldKind}, ops: []int64{0, 1, 2, 3, 4},
			explain: "The lock was held twice: process 0's acquire (ops 0–1) completed, and the process held it until its release was invoked at op 4, yet process 1's acquire (ops 2–3) completed at op 3, before that",
			history: []string{
				"0 invoke acquire", "0 ok acquire", "1 invoke acquire", "1 ok acquire",
				"0 invoke release", "0 ok release", "1 invoke release", "1 ok release",
			},
			props: map[string]string{"fencing": "not checked: no ok acquire returned a token"},
			stats: map[string]int64{"double_holds": 1},
		},
		{
			name: "the second grant may follow the release", verdict: models.Valid,
			history: []string{
				"0 invoke acquire", "1 invoke acquire", "0 ok acquire", "0 invoke release",
				"1 ok acquire", "0 ok release", "1 invoke release", "1 ok release",
			},
		},
		{
			name: "info acquire gives no certain hold", verdict: models.Valid,
			history: []string{
				"0 invoke acquire", "0 ok acquire", "1 invoke acquire", "1 info acquire",
				"0 invoke release", "0 ok release",
			},
			stats: map[string]int64{"acquire_indeterminate": 1},
		},
		{
			name: "abandoned holder", verdict: models.Valid,
			history: []string{
				"0 invoke acquire", "0 ok acquire", "0 invoke write 3", "0 info write 3",
				"2 invoke acquire", "2 ok acquire", "2 invoke release", "2 ok release",
			},
		},
		{
			name: "never released", verdict: models.Invalid, kinds: []string{DoubleHoldKind}, ops: []int64{0, 1, 2, 3},
			explain: "process 0's acquire (ops 0–1) completed, and the process held it and never released it, yet process 1's acquire (ops 2–3) completed at op 3",
			history: []string{"0 invoke acquire", "0 ok acquire", "1 invoke acquire", "1 ok acquire"},
		},
		{
			name: "lease ran out first", checker: &Checker{Lease: 10 * time.Second}, verdict: models.Valid,
			history: []string{"0 invoke acquire t=0", "0 ok acquire t=1", "1 invoke acquire t=12", "1 ok acquire t=13"},
			props:   map[string]string{"lease": "10s"},
		},
		{
			name: "held twice within the lease", checker: &Checker{Lease: 30 * time.Second}, verdict: models.Invalid, kinds: []string{DoubleHoldKind},
			explain: "held it within its 30s lease, until op 4",
			history: []string{"0 invoke acquire t=0", "0 ok acquire t=1", "1 invoke acquire t=12", "1 ok acquire t=13", "1 invoke release t=40", "1 ok release t=41"},
		},
		{
			name: "lease without times", checker: &Checker{Lease: 10 * time.Second}, verdict: models.Invalid, kinds: []string{DoubleHoldKind},
			history: []string{"0 invoke acquire", "0 ok acquire", "1 invoke acquire", "1 ok acquire"},
			props:   map[string]string{"lease": "10s ignored: the history's times are missing or go backward"},
		},
		{
			name: "separate locks", verdict: models.Valid,
			history: []string{"0 invoke acquire @a", "0 ok acquire @a", "1 invoke acquire @b", "1 ok acquire @b", "0 invoke release @a", "0 ok release @a"},
			stats:   map[string]int64{"keys": 2},
		},
		{
			name: "one lock of several held twice", verdict: models.Invalid, kinds: []string{DoubleHoldKind},
			explain: "Lock b was held twice",
			history: []string{"0 invoke acquire @a", "0 ok acquire @a", "1 invoke acquire @b", "1 ok acquire @b", "2 invoke acquire @b", "2 ok acquire @b"},
		},
		{
			name: "fencing token goes backward", verdict: models.Invalid, kinds: []string{FencingBackwardKind}, ops: []int64{0, 1, 4, 5},
			explain: "Fencing token went backward on the lock: process 0's acquire (ops 0–1, token 5) completed before process 1's acquire (ops 4–5, token 3) began, yet got a greater token (5 > 3)",
			history: []string{
				"0 invoke acquire", "0 ok acquire 5", "0 invoke release", "0 ok release",
				"1 invoke acquire", "1 ok acquire 3", "1 invoke release", "1 ok release",
			},
			stats: map[string]int64{"fencing_backward": 1, "fencing_repeat": 0},
		},
		{
			name: "fencing token repeats", verdict: models.Invalid, kinds: []string{FencingRepeatKind},
			explain: "both got token 5",
			history: []string{
				"0 invoke acquire", "0 ok acquire {:token 5}", "0 invoke release", "0 ok release",
				"1 invoke acquire", "1 ok acquire {:token 5}",
			},
		},
		{
			name: "concurrent grants share a token", verdict: models.Invalid, kinds: []string{FencingRepeatKind}, ops: []int64{0, 1, 2, 5},
			explain: "Fencing token repeated on the lock: process 0's acquire (ops 0–2, token 7) and process 1's acquire (ops 1–5, token 7) were both granted token 7",
			history: []string{
				"0 invoke acquire", "1 invoke acquire", "0 ok acquire 7", "0 invoke release", "0 ok release", "1 ok acquire 7",
			},
		},
		{
			name: "concurrent grants may be ordered either way", verdict: models.Valid,
			history: []string{
				"0 invoke acquire", "1 invoke acquire", "0 ok acquire 9", "0 invoke release", "0 ok release", "1 ok acquire 8",
			},
		},
		{
			name: "owner in the value is no token", verdict: models.Valid,
			history: []string{
				`0 invoke acquire "c1"`, `0 ok acquire "c1"`, `0 invoke release "c1"`, `0 ok release "c1"`,
				`1 invoke acquire "c1"`, `1 ok acquire {:owner "c1", :token 4}`, `1 invoke release "c1"`, `1 ok release "c1"`,
				`2 invoke acquire 7`, `2 ok acquire 7`,
			},
			stats: map[string]int64{"tokens": 1},
		},
		{
			name: "fencing model ignores a double hold", checker: NewFencing(), verdict: models.Valid,
			history: []string{"0 invoke acquire", "0 ok acquire 1", "1 invoke acquire", "1 ok acquire 2"},
		},
		{
			name: "fencing model without tokens", checker: NewFencing(), verdict: models.Unknown,
			history: []string{"0 invoke acquire", "0 ok acquire", "0 invoke release", "0 ok release"},
		},
		{
			name: "no ok acquire", verdict: models.Unknown,
			history: []string{"0 invoke acquire", "0 fail acquire"},
		},
		{
			name: "malformed token", verdict: models.Unknown,
			history: []string{"0 invoke acquire", `0 ok acquire "abc"`},
			stats:   map[string]int64{"malformed": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.checker
			if c == nil {
				c = New()
			}
			res := c.Check(context.Background(), edn(t, tt.history...), models.Options{})
			if res.Verdict != tt.verdict {
				t.Fatalf("verdict %s, want %s (reason %q)", res.Verdict, tt.verdict, res.Reason)
			}
			if res.Checker != Name || res.Model != c.model() {
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
				if tt.ops != nil && !slices.Equal(a.Ops, tt.ops) {
					t.Errorf("ops %v, want %v", a.Ops, tt.ops)
				}
				if !strings.Contains(a.Explanation, tt.explain) {
					t.Errorf("explanation %q lacks %q", a.Explanation, tt.explain)
				}
			}
			if tt.verdict != models.Valid && res.Reason == "" {
				t.Error("no reason")
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

func TestModels(t *testing.T) {
	r := Models()
	if got := r.Names(); !slices.Equal(got, []string{FencingName, Name}) {
		t.Fatalf("names %v", got)
	}
	for _, name := range r.Names() {
		e, _ := r.Lookup(name)
		if e.Summary == "" || strings.Contains(e.Summary, "\n") {
			t.Errorf("%s: summary %q", name, e.Summary)
		}
		c := e.New()
		if c.Name() != Name {
			t.Errorf("%s: checker %q", name, c.Name())
		}
		if res := c.Check(context.Background(), nil, models.Options{}); res.Model != name || res.Verdict != models.Unknown {
			t.Errorf("%s: model %q verdict %s", name, res.Model, res.Verdict)
		}
	}
	if res := (&Checker{Model: "semaphore"}).Check(context.Background(), nil, models.Options{}); res.Verdict != models.Unknown || !strings.Contains(res.Reason, "semaphore") {
		t.Errorf("unknown model: %s %q", res.Verdict, res.Reason)
	}
}

func TestCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ops := generate(rand.New(rand.NewPCG(1, 1)), genConfig{ops: 1000, procs: 3})
	res := New().Check(ctx, ops, models.Options{})
	if res.Verdict != models.Unknown || !strings.Contains(res.Reason, "canceled") {
		t.Errorf("%s %q", res.Verdict, res.Reason)
	}
}
