package workloads

import (
	"testing"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// TestBroadcastJudgesAsMaelstrom checks that the broadcast workload holds
// a history to what Maelstrom's broadcast promises and no more: a read that
// shows a later add before the earlier one its writer had read is fine
// there (the set workload's session checker calls it invalid), a lost
// element is not.
func TestBroadcastJudgesAsMaelstrom(t *testing.T) {
	// p1 reads {1} on n2 and then adds 2 there; p2 on n3 sees 2 but not 1:
	// writes-follow-reads broken, nothing lost. The final reads agree.
	reordered := []history.Op{
		{Process: 0, Type: history.Invoke, F: "add", Key: "0", Value: int64(1), Node: "n1"},
		{Process: 0, Type: history.OK, F: "add", Key: "0", Value: int64(1), Node: "n1"},
		{Process: 1, Type: history.Invoke, F: "read", Key: "0", Node: "n2"},
		{Process: 1, Type: history.OK, F: "read", Key: "0", Value: []any{int64(1)}, Node: "n2"},
		{Process: 1, Type: history.Invoke, F: "add", Key: "0", Value: int64(2), Node: "n2"},
		{Process: 1, Type: history.OK, F: "add", Key: "0", Value: int64(2), Node: "n2"},
		{Process: 2, Type: history.Invoke, F: "read", Key: "0", Node: "n3"},
		{Process: 2, Type: history.OK, F: "read", Key: "0", Value: []any{int64(2)}, Node: "n3"},
	}
	final := func(ops []history.Op, set []any) []history.Op {
		for i, n := range []string{"n1", "n2", "n3"} {
			p := history.Process(10 + i)
			ops = append(ops,
				history.Op{Process: p, Type: history.Invoke, F: "read", Key: "0", Node: n},
				history.Op{Process: p, Type: history.OK, F: "read", Key: "0", Value: set, Node: n})
		}
		for i := range ops {
			ops[i].Index, ops[i].Time = int64(i), int64(i)*1000
		}
		return ops
	}
	tests := []struct {
		name    string
		wl      Workload
		ops     []history.Op
		want    models.Verdict
		invalid string // the checker that must say invalid
	}{
		{"broadcast, reordered", Broadcast{}, final(append([]history.Op(nil), reordered...), []any{int64(1), int64(2)}), models.Valid, ""},
		{"g-set, reordered", Broadcast{GSet: true}, final(append([]history.Op(nil), reordered...), []any{int64(1), int64(2)}), models.Valid, ""},
		{"set, reordered", Set{}, final(append([]history.Op(nil), reordered...), []any{int64(1), int64(2)}), models.Invalid, "session"},
		{"broadcast, lost", Broadcast{}, final(append([]history.Op(nil), reordered...), []any{int64(2)}), models.Invalid, "set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var vs []models.Verdict
			bad := map[string]bool{}
			for _, r := range judge(t, tt.wl, tt.ops) {
				vs = append(vs, r.Verdict)
				if r.Verdict == models.Invalid {
					bad[r.Checker] = true
				}
			}
			if got := models.Combine(vs...); got != tt.want {
				t.Errorf("%s judged %s, want %s (invalid: %v)", tt.wl.Name(), got, tt.want, bad)
			}
			if tt.invalid != "" && !bad[tt.invalid] {
				t.Errorf("checker %s did not find it (invalid: %v)", tt.invalid, bad)
			}
		})
	}
}
