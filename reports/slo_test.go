package reports

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/models/history"
)

func TestParseSLOs(t *testing.T) {
	good := []struct {
		in   string
		want []SLO
	}{
		{"", nil},
		{"  ", nil},
		{"availability=99.5%", []SLO{{Name: "availability", Availability: 0.995}}},
		{"availability=99.5%,p99=250ms,p50=20ms", []SLO{
			{Name: "availability", Availability: 0.995},
			{Name: "p99", Quantile: 99000, Latency: 250 * time.Millisecond},
			{Name: "p50", Quantile: 50000, Latency: 20 * time.Millisecond},
		}},
		{" p99.9 = 1s , availability=100%", []SLO{
			{Name: "p99.9", Quantile: 99900, Latency: time.Second},
			{Name: "availability", Availability: 1},
		}},
		{"p100=2s", []SLO{{Name: "p100", Quantile: 100000, Latency: 2 * time.Second}}},
	}
	for _, tt := range good {
		got, err := ParseSLOs(tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseSLOs(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	bad := []struct{ in, msg string }{
		{"availability", "NAME=VALUE"},
		{"availability=", "NAME=VALUE"},
		{"=5", "NAME=VALUE"},
		{"p99=250ms,", "NAME=VALUE"},
		{"availability=99.5", "percentage"},
		{"availability=0%", "(0, 100]"},
		{"availability=101%", "(0, 100]"},
		{"availability=abc%", "(0, 100]"},
		{"latency=5ms", "unknown SLO"},
		{"p=5ms", "unknown SLO"},
		{"p0=5ms", "unknown SLO"},
		{"p101=5ms", "unknown SLO"},
		{"p1e2=5ms", "unknown SLO"},
		{"p99.9999=5ms", "three decimals"},
		{"p99=fast", "positive duration"},
		{"p99=-5ms", "positive duration"},
		{"p99=250", "positive duration"},
		{"p99=1s,p99.0=2s", "given twice"},
		{"availability=99%,availability=98%", "given twice"},
	}
	for _, tt := range bad {
		_, err := ParseSLOs(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.msg) || strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseSLOs(%q) error %v, want one line with %q", tt.in, err, tt.msg)
		}
	}
}

func TestSLOTarget(t *testing.T) {
	slos, err := ParseSLOs("availability=99.5%,p99=250ms,p99.9=1.5s")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range slos {
		got = append(got, s.Name+"="+s.Target())
	}
	if want := []string{"availability=99.5%", "p99=250ms", "p99.9=1.5s"}; !reflect.DeepEqual(got, want) {
		t.Errorf("targets %v, want %v", got, want)
	}
}

func TestEvaluateSLOs(t *testing.T) {
	// Partition [15ms, 26ms]. Completed: read 0-10ms ok, write 0-20ms fail
	// (completes in the partition), read 20-50ms ok (overlaps it), write
	// 30-1030ms info. Availability: overall 2/4, partition 0/1. Latency of
	// ok and fail ops: overall [10 20 30]ms, partition [20 30]ms.
	ops := hist(
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
	slos, err := ParseSLOs("availability=50%,p50=20ms,p99=25ms,p99.9=1s")
	if err != nil {
		t.Fatal(err)
	}
	d := func(v int64) float64 { return float64(v) }
	want := []SLOResult{
		{Name: "availability", Target: "50%", TargetValue: 0.5, Met: false,
			Overall: SLOMeasure{Phase: "overall", N: 4, Value: 0.5, Measured: "50%", Met: true},
			Faults:  []SLOMeasure{{Phase: "partition", N: 1, Value: 0, Measured: "0%", Met: false}}},
		{Name: "p50", Target: "20ms", TargetValue: d(20 * ms), Met: true,
			Overall: SLOMeasure{Phase: "overall", N: 3, Value: d(20 * ms), Measured: "20ms", Met: true},
			Faults:  []SLOMeasure{{Phase: "partition", N: 2, Value: d(20 * ms), Measured: "20ms", Met: true}}},
		{Name: "p99", Target: "25ms", TargetValue: d(25 * ms), Met: false,
			Overall: SLOMeasure{Phase: "overall", N: 3, Value: d(30 * ms), Measured: "30ms", Met: false},
			Faults:  []SLOMeasure{{Phase: "partition", N: 2, Value: d(30 * ms), Measured: "30ms", Met: false}}},
		{Name: "p99.9", Target: "1s", TargetValue: d(1000 * ms), Met: true,
			Overall: SLOMeasure{Phase: "overall", N: 3, Value: d(30 * ms), Measured: "30ms", Met: true},
			Faults:  []SLOMeasure{{Phase: "partition", N: 2, Value: d(30 * ms), Measured: "30ms", Met: true}}},
	}
	got := EvaluateSLOs(slos, ops)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("EvaluateSLOs:\n got %+v\nwant %+v", got, want)
	}
	if SLOsMet(got) || !SLOsMet(got[1:2]) || !SLOsMet(nil) {
		t.Error("SLOsMet is wrong")
	}

	// Nothing measured overall: missed, "no data".
	empty := EvaluateSLOs(slos[:1], nil)
	if len(empty) != 1 || empty[0].Met || empty[0].Overall.Measured != "no data" {
		t.Errorf("empty history: %+v", empty)
	}
	if EvaluateSLOs(nil, ops) != nil {
		t.Error("no SLO should give no result")
	}
}

func TestQuantile(t *testing.T) {
	ds := make([]time.Duration, 1000)
	for i := range ds {
		ds[i] = time.Duration(i + 1)
	}
	for _, tt := range []struct {
		q    int
		want time.Duration
	}{{50000, 500}, {99000, 990}, {99900, 999}, {100000, 1000}, {1, 1}} {
		if got := quantile(ds, tt.q); got != tt.want {
			t.Errorf("quantile(%d) = %d, want %d", tt.q, got, tt.want)
		}
	}
}
