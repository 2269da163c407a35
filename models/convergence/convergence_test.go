package convergence

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/faultline/faultline/internal/histtest"
	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// hist builds a history from one line per op (see histtest.Build).
func hist(t testing.TB, lines ...string) []history.Op { return histtest.Build(t, lines...) }

// partitioned are the ops of a run with a partition healed at op 5 and two
// adds; a case appends its reads.
var partitioned = []string{
	"0 invoke add 1 node=n1", "0 ok add 1 node=n1",
	"nuker invoke start-partition", "nuker info start-partition",
	"1 invoke add 2 node=n2", "1 ok add 2 node=n2",
	"nuker invoke stop-partition", "nuker info stop-partition",
}

func with(lines ...string) []string { return append(slices.Clip(partitioned), lines...) }

func TestHandWritten(t *testing.T) {
	tests := []struct {
		name    string
		ops     []string
		verdict models.Verdict
		kinds   []string // kinds of the anomalies
		anomaly []int64  // ops of the first anomaly
		explain string   // part of the first anomaly's explanation
		reason  string   // part of the reason
		props   map[string]string
		stats   map[string]int64
	}{
		{
			name: "converged at once", verdict: models.Valid,
			ops: with(
				"2 invoke read nil node=n1", "2 ok read [1 2] node=n1",
				"3 invoke read nil node=n2", "3 ok read [2 1] node=n2",
			),
			props: map[string]string{"convergence_time": "40ns", "converged_at_op": "11", "quiescent_op": "7", "quiescent_cause": "last heal"},
			stats: map[string]int64{"final_reads": 2, "nodes": 2, "acknowledged": 2},
		},
		{
			name: "converged after a while", verdict: models.Valid,
			ops: with(
				"2 invoke read nil node=n1", "2 ok read [1] node=n1",
				"3 invoke read nil node=n2", "3 ok read [1 2] node=n2",
				"2 invoke read nil node=n1", "2 ok read [1 2] node=n1",
				"3 invoke read nil node=n2", "3 ok read [1 2] node=n2",
			),
			// n2 already had both, so they agree from n1's second read on.
			props: map[string]string{"convergence_time": "60ns", "converged_at_op": "13", "quiescent_op": "7", "quiescent_cause": "last heal"},
		},
		{
			name: "a read before the heal does not count", verdict: models.Valid,
			ops: []string{
				"nuker invoke start-kill", "nuker info start-kill",
				"0 invoke add 1 node=n1", "0 ok add 1 node=n1",
				"2 invoke read nil node=n2", "2 ok read [] node=n2",
				"nuker invoke stop-kill", "nuker info stop-kill",
				"2 invoke read nil node=n2", "2 ok read [1] node=n2",
				"3 invoke read nil node=n1", "3 ok read [1] node=n1",
			},
		},
		{
			name: "indeterminate add on every node or none", verdict: models.Valid,
			ops: with(
				"4 invoke add 3 node=n1", "4 info add 3 node=n1",
				"5 invoke add 4 node=n2", "5 info add 4 node=n2",
				"2 invoke read nil node=n1", "2 ok read [1 2 3] node=n1",
				"3 invoke read nil node=n2", "3 ok read [1 2 3] node=n2",
			),
			props: map[string]string{"convergence_time": "40ns", "converged_at_op": "15", "quiescent_op": "11", "quiescent_cause": "last add"},
			stats: map[string]int64{"recovered": 1, "indeterminate": 2},
		},
		{
			name: "nodes that never converge", verdict: models.Invalid, kinds: []string{LostKind, DivergedKind}, anomaly: []int64{4, 5, 14, 15},
			ops: with(
				"2 invoke read nil node=n1", "2 ok read [1 2] node=n1",
				"3 invoke read nil node=n2", "3 ok read [1] node=n2",
				"2 invoke read nil node=n1", "2 ok read [1 2] node=n1",
				"3 invoke read nil node=n2", "3 ok read [1] node=n2",
			),
			explain: "Node n2's final read (process 3, ops 14–15) lacks 1 acknowledged add: 2 (process 1, ops 4–5)",
			reason:  "1 lost, 1 divergent elements; the first: Node n2's final read",
			stats:   map[string]int64{"lost": 1, "divergent": 1},
		},
		{
			name: "diverged on an indeterminate add", verdict: models.Invalid, kinds: []string{DivergedKind}, anomaly: []int64{10, 11, 12, 13},
			ops: with(
				"4 invoke add 3 node=n1", "4 info add 3 node=n1",
				"2 invoke read nil node=n1", "2 ok read [1 2 3] node=n1",
				"3 invoke read nil node=n2", "3 ok read [1 2] node=n2",
			),
			explain: "The final reads of n1 (ops 10–11) and n2 (ops 12–13) disagree on 1 element: 3 is in the reads of n1 but not of n2",
			stats:   map[string]int64{"lost": 0, "divergent": 1},
		},
		{
			name: "unexpected elements", verdict: models.Invalid, kinds: []string{UnexpectedKind, UnexpectedKind}, anomaly: []int64{8, 9, 10, 11},
			ops: with(
				"4 invoke add 3 node=n1", "4 fail add 3 node=n1",
				"2 invoke read nil node=n1", "2 ok read [1 2 3 7] node=n1",
				"3 invoke read nil node=n2", "3 ok read [1 2 3 7] node=n2",
			),
			explain: "Node n1's final read (process 2, ops 10–11) holds 2 elements no add put there: 3 (only a failed add tried it: process 4, ops 8–9) and 7 (never added)",
			stats:   map[string]int64{"unexpected": 2, "divergent": 0},
		},
		{
			name: "keys", verdict: models.Invalid, kinds: []string{LostKind, DivergedKind}, anomaly: []int64{0, 1, 6, 7},
			ops: []string{
				"0 invoke add 1 key=a node=n1", "0 ok add 1 key=a node=n1",
				"0 invoke add 1 key=b node=n1", "0 ok add 1 key=b node=n1",
				"2 invoke read nil key=a node=n1", "2 ok read [1] key=a node=n1",
				"3 invoke read nil key=a node=n2", "3 ok read [] key=a node=n2",
				"2 invoke read nil key=b node=n1", "2 ok read [1] key=b node=n1",
				"3 invoke read nil key=b node=n2", "3 ok read [1] key=b node=n2",
			},
			explain: "Node n2's final read (process 3, ops 6–7) of key a lacks 1 acknowledged add: 1 (process 0, ops 0–1)",
		},
		{
			name: "fault never healed", verdict: models.Unknown,
			ops:    []string{"nuker invoke start-partition", "nuker info start-partition", "0 invoke read nil node=n1", "0 ok read [] node=n1"},
			reason: "the partition fault started at op 0 was never healed, so convergence cannot be judged",
		},
		{
			name: "no final reads", verdict: models.Unknown,
			ops:    []string{"2 invoke read nil node=n1", "2 ok read [] node=n1", "0 invoke add 1 node=n1", "0 ok add 1 node=n1"},
			reason: "no ok read of the set began after op 3 (the last add)",
		},
		{
			name: "one node", verdict: models.Unknown,
			ops:    with("2 invoke read nil node=n1", "2 ok read [1 2] node=n1"),
			reason: "only node n1 read the set after op 7 (the last heal); agreement needs two",
		},
		{
			name: "one node, lost", verdict: models.Invalid, kinds: []string{LostKind},
			ops:    with("2 invoke read nil node=n1", "2 ok read [1] node=n1"),
			reason: "Node n1's final read (process 2, ops 8–9) lacks 1 acknowledged add: 2 (process 1, ops 4–5); only node n1 read the set after op 7",
		},
		{
			name: "a node without a final read", verdict: models.Unknown,
			ops: with(
				"2 invoke read nil node=n1", "2 ok read [1 2] node=n1",
				"3 invoke read nil node=n2", "3 ok read [1 2] node=n2",
				"4 invoke read nil node=n3", "4 info read nil node=n3",
			),
			reason: "node n3 served the set but has no ok read that began after op 7 (the last heal)",
			stats:  map[string]int64{"nodes_without_final_read": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := New().Check(context.Background(), hist(t, tt.ops...), models.Options{})
			if res.Checker != Name || res.Model != Name {
				t.Errorf("checker %q model %q", res.Checker, res.Model)
			}
			if res.Verdict != tt.verdict {
				t.Fatalf("verdict %s (%s), want %s; stats %v", res.Verdict, res.Reason, tt.verdict, res.Stats)
			}
			if !strings.Contains(res.Reason, tt.reason) {
				t.Errorf("reason %q, want it to contain %q", res.Reason, tt.reason)
			}
			for k, v := range tt.stats {
				if res.Stats[k] != v {
					t.Errorf("stat %s = %d, want %d (%v)", k, res.Stats[k], v, res.Stats)
				}
			}
			if tt.props != nil && !reflect.DeepEqual(res.Properties, tt.props) {
				t.Errorf("properties %v, want %v", res.Properties, tt.props)
			}
			var kinds []string
			for _, a := range res.Anomalies {
				kinds = append(kinds, a.Kind)
			}
			if !reflect.DeepEqual(kinds, tt.kinds) {
				t.Fatalf("anomaly kinds %v, want %v: %+v", kinds, tt.kinds, res.Anomalies)
			}
			if tt.verdict == models.Valid && res.Reason != "" {
				t.Errorf("valid with reason %q", res.Reason)
			}
			if len(tt.kinds) == 0 {
				return
			}
			a := res.Anomalies[0]
			if tt.anomaly != nil && !reflect.DeepEqual(a.Ops, tt.anomaly) {
				t.Errorf("anomaly ops %v, want %v", a.Ops, tt.anomaly)
			}
			if !strings.Contains(a.Explanation, tt.explain) {
				t.Errorf("explanation\n  %s\nwant it to contain\n  %s", a.Explanation, tt.explain)
			}
			if a.Time != 10*a.Ops[0] {
				t.Errorf("time %d, want %d", a.Time, 10*a.Ops[0])
			}
		})
	}
}

