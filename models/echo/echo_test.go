package echo

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// hist builds a history from (process, type, value) steps: an invoke
// carries the value sent, an ok the value that came back.
func hist(steps ...history.Op) []history.Op {
	out := make([]history.Op, len(steps))
	for i, s := range steps {
		s.Index, s.Time = int64(i), int64(i)*1e6
		if s.F == "" {
			s.F = "echo"
		}
		s.Node = "n1"
		out[i] = s
	}
	return out
}

func inv(p int, v any) history.Op {
	return history.Op{Type: history.Invoke, Process: history.Process(p), Value: v}
}
func ok(p int, v any) history.Op {
	return history.Op{Type: history.OK, Process: history.Process(p), Value: v}
}
func fail(p int, v any) history.Op {
	return history.Op{Type: history.Fail, Process: history.Process(p), Value: v}
}
func info(p int, v any) history.Op {
	return history.Op{Type: history.Info, Process: history.Process(p), Value: v}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name      string
		ops       []history.Op
		want      models.Verdict
		stats     map[string]int64
		anomalies int
		explain   string
	}{
		{
			name: "every reply echoes",
			ops: hist(inv(0, "Please echo 1"), inv(1, "Please echo 2"), ok(1, "Please echo 2"), ok(0, "Please echo 1"),
				inv(0, "é \"q\"\n"), ok(0, json.RawMessage(`"\u00e9 \"q\"\n"`))),
			want:  models.Valid,
			stats: map[string]int64{"attempted": 3, "ok": 3, "mismatched": 0},
		},
		{
			name:  "a number echoed as a JSON number of the same value",
			ops:   hist(inv(0, int64(35)), ok(0, json.Number("35.0"))),
			want:  models.Valid,
			stats: map[string]int64{"ok": 1},
		},
		{
			name: "fails and timeouts say nothing",
			ops: hist(inv(0, "a"), fail(0, "a"), inv(1, "b"), info(1, "b"), inv(2, "c"), ok(2, "c"),
				inv(3, "d")), // never completed
			want:  models.Valid,
			stats: map[string]int64{"attempted": 4, "ok": 1, "failed": 1, "indeterminate": 2},
		},
		{
			name: "a reply carrying another request's value",
			ops:  hist(inv(0, "Please echo 1"), inv(1, "Please echo 2"), ok(0, "Please echo 2"), ok(1, "Please echo 2")),
			want: models.Invalid, anomalies: 1,
			stats:   map[string]int64{"mismatched": 1, "ok": 2},
			explain: `Process 0's echo of "Please echo 1" on n1 (ops 0–2) came back as "Please echo 2"`,
		},
		{
			name: "a reply with nothing in it, and a string for a number",
			ops:  hist(inv(0, "x"), ok(0, nil), inv(0, "5"), ok(0, json.Number("5"))),
			want: models.Invalid, anomalies: 2,
			stats:   map[string]int64{"mismatched": 2},
			explain: `2 ok replies did not echo what was sent; the first: Process 0's echo of "x" on n1 (ops 0–1) came back as nil`,
		},
		{
			name: "only failures", ops: hist(inv(0, "a"), fail(0, "a")),
			want: models.Unknown, explain: "no ok echoes to check",
		},
		{name: "empty", want: models.Unknown},
		{
			name: "other ops are not echoes",
			ops:  hist(history.Op{Type: history.Invoke, F: "read"}, history.Op{Type: history.OK, F: "read", Value: 3}, inv(1, "a"), ok(1, "a")),
			want: models.Valid, stats: map[string]int64{"attempted": 1},
		},
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
				if a.Kind != AnomalyKind || len(a.Ops) != 2 {
					t.Errorf("anomaly %+v", a)
				}
			}
			for k, v := range tt.stats {
				if res.Stats[k] != v {
					t.Errorf("stat %s = %d, want %d (stats %v)", k, res.Stats[k], v, res.Stats)
				}
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
	res := New().Check(ctx, hist(inv(0, "a"), ok(0, "b")), models.Options{})
	if res.Verdict != models.Unknown || !strings.Contains(res.Reason, "stopped") {
		t.Errorf("cancelled: %s (%s)", res.Verdict, res.Reason)
	}
}
