package resources

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

const sec = int64(time.Second)

func TestWriteRead(t *testing.T) {
	in := []Sample{
		{Time: 1 * sec, Node: "n1", CPUNS: 100, Mem: 5, NetRxBytes: 7, BlkWrite: 9},
		{Time: 1 * sec, Node: "n2", Error: "container stats: gone"},
	}
	var b bytes.Buffer
	w, err := NewWriter(&b, time.Second, "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(in); err != nil {
		t.Fatal(err)
	}
	whole := b.String()
	for _, tc := range []struct {
		name, text string
		want       int
		err        string
	}{
		{"whole", whole, 2, ""},
		{"torn last line", whole + `{"time":2000000000,"node":"n1","cpu`, 2, ""},
		{"damage inside", strings.Replace(whole, `"node":"n1"`, `"node":n1`, 1), 0, "line 2"},
		{"no header", strings.SplitN(whole, "\n", 2)[1], 0, "header"},
		{"other version", strings.Replace(whole, `"version":1`, `"version":9`, 1), 0, "version 9"},
		{"empty", "", 0, "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Read(strings.NewReader(tc.text))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.want || got[0] != in[0] || got[1].Error != in[1].Error {
				t.Fatalf("read %+v, want %+v", got, in)
			}
		})
	}
}

func TestRates(t *testing.T) {
	s := func(at int64, node string, cpu, rx uint64) Sample {
		return Sample{Time: at * sec, Node: node, CPUNS: cpu, NetRxBytes: rx, Mem: uint64(at) << 20}
	}
	samples := []Sample{
		s(0, "n1", 0, 0), s(0, "n2", 0, 0),
		s(1, "n1", 1.5e9, 1000), s(1, "n2", 2e8, 10),
		{Time: 2 * sec, Node: "n1", Error: "not running"}, s(2, "n2", 4e8, 20),
		s(3, "n1", 2e9, 2000), s(3, "n2", 1e8, 30), // n2's counters were reset
		s(4, "n1", 2.5e9, 2500), s(4, "n2", 2e8, 40),
	}
	got := Rates(samples)
	if len(got) != 2 || got[0].Node != "n1" || got[1].Node != "n2" {
		t.Fatalf("series of %v, want n1 and n2", got)
	}
	type pt struct {
		at  int64
		cpu float64
		rx  float64
		gap bool
	}
	for i, want := range [][]pt{
		// n1: the failed read at 2 s drops the intervals on both sides.
		{{1, 1.5, 1000, false}, {4, 0.5, 500, true}},
		// n2: the reset at 3 s drops the interval before it.
		{{1, 0.2, 10, false}, {2, 0.2, 10, false}, {4, 0.1, 10, true}},
	} {
		sr := got[i]
		if len(sr.Points) != len(want) {
			t.Fatalf("%s: %d points %+v, want %d", sr.Node, len(sr.Points), sr.Points, len(want))
		}
		for j, w := range want {
			p := sr.Points[j]
			if p.Time != w.at*sec || math.Abs(p.CPU-w.cpu) > 1e-9 || p.RxBytes != w.rx || sr.Gap[j] != w.gap || p.Mem != float64(w.at<<20) {
				t.Errorf("%s point %d = %+v gap %v, want %+v", sr.Node, j, p, sr.Gap[j], w)
			}
		}
	}
}