func TestNoTimes(t *testing.T) {
	ops := hist(t, with(
		"2 invoke read nil node=n1", "2 ok read [1 2] node=n1",
		"3 invoke read nil node=n2", "3 ok read [1 2] node=n2",
	)...)
	for i := range ops {
		ops[i].Time = 0
	}
	res := New().Check(context.Background(), ops, models.Options{})
	if res.Verdict != models.Valid {
		t.Fatalf("%s %s", res.Verdict, res.Reason)
	}
	if _, ok := res.Properties["convergence_time"]; ok || res.Properties["converged_at_op"] != "11" {
		t.Errorf("properties %v: want no convergence_time without times", res.Properties)
	}
}

func TestUncheckable(t *testing.T) {
	res := New().Check(context.Background(), nil, models.Options{})
	if res.Verdict != models.Unknown || res.Reason != "no adds or reads to check" {
		t.Errorf("empty: %s %q", res.Verdict, res.Reason)
	}
	ops := hist(t, with(
		"2 invoke read nil node=n1", "2 ok read 5 node=n1",
		"2 invoke read nil node=n1", "2 ok read [1 2] node=n1",
		"3 invoke read nil node=n2", "3 ok read [1 2] node=n2",
	)...)
	res = New().Check(context.Background(), ops, models.Options{})
	if res.Verdict != models.Unknown || res.Reason != "1 malformed ops skipped, the first op 9 (process 2): read returned 5: not a list" {
		t.Errorf("malformed: %s %q", res.Verdict, res.Reason)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res = New().Check(ctx, ops, models.Options{})
	if res.Verdict != models.Unknown || !strings.Contains(res.Reason, "context canceled") {
		t.Errorf("cancelled: %s %q", res.Verdict, res.Reason)
	}
}

func TestModels(t *testing.T) {
	r := Models()
	e, err := r.Lookup(Name)
	if err != nil || e.Summary == "" || e.New().Name() != Name || len(r) != 1 {
		t.Errorf("registry %v: %v", r, err)
	}
}

// simulate runs a grow-only set replicated on nodes by anti-entropy: an add
// takes effect on its node at one instant while it is in flight (an
// indeterminate add possibly never), and every step one random pair of
// nodes merges, unless the nuker has them partitioned. Clients stick to a
// node. After the writes and faults stop, clients keep reading for tail
// steps. With deaf, one node never receives element 1 from the others.
func simulate(rng *rand.Rand, n, nodes, procs, tail int, deaf bool) []history.Op {
	var ops []history.Op
	emit := func(op history.Op) {
		op.Index, op.Time = int64(len(ops)), int64(len(ops))
		ops = append(ops, op)
	}
	state := make([]map[int64]bool, nodes)
	for i := range state {
		state[i] = map[int64]bool{}
	}
	name := func(i int) string { return fmt.Sprintf("n%d", i+1) }
	cut := -1 // the node the partition isolates, -1 when none
	type client struct {
		proc    history.Process
		node    int
		busy    bool
		applied bool
		f       string
		elem    int64
		result  []any
	}
	cs := make([]client, procs)
	for i := range cs {
		cs[i] = client{proc: history.Process(i), node: i % nodes}
	}
	next := history.Process(procs)
	var elem int64
	read := func(node int) []any {
		var out []any
		for e := range state[node] {
			out = append(out, e)
		}
		slices.SortFunc(out, func(a, b any) int { return int(a.(int64) - b.(int64)) })
		return out
	}
	writing := true
	for step := 0; writing || step < n+tail; step++ {
		if writing && step >= n {
			// Stop writing: finish in-flight adds, heal.
			writing = false
			for i := range cs {
				c := &cs[i]
				if c.busy && c.f == "add" {
					if !c.applied {
						state[c.node][c.elem] = true
					}
					c.busy = false
					emit(history.Op{Process: c.proc, Type: history.OK, F: "add", Value: c.elem, Node: name(c.node)})
				}
			}
			if cut >= 0 {
				emit(history.Op{Process: history.Nuker, Type: history.Invoke, F: "stop-partition"})
				emit(history.Op{Process: history.Nuker, Type: history.Info, F: "stop-partition"})
				cut = -1
			}
		}
		// Anti-entropy between two nodes on the same side.
		a, b := rng.IntN(nodes), rng.IntN(nodes)
		if a != b && (cut < 0 || (a == cut) == (b == cut)) {
			for e := range state[a] {
				if !(deaf && b == 0 && e == 1) {
					state[b][e] = true
				}
			}
			for e := range state[b] {
				if !(deaf && a == 0 && e == 1) {
					state[a][e] = true
				}
			}
		}
		if writing && rng.IntN(40) == 0 {
			if cut < 0 {
				cut = rng.IntN(nodes)
				emit(history.Op{Process: history.Nuker, Type: history.Invoke, F: "start-partition"})
				emit(history.Op{Process: history.Nuker, Type: history.Info, F: "start-partition", Nodes: []string{name(cut)}})
			} else {
				emit(history.Op{Process: history.Nuker, Type: history.Invoke, F: "stop-partition"})
				emit(history.Op{Process: history.Nuker, Type: history.Info, F: "stop-partition"})
				cut = -1
			}
		}
		c := &cs[rng.IntN(procs)]
		switch {
		case !c.busy:
			c.busy, c.applied = true, false
			if writing && rng.IntN(2) == 0 {
				elem++
				c.f, c.elem = "add", elem
				emit(history.Op{Process: c.proc, Type: history.Invoke, F: "add", Value: elem, Node: name(c.node)})
			} else {
				c.f = "read"
				emit(history.Op{Process: c.proc, Type: history.Invoke, F: "read", Node: name(c.node)})
			}
		case !c.applied && rng.IntN(2) == 0:
			c.applied = true
			if c.f == "add" {
				state[c.node][c.elem] = true
			} else {
				c.result = read(c.node)
			}
		default:
			c.busy = false
			if c.f == "read" {
				if !c.applied {
					c.result = read(c.node)
				}
				emit(history.Op{Process: c.proc, Type: history.OK, F: "read", Value: c.result, Node: name(c.node)})
				continue
			}
			switch r := rng.IntN(10); {
			case r == 0 && !c.applied:
				emit(history.Op{Process: c.proc, Type: history.Fail, F: "add", Value: c.elem, Node: name(c.node)})
			case r == 1:
				emit(history.Op{Process: c.proc, Type: history.Info, F: "add", Value: c.elem, Node: name(c.node)})
				c.proc, next = next, next+1
			default:
				if !c.applied {
					state[c.node][c.elem] = true
				}
				emit(history.Op{Process: c.proc, Type: history.OK, F: "add", Value: c.elem, Node: name(c.node)})
			}
		}
	}
	// Final reads: every client reads once more.
	for i := range cs {
		c := &cs[i]
		if c.busy {
			continue
		}
		emit(history.Op{Process: c.proc, Type: history.Invoke, F: "read", Node: name(c.node)})
		emit(history.Op{Process: c.proc, Type: history.OK, F: "read", Value: read(c.node), Node: name(c.node)})
	}
	return ops
}

func TestRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 100 {
		nodes := 2 + rng.IntN(3)
		procs := nodes + rng.IntN(4)
		// A long tail gives anti-entropy time to reach every node.
		ops := simulate(rng, 20+rng.IntN(200), nodes, procs, 1000, false)
		res := New().Check(context.Background(), ops, models.Options{})
		if res.Verdict != models.Valid {
			t.Fatalf("history %d of a converging set: %s (%s)\n%s", i, res.Verdict, res.Reason, dump(ops))
		}
		if res.Properties["convergence_time"] == "" {
			t.Fatalf("history %d: no convergence time: %v", i, res.Properties)
		}
		// A node deaf to element 1 never converges, once element 1 was
		// added elsewhere.
		ops = simulate(rng, 20+rng.IntN(200), nodes, procs, 1000, true)
		res = New().Check(context.Background(), ops, models.Options{})
		if res.Verdict == models.Valid {
			for _, op := range ops {
				if op.F == "add" && op.Type == history.OK && op.Value == int64(1) && op.Node != "n1" {
					t.Fatalf("history %d: node n1 never got element 1, yet valid", i)
				}
			}
		}
	}
}

func dump(ops []history.Op) string {
	var sb strings.Builder
	for _, op := range ops {
		fmt.Fprintf(&sb, "%d %v %s %s %v %s\n", op.Index, op.Process, op.Type, op.F, op.Value, op.Node)
	}
	return sb.String()
}
