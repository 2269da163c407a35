package uniqueids

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// step is one history entry: process p's generate on node, of type typ,
// with the id that came back (ok only).
type step struct {
	p    int
	typ  history.Type
	node string
	id   any
}

func inv(p int, node string) step { return step{p, history.Invoke, node, nil} }
func ok(p int, node string, id any) step {
	return step{p, history.OK, node, id}
}
func fail(p int, node string) step { return step{p, history.Fail, node, nil} }
func info(p int, node string) step { return step{p, history.Info, node, nil} }

// gen invokes and acknowledges id for process p on node at once.
func gen(p int, node string, id any) []step { return []step{inv(p, node), ok(p, node, id)} }

func hist(parts ...any) []history.Op {
	var steps []step
	for _, p := range parts {
		switch x := p.(type) {
		case step:
			steps = append(steps, x)
		case []step:
			steps = append(steps, x...)
		case history.Op:
			steps = append(steps, step{p: -2, typ: x.Type, id: x})
		}
	}
	out := make([]history.Op, len(steps))
	for i, s := range steps {
		op := history.Op{Type: s.typ, Process: history.Process(s.p), F: "generate", Node: s.node, Value: s.id}
		if s.p == -2 {
			op = s.id.(history.Op)
		}
		op.Index, op.Time = int64(i), int64(i)*250e6
		out[i] = op
	}
	return out
}

