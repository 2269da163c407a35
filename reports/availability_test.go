package reports

import (
	"reflect"
	"testing"
	"time"

	"github.com/faultline/faultline/models/history"
)

func gap(s, e int64) Gap { return Gap{Start: s, End: e, Duration: time.Duration(e - s)} }

func TestAvailability(t *testing.T) {
	tests := []struct {
		name string
		ops  []history.Op
		want Availability
	}{
		{
			name: "empty",
			want: Availability{Overall: AvailabilityPhase{Name: "overall"}, Healthy: AvailabilityPhase{Name: "healthy"}},
		},
		{
			// Partition [15ms, 26ms]. Completions: ok at 10ms, fail at 20ms
			// (in the partition), ok at 50ms, info at 1030ms; a cas pending.
			name: "partition",
			ops: hist(
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
				cl(40*ms, history.Invoke, 2, "cas"),
				cl(50*ms, history.OK, 0, "read"),
				cl(1030*ms, history.Info, 1, "write"),
			),
			want: Availability{
				// ok at 10 and 50 in [0, 1030]: gaps 10, 40, 980.
				Overall: AvailabilityPhase{Name: "overall", Completed: 4, OK: 2, OKShare: 0.5, LongestGap: gap(50*ms, 1030*ms)},
				// [0,15] and [26,1030]: ok, ok, info.
				Healthy: AvailabilityPhase{Name: "healthy", Completed: 3, OK: 2, OKShare: 2.0 / 3, LongestGap: gap(50*ms, 1030*ms)},
				Faults: []AvailabilityPhase{
					{Name: "partition", Completed: 1, OK: 0, OKShare: 0, VsHealthy: 0, LongestGap: gap(15*ms, 26*ms)},
				},
			},
		},
		{
			// kill [10ms, 40ms], pause [30ms, 100ms] never healed; ok at 5,
			// 35 and 100ms.
			name: "overlapping kinds",
			ops: hist(
				nk(10*ms, history.Invoke, "start-kill"),
				nk(40*ms, history.Info, "stop-kill"),
				nk(30*ms, history.Invoke, "start-pause"),
				cl(0, history.Invoke, 0, "read"),
				cl(5*ms, history.OK, 0, "read"),
				cl(20*ms, history.Invoke, 0, "read"),
				cl(35*ms, history.OK, 0, "read"),
				cl(50*ms, history.Invoke, 0, "read"),
				cl(100*ms, history.OK, 0, "read"),
			),
			want: Availability{
				Overall: AvailabilityPhase{Name: "overall", Completed: 3, OK: 3, OKShare: 1, LongestGap: gap(35*ms, 100*ms)},
				// Healthy is [0, 10]: gaps 0-5 and 5-10 tie, the earlier wins.
				Healthy: AvailabilityPhase{Name: "healthy", Completed: 1, OK: 1, OKShare: 1, LongestGap: gap(0, 5*ms)},
				Faults: []AvailabilityPhase{
					{Name: "kill", Completed: 1, OK: 1, OKShare: 1, VsHealthy: 1, LongestGap: gap(10*ms, 35*ms)},
					{Name: "pause", Completed: 2, OK: 2, OKShare: 1, VsHealthy: 1, LongestGap: gap(35*ms, 100*ms)},
				},
			},
		},
		{
			name: "never ok",
			ops: hist(
				cl(0, history.Invoke, 0, "write"),
				cl(100*ms, history.Fail, 0, "write"),
			),
			want: Availability{
				Overall: AvailabilityPhase{Name: "overall", Completed: 1, LongestGap: gap(0, 100*ms)},
				Healthy: AvailabilityPhase{Name: "healthy", Completed: 1, LongestGap: gap(0, 100*ms)},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AvailabilityOf(tt.ops)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("AvailabilityOf:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestComplement(t *testing.T) {
	tests := []struct {
		name   string
		iv     intervals
		lo, hi int64
		want   intervals
	}{
		{"none", nil, 0, 10, intervals{{0, 10}}},
		{"inside", intervals{{2, 4}, {6, 8}}, 0, 10, intervals{{0, 2}, {4, 6}, {8, 10}}},
		{"covering", intervals{{0, 10}}, 0, 10, nil},
		{"at the edges", intervals{{0, 3}, {7, 10}}, 0, 10, intervals{{3, 7}}},
		{"empty span", nil, 5, 4, nil},
	}
	for _, tt := range tests {
		if got := complement(tt.iv, tt.lo, tt.hi); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: complement = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestAvailabilityCountsAnsweredFails: a cas whose comparison failed was
// served (the system answered "no"); a refused op was not.
func TestAvailabilityCountsAnsweredFails(t *testing.T) {
	at := int64(0)
	var ops []history.Op
	add := func(p history.Process, typ history.Type, answered bool) {
		at += 10
		ops = append(ops, history.Op{Index: int64(len(ops)), Time: at, Type: history.Invoke, Process: p, F: "cas"})
		at += 10
		ops = append(ops, history.Op{Index: int64(len(ops)), Time: at, Type: typ, Process: p, F: "cas", Answered: answered})
	}
	add(0, history.OK, false)
	add(0, history.Fail, true)  // compare failed: served
	add(0, history.Fail, false) // refused (no leader): not served
	add(0, history.Info, false) // timed out: not served
	a := AvailabilityOf(ops)
	if a.Overall.Completed != 4 || a.Overall.OK != 2 || a.Overall.OKShare != 0.5 {
		t.Errorf("overall %+v, want 2 of 4 served", a.Overall)
	}
	if s := Stats(ops); s.Outcomes.Fail != 2 || s.Outcomes.Answered != 1 {
		t.Errorf("outcomes %+v", s.Outcomes)
	}
}
