package reports

import (
	"testing"
	"time"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

func TestCAP(t *testing.T) {
	// Partition [15ms, 26ms]: the only completion in it is a fail; healthy
	// completions are ok, ok, info (share 2/3). Healthy latency: the read
	// 0-10ms alone overlaps no window.
	refusing := hist(
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
	)
	// Partition [10ms, 30ms]: ok at 20ms and fail at 25ms in it (50%),
	// ok at 5ms and 40ms outside (100%): 50% >= 50% of 100%, available.
	answering := hist(
		cl(0, history.Invoke, 0, "read"),
		cl(5*ms, history.OK, 0, "read"),
		cl(5*ms, history.Invoke, 0, "read"),
		nk(10*ms, history.Invoke, "start-partition"),
		cl(20*ms, history.OK, 0, "read"),
		cl(20*ms, history.Invoke, 0, "read"),
		cl(25*ms, history.Fail, 0, "read"),
		cl(25*ms, history.Invoke, 0, "read"),
		nk(30*ms, history.Info, "stop-partition"),
		cl(40*ms, history.OK, 0, "read"),
	)
	// A kill only.
	noPartition := hist(
		nk(10*ms, history.Invoke, "start-kill"),
		nk(40*ms, history.Info, "stop-kill"),
		cl(0, history.Invoke, 0, "read"),
		cl(5*ms, history.OK, 0, "read"),
		cl(20*ms, history.Invoke, 0, "read"),
		cl(35*ms, history.OK, 0, "read"),
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
		{"no partition", noPartition, valid, "EC",
			"EC: no partition ran; healthy p50 5ms, p99 5ms (consistent)", "", 0, CAPConsistent},
		{"refused, consistent", refusing, valid, "PC/EC",
			"PC/EC: under partition refused 100% of ops (consistent); healthy p50 10ms, p99 10ms", CAPConsistent, 0, CAPConsistent},
		{"anomaly in the partition", refusing, invalidAt(20 * ms), "PC/EC",
			"PC/EC: under partition refused 100% of ops (inconsistent: 1 anomaly); healthy p50 10ms, p99 10ms", CAPInconsistent, 1, CAPConsistent},
		{"anomaly outside", refusing, invalidAt(5 * ms), "PC/EL",
			"PC/EL: under partition refused 100% of ops (consistent); healthy p50 10ms, p99 10ms", CAPConsistent, 0, CAPInconsistent},
		{"invalid without anomalies", refusing, invalidAt(), "PC/EL",
			"PC/EL: under partition refused 100% of ops (inconsistent); healthy p50 10ms, p99 10ms", CAPInconsistent, 0, CAPInconsistent},
		{"checker gave up", refusing, []models.Result{{Verdict: models.Unknown}}, "PC/E?",
			"PC/E?: under partition refused 100% of ops (unknown); healthy p50 10ms, p99 10ms", CAPUnknown, 0, CAPUnknown},
		{"no checker", refusing, nil, "PC/E?",
			"PC/E?: under partition refused 100% of ops (unknown); healthy p50 10ms, p99 10ms", CAPUnknown, 0, CAPUnknown},
		{"answered", answering, invalidAt(12*ms, 22*ms), "PA/EC",
			"PA/EC: under partition answered 50% of ops (inconsistent: 2 anomalies); healthy p50 5ms, p99 5ms", CAPInconsistent, 2, CAPConsistent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := CAP(tt.ops, tt.results)
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
	want := CAPPartition{Windows: 1, Time: 11 * time.Millisecond, Completed: Counts{Fail: 1}, OKShare: 0,
		HealthyOKShare: 2.0 / 3, Available: false, Consistency: CAPConsistent, Basis: "anomaly times"}
	if *p != want {
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