func kill(typ history.Type) history.Op {
	return history.Op{Type: typ, Process: history.Nuker, F: "kill", Nodes: []string{"n1"}}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name      string
		ops       []history.Op
		want      models.Verdict
		stats     map[string]int64
		props     map[string]string
		anomalies int
		explain   string
		ops0      []int64 // the first anomaly's ops
	}{
		{
			name: "string ids from three nodes",
			ops:  hist(gen(0, "n1", "n1-0"), gen(1, "n2", "n2-0"), gen(2, "n3", "n3-0"), gen(0, "n1", "n1-1")),
			want: models.Valid,
			stats: map[string]int64{"attempted": 4, "acknowledged": 4, "distinct": 4, "duplicated": 0,
				"failed": 0, "indeterminate": 0, "duplicate_acks": 0},
			props: map[string]string{"id_types": "string"},
		},
		{
			name:  "numeric ids give their range",
			ops:   hist(gen(0, "n1", int64(17)), gen(1, "n2", json.Number("3")), gen(0, "n1", json.Number("1e3")), gen(1, "n2", -4)),
			want:  models.Valid,
			stats: map[string]int64{"acknowledged": 4, "distinct": 4},
			props: map[string]string{"id_types": "integer", "id_min": "-4", "id_max": "1000"},
		},
		{
			name:  "fractional numbers and integers",
			ops:   hist(gen(0, "n1", 1.5), gen(0, "n1", int64(2))),
			want:  models.Valid,
			props: map[string]string{"id_types": "integer+number", "id_min": "1.5", "id_max": "2"},
		},
		{
			name:  "mixed types: no range",
			ops:   hist(gen(0, "n1", int64(5)), gen(0, "n1", "5"), gen(0, "n1", []any{"n1", 5})),
			want:  models.Valid,
			props: map[string]string{"id_types": "array+integer+string"},
		},
		{
			name: "failed and indeterminate generates constrain nothing",
			ops: hist(gen(0, "n1", "a"), inv(1, "n2"), fail(1, "n2"), inv(2, "n3"), info(2, "n3"),
				inv(3, "n1")), // never completed
			want:  models.Valid,
			stats: map[string]int64{"attempted": 4, "acknowledged": 1, "failed": 1, "indeterminate": 2},
		},
		{
			name: "a counter restarted by a kill repeats its ids",
			ops: hist(gen(0, "n1", "n1-0"), gen(1, "n2", "n2-0"), gen(0, "n1", "n1-1"),
				kill(history.Invoke), kill(history.Info),
				gen(3, "n1", "n1-0"), gen(3, "n1", "n1-1"), gen(4, "n1", "n1-2")),
			want: models.Invalid, anomalies: 2,
			stats: map[string]int64{"acknowledged": 6, "distinct": 4, "duplicated": 2, "duplicate_acks": 2},
			// ops: 0-1 gen, 2-3 gen, 4-5 gen, 6-7 kill, 8-9 n1-0 again
			explain: `2 ids were returned more than once (2 extra acknowledgements); the first: id "n1-0" was returned 2 times: to process 0 on n1 at 250ms (ops 0–1), process 3 on n1 at 2.25s (ops 8–9)`,
			ops0:    []int64{0, 1, 8, 9},
		},
		{
			name:      "two nodes hand out the same number",
			ops:       hist(gen(0, "n1", int64(7)), gen(1, "n2", json.Number("7.0")), gen(2, "n3", json.Number("7"))),
			want:      models.Invalid,
			anomalies: 1,
			stats:     map[string]int64{"distinct": 1, "duplicated": 1, "duplicate_acks": 2},
			explain:   "id 7 was returned 3 times: to process 0 on n1 at 250ms (ops 0–1), process 1 on n2 at 750ms (ops 2–3), process 2 on n3 at 1.25s (ops 4–5)",
			props:     map[string]string{"id_min": "7", "id_max": "7"},
		},
		{
			name:      "null twice is a duplicate",
			ops:       hist(gen(0, "n1", nil), gen(1, "n1", nil)),
			want:      models.Invalid,
			anomalies: 1,
			props:     map[string]string{"id_types": "null"},
		},
		{
			name: "one id to many ops names five and counts the rest",
			ops: hist(gen(0, "n1", "x"), gen(1, "n1", "x"), gen(2, "n1", "x"), gen(3, "n1", "x"),
				gen(4, "n1", "x"), gen(5, "n1", "x"), gen(6, "n1", "x")),
			want: models.Invalid, anomalies: 1,
			explain: "was returned 7 times:",
		},
		{name: "nothing acknowledged", ops: hist(inv(0, "n1"), fail(0, "n1")), want: models.Unknown, explain: "no ids acknowledged"},
		{name: "empty", want: models.Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := New().Check(context.Background(), tt.ops, models.Options{})
			if res.Verdict != tt.want {
				t.Fatalf("verdict %s (%s), want %s", res.Verdict, res.Reason, tt.want)
			}
			if len(res.Anomalies) != tt.anomalies {
				t.Errorf("%d anomalies, want %d: %+v", len(res.Anomalies), tt.anomalies, res.Anomalies)
			}
			for _, a := range res.Anomalies {
				if a.Kind != AnomalyKind || len(a.Ops) < 4 {
					t.Errorf("anomaly %+v", a)
				}
			}
			if tt.ops0 != nil && (len(res.Anomalies) == 0 || !slices.Equal(res.Anomalies[0].Ops, tt.ops0)) {
				t.Errorf("first anomaly's ops %v, want %v", res.Anomalies, tt.ops0)
			}
			for k, v := range tt.stats {
				if res.Stats[k] != v {
					t.Errorf("stat %s = %d, want %d (stats %v)", k, res.Stats[k], v, res.Stats)
				}
			}
			for k, v := range tt.props {
				if res.Properties[k] != v {
					t.Errorf("property %s = %q, want %q (properties %v)", k, res.Properties[k], v, res.Properties)
				}
			}
			if _, ok := tt.props["id_min"]; !ok && tt.props != nil && res.Properties["id_min"] != "" {
				t.Errorf("id range %v for ids that are not all numbers", res.Properties)
			}
			if tt.explain != "" && !strings.Contains(res.Reason, tt.explain) {
				t.Errorf("reason %q, want it to contain %q", res.Reason, tt.explain)
			}
		})
	}
}

func TestCheckCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := New().Check(ctx, hist(gen(0, "n1", 1), gen(0, "n1", 1)), models.Options{})
	if res.Verdict != models.Unknown || !strings.Contains(res.Reason, "stopped") {
		t.Errorf("cancelled: %s (%s)", res.Verdict, res.Reason)
	}
}

func TestMaxAnomalies(t *testing.T) {
	var parts []any
	for i := range 5 {
		parts = append(parts, gen(0, "n1", i), gen(1, "n2", i))
	}
	res := (&Checker{MaxAnomalies: 2}).Check(context.Background(), hist(parts...), models.Options{})
	if res.Verdict != models.Invalid || len(res.Anomalies) != 2 || res.Stats["duplicated"] != 5 {
		t.Errorf("%s, %d anomalies listed, stats %v; want invalid, 2 listed, 5 duplicated", res.Verdict, len(res.Anomalies), res.Stats)
	}
}
