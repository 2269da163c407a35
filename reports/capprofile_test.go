package reports

import (
	"reflect"
	"testing"
	"time"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// placed sets client ops' nodes by process and the grudge of every
// partition's start completion, as the harness and the nuker record them.
func placed(ops []history.Op, nodeOf map[int]string, grudge map[string][]string) []history.Op {
	for i := range ops {
		if ops[i].IsClient() {
			ops[i].Node = nodeOf[int(ops[i].Process)]
		} else if ops[i].F == "start-partition" && ops[i].Type == history.Info {
			ops[i].Value = grudge
		}
	}
	return ops
}

// isolateN1 cuts n1 off from n2 and n3.
var isolateN1 = map[string][]string{"n1": {"n2", "n3"}, "n2": {"n1"}, "n3": {"n1"}}

func TestCAP(t *testing.T) {
	// Partition [15ms, 26ms] isolates n1: the only completion in it is a
	// fail of process 1, on n1; healthy completions are ok, ok, info (share
	// 2/3). Healthy latency: the read 0-10ms alone overlaps no window.
	refusing := placed(hist(
		cl(0, history.Invoke, 0, "read"),
		cl(0, history.Invoke, 1, "write"),
		cl(10*ms, history.OK, 0, "read"),
		nk(15*ms, history.Invoke, "start-partition"),
		nk(16*ms, history.Info, "start-partition", "n1"),
		cl(20*ms, history.Fail, 1, "write"),
		cl(20*ms, history.Invoke, 0, "read"),
		nk(25*ms, history.Invoke, "stop-partition"),
		nk(26*ms, history.Info, "stop-partition", "n1"),
		cl(30*ms, history.Invoke, 1, "write"),
		cl(50*ms, history.OK, 0, "read"),
		cl(1030*ms, history.Info, 1, "write"),
	), map[int]string{0: "n2", 1: "n1"}, isolateN1)
	// Partition [10ms, 30ms] isolates n1, where process 0 sends: ok at 20ms
	// and fail at 25ms in it (50%), ok at 5ms and 40ms outside (100%): 50%
	// >= 50% of 100%, available.
	answeringOps := func() []history.Op {
		return hist(
			cl(0, history.Invoke, 0, "read"),
			cl(5*ms, history.OK, 0, "read"),
			cl(5*ms, history.Invoke, 0, "read"),
			nk(10*ms, history.Invoke, "start-partition"),
			nk(11*ms, history.Info, "start-partition", "n1", "n2", "n3"),
			cl(20*ms, history.OK, 0, "read"),
			cl(20*ms, history.Invoke, 0, "read"),
			cl(25*ms, history.Fail, 0, "read"),
			cl(25*ms, history.Invoke, 0, "read"),
			nk(30*ms, history.Info, "stop-partition"),
			cl(40*ms, history.OK, 0, "read"),
		)
	}
	answering := placed(answeringOps(), map[int]string{0: "n1"}, isolateN1)
	// The same traffic sent to n2, on the majority side: it says nothing
	// about availability under partition.
	majoritySide := placed(answeringOps(), map[int]string{0: "n2"}, isolateN1)
	// A kill only.
	noPartition := hist(
		nk(10*ms, history.Invoke, "start-kill"),
		nk(40*ms, history.Info, "stop-kill"),
		cl(0, history.Invoke, 0, "read"),
		cl(5*ms, history.OK, 0, "read"),
		cl(20*ms, history.Invoke, 0, "read"),
		cl(35*ms, history.OK, 0, "read"),
	)
	untimed := hist(
		cl(0, history.Invoke, 0, "read"),
		cl(0, history.OK, 0, "read"),
	)
	valid := []models.Result{{Checker: "linearizable", Verdict: models.Valid}}
	invalidAt := func(ts ...int64) []models.Result {
		r := models.Result{Checker: "linearizable", Verdict: models.Invalid}
		for _, t := range ts {
			r.Anomalies = append(r.Anomalies, models.Anomaly{Kind: "stale-read", Time: t})
		}
		return append(valid, r)
	}

	tests := []struct {
		name       string
		ops        []history.Op
		results    []models.Result
		class      string
		line       string
		partCons   string // "" when no partition ran
		anomalies  int
		healthCons string
	}{
		{"nothing to measure", untimed, valid, "", "", "", 0, CAPConsistent},
		{"no partition", noPartition, valid, "EC",
			"EC: no partition ran; healthy p50 5ms, p99 5ms (consistent)", "", 0, CAPConsistent},
		{"refused, consistent", refusing, valid, "PC/EC",
			"PC/EC: under partition refused 100% of the ops sent to cut-off nodes (consistent); healthy p50 10ms, p99 10ms", CAPConsistent, 0, CAPConsistent},
		{"anomaly in the partition", refusing, invalidAt(20 * ms), "PC/EC",
			"PC/EC: under partition refused 100% of the ops sent to cut-off nodes (inconsistent: 1 anomaly); healthy p50 10ms, p99 10ms", CAPInconsistent, 1, CAPConsistent},
		{"anomaly outside", refusing, invalidAt(5 * ms), "PC/EL",
			"PC/EL: under partition refused 100% of the ops sent to cut-off nodes (consistent); healthy p50 10ms, p99 10ms", CAPConsistent, 0, CAPInconsistent},
		{"invalid without anomalies", refusing, invalidAt(), "PC/EL",
			"PC/EL: under partition refused 100% of the ops sent to cut-off nodes (inconsistent); healthy p50 10ms, p99 10ms", CAPInconsistent, 0, CAPInconsistent},
		{"checker gave up", refusing, []models.Result{{Verdict: models.Unknown}}, "PC/E?",
			"PC/E?: under partition refused 100% of the ops sent to cut-off nodes (unknown); healthy p50 10ms, p99 10ms", CAPUnknown, 0, CAPUnknown},
		{"no checker", refusing, nil, "PC/E?",
			"PC/E?: under partition refused 100% of the ops sent to cut-off nodes (unknown); healthy p50 10ms, p99 10ms", CAPUnknown, 0, CAPUnknown},
		{"majority side only", majoritySide, valid, "P?/EC",
			"P?/EC: under partition no op reached a node cut off from a majority (consistent); healthy p50 5ms, p99 5ms", CAPConsistent, 0, CAPConsistent},
		{"answered", answering, invalidAt(12*ms, 22*ms), "PA/EC",
			"PA/EC: under partition answered 50% of the ops sent to cut-off nodes (inconsistent: 2 anomalies); healthy p50 5ms, p99 5ms", CAPInconsistent, 2, CAPConsistent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := CAP(tt.ops, tt.results)
			// StatsAndCAP gives what the three give apart.
			stats, p2 := StatsAndCAP(tt.ops, tt.results)
			want := Stats(tt.ops)
			avail := AvailabilityOf(tt.ops)
			want.Availability = &avail
			if !reflect.DeepEqual(p2, p) || !reflect.DeepEqual(stats, want) {
				t.Errorf("StatsAndCAP = %+v, %+v\nwant %+v, %+v", stats, p2, want, p)
			}
			if p.Class != tt.class || p.Line != tt.line {
				t.Errorf("class %q line %q\nwant %q line %q", p.Class, p.Line, tt.class, tt.line)
			}
			if p.Healthy.Consistency != tt.healthCons {
				t.Errorf("healthy consistency %q, want %q", p.Healthy.Consistency, tt.healthCons)
			}
			if tt.partCons == "" {
				if p.Partition != nil {
					t.Errorf("partition %+v, want none", p.Partition)
				}
				return
			}
			if p.Partition == nil {
				t.Fatal("no partition measured")
			}
			if p.Partition.Consistency != tt.partCons || p.Partition.Anomalies != tt.anomalies {
				t.Errorf("partition %s with %d anomalies, want %s with %d", p.Partition.Consistency, p.Partition.Anomalies, tt.partCons, tt.anomalies)
			}
		})
	}

	// The numbers behind "refused".
	p := CAP(refusing, valid).Partition
	want := CAPPartition{Windows: 1, Time: 11 * time.Millisecond, Cut: [][]string{{"n1"}}, Completed: Counts{Fail: 1}, OKShare: 0,
		HealthyOKShare: 2.0 / 3, Available: false, Consistency: CAPConsistent, Basis: "anomaly times"}
	if !reflect.DeepEqual(*p, want) {
		t.Errorf("partition %+v\nwant %+v", *p, want)
	}
}

