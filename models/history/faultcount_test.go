package history

import (
	"reflect"
	"testing"
)

// nk builds a nuker op.
func nk(typ Type, f string, nodes []string, value any, err string, failed ...string) Op {
	return Op{Type: typ, Process: Nuker, F: f, Nodes: nodes, Value: value, Error: err, Failed: failed}
}

func TestStartOutcome(t *testing.T) {
	all := []string{"n1", "n2", "n3"}
	halves := map[string]any{"partition": "halves", "grudge": map[string]any{"n1": []any{"n2", "n3"}, "n2": []any{"n1"}, "n3": []any{"n1"}}}
	oneWay := map[string]any{"partition": "one-way", "grudge": map[string]any{"n1": []any{"n2", "n3"}}}
	tests := []struct {
		name string
		inv  Op
		done Op
		want Outcome
	}{
		{"no error", nk(Invoke, "start-kill", all, nil, ""), nk(Info, "start-kill", all, []any{"n1", "n2", "n3"}, ""), Effective},
		{"error, no failed list: the record cannot say where it worked",
			nk(Invoke, "start-kill", all, nil, ""), nk(Info, "start-kill", all, []any{"n1", "n2", "n3"}, "injection failed"), Failed},
		{"failed on every node", nk(Invoke, "start-clock", all, nil, ""),
			nk(Info, "start-clock", all, map[string]any{}, "n1: no ptrace\nn2: no ptrace\nn3: no ptrace", "n1", "n2", "n3"), Failed},
		{"failed on one of three", nk(Invoke, "start-pause", all, nil, ""),
			nk(Info, "start-pause", all, []any{"n1", "n3"}, "n2: gone", "n2"), Partial},
		{"partition: a node that drops nothing failed", nk(Invoke, "start-partition", all, oneWay, ""),
			nk(Info, "start-partition", all, oneWay["grudge"], "partition n3: iptables: not found", "n3"), Partial},
		{"partition: the only dropping node failed", nk(Invoke, "start-partition", all, oneWay, ""),
			nk(Info, "start-partition", all, map[string]any{}, "partition n1: iptables: not found", "n1"), Failed},
		{"partition: every dropping node failed", nk(Invoke, "start-partition", all, halves, ""),
			nk(Info, "start-partition", all, map[string]any{}, "x", "n1", "n2", "n3"), Failed},
		{"cut short by the end of the run", nk(Invoke, "start-kill", all, nil, ""),
			nk(Info, "start-kill", all, []any{}, CutShort+"n1: context deadline exceeded", "n1", "n2", "n3"), Unfinished},
		{"failed nodes without an error still count", nk(Invoke, "start-kill", all, nil, ""),
			nk(Info, "start-kill", all, []any{"n1"}, "", "n2", "n3"), Partial},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := StartOutcome(tt.inv, tt.done); got != tt.want {
				t.Errorf("StartOutcome = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestCountFaults(t *testing.T) {
	all := []string{"n1", "n2", "n3"}
	ok := func(kind string) []Op {
		return []Op{
			nk(Invoke, "start-"+kind, all, nil, ""), nk(Info, "start-"+kind, all, all, ""),
			nk(Invoke, "stop-"+kind, all, nil, ""), nk(Info, "stop-"+kind, all, all, ""),
		}
	}
	bad := func(kind, err string) []Op {
		return []Op{
			nk(Invoke, "start-"+kind, all, nil, ""), nk(Info, "start-"+kind, all, []any{}, err, all...),
			nk(Invoke, "stop-"+kind, all, nil, ""), nk(Info, "stop-"+kind, all, all, ""),
		}
	}
	partial := func(kind string) []Op {
		return []Op{
			nk(Invoke, "start-"+kind, all, nil, ""), nk(Info, "start-"+kind, all, []any{"n1"}, "n2: x\nn3: y", "n2", "n3"),
			nk(Invoke, "stop-"+kind, all, nil, ""), nk(Info, "stop-"+kind, all, []any{"n1"}, "n2: undo failed", "n2"),
		}
	}
	cat := func(parts ...[]Op) []Op {
		var out []Op
		for _, p := range parts {
			out = append(out, p...)
		}
		out = append(out, Op{Type: Invoke, Process: 0, F: "read"}) // client ops are ignored
		return out
	}
	tests := []struct {
		name string
		ops  []Op
		want []FaultTally
	}{
		{"no faults", cat(), nil},
		{"none failed", cat(ok("partition"), ok("kill"), ok("partition")), []FaultTally{
			{Kind: "partition", Requested: 2, Effective: 2},
			{Kind: "kill", Requested: 1, Effective: 1},
		}},
		{"all failed", cat(bad("clock", "no ptrace"), bad("clock", "again")), []FaultTally{
			{Kind: "clock", Requested: 2, Failed: 2, FirstError: "no ptrace"},
		}},
		{"some failed", cat(ok("kill"), bad("kill", "boom"), partial("kill")), []FaultTally{
			{Kind: "kill", Requested: 3, Effective: 1, Partial: 1, Failed: 1, UndoFailed: 1, FirstError: "boom"},
		}},
		{"the history ends during an injection", cat(ok("pause"), []Op{nk(Invoke, "start-pause", all, nil, "")}), []FaultTally{
			{Kind: "pause", Requested: 2, Effective: 1, Unfinished: 1},
		}},
		{"jepsen's bare nemesis ops", cat([]Op{
			nk(Invoke, "start", nil, nil, ""), nk(Info, "start", nil, "cut", ""),
			nk(Invoke, "stop", nil, nil, ""), nk(Info, "stop", nil, "healed", ""),
		}), []FaultTally{{Kind: JepsenNemesis, Requested: 1, Effective: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CountFaults(tt.ops)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("CountFaults =\n %+v\nwant\n %+v", got, tt.want)
			}
			for _, ft := range got {
				if n := ft.Effective + ft.Partial + ft.Failed + ft.Unfinished; n != ft.Requested {
					t.Errorf("%s: outcomes add up to %d, requested %d", ft.Kind, n, ft.Requested)
				}
			}
		})
	}
}

func TestFaultWindowsOutcome(t *testing.T) {
	all := []string{"n1", "n2"}
	ops := []Op{
		nk(Invoke, "start-kill", all, nil, ""), nk(Info, "start-kill", all, []any{}, "n1: x\nn2: y", "n1", "n2"),
		nk(Invoke, "stop-kill", all, nil, ""), nk(Info, "stop-kill", all, all, ""),
		nk(Invoke, "start-kill", all, nil, ""), nk(Info, "start-kill", all, all, ""),
		nk(Invoke, "stop-kill", all, nil, ""), nk(Info, "stop-kill", all, all, ""),
	}
	for i := range ops {
		ops[i].Index, ops[i].Time = int64(i), int64(i)
	}
	ws := FaultWindows(ops)
	if len(ws) != 2 {
		t.Fatalf("%d windows, want 2", len(ws))
	}
	if !ws[0].Failed() || ws[0].Error != "n1: x\nn2: y" {
		t.Errorf("first window: outcome %q error %q, want failed with the error", ws[0].Outcome, ws[0].Error)
	}
	if ws[1].Failed() || ws[1].Outcome != "" {
		t.Errorf("second window: outcome %q, want none (effective)", ws[1].Outcome)
	}
}

func TestPowerFailureBetween(t *testing.T) {
	ws := []Window{
		{Kind: "kill", Start: 10, Effective: 20, End: 30},
		{Kind: PowerKind, Start: 40, Effective: 50, End: 60, StartOp: 1},
		{Kind: PowerKind, Start: 70, End: 90, StartOp: 2}, // no start completion: its end bounds the drop
		{Kind: PowerKind, Start: 100, Effective: 110, End: 120, StartOp: 3, Outcome: Failed},
	}
	tests := []struct {
		after, before int64
		want          int64 // StartOp, or -1 for none
	}{
		{0, 35, -1},   // only the kill lies between
		{0, 45, 1},    // the first power failure began before the read
		{45, 200, 1},  // seen while it began, dropped after
		{50, 200, 2},  // seen once the first finished dropping
		{85, 200, 2},  // dropped by the end of the second
		{90, 200, -1}, // the third never took effect
		{0, 40, -1},   // the read began as the power failure did
	}
	for _, tt := range tests {
		w, ok := PowerFailureBetween(ws, tt.after, tt.before)
		got := int64(-1)
		if ok {
			got = w.StartOp
		}
		if got != tt.want {
			t.Errorf("PowerFailureBetween(%d, %d) = op %d, want %d", tt.after, tt.before, got, tt.want)
		}
	}
}