func TestPct(t *testing.T) {
	for _, tt := range []struct {
		in   float64
		want string
	}{{0, "0%"}, {0.004, "0.4%"}, {0.5, "50%"}, {0.944, "94%"}, {0.995, "99.5%"}, {1, "100%"}} {
		if got := pct(tt.in); got != tt.want {
			t.Errorf("pct(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCutOff(t *testing.T) {
	tests := []struct {
		name   string
		grudge map[string][]string
		nodes  []string // the client ops' nodes
		want   []string
	}{
		{"halves", map[string][]string{"n1": {"n4", "n5"}, "n2": {"n4", "n5"}, "n3": {"n4", "n5"}, "n4": {"n1", "n2", "n3"}, "n5": {"n1", "n2", "n3"}}, nil, []string{"n4", "n5"}},
		{"majorities ring", map[string][]string{"n1": {"n3", "n5"}, "n2": {"n3", "n4"}, "n3": {"n1", "n2"}, "n4": {"n2", "n5"}, "n5": {"n1", "n4"}}, nil, nil},
		{"one-way drop still cuts TCP", map[string][]string{"n1": {"n2", "n3"}, "n2": {}, "n3": {}}, nil, []string{"n1"}},
		{"client nodes widen the cluster", map[string][]string{"n1": {"n2", "n3"}}, []string{"n1", "n4", "n5"}, nil},
		{"client nodes the grudge names", map[string][]string{"n1": {"n2", "n3"}}, []string{"n1", "n2"}, []string{"n1"}},
	}
	for _, tt := range tests {
		// The grudge as history.jsonl gives it back: decoded JSON.
		decoded := map[string]any{}
		for a, bs := range tt.grudge {
			l := []any{}
			for _, b := range bs {
				l = append(l, b)
			}
			decoded[a] = l
		}
		got := cutOff(history.Window{Kind: "partition", Value: decoded}, tt.nodes)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: cut off %v, want %v", tt.name, got, tt.want)
		}
		// During a run the value is the nuker's own named map type.
		type grudge map[string][]string
		if got := cutOff(history.Window{Kind: "partition", Value: grudge(tt.grudge)}, tt.nodes); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s (in memory): cut off %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestOpNodes(t *testing.T) {
	opers := []operation{{node: "n2"}, {node: "n2"}, {}, {node: "n1"}, {node: "n2"}, {node: "n3"}}
	if got, want := opNodes(opers), []string{"n2", "n1", "n3"}; !reflect.DeepEqual(got, want) {
		t.Errorf("opNodes = %v, want %v", got, want)
	}
}
