package netstats

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/faultline/faultline/models/history"
)

const sec = int64(time.Second)

// run is a 10 s history: one client op invoked each second, a partition
// from 4 s to 7 s.
func run() []history.Op {
	var ops []history.Op
	add := func(op history.Op) {
		op.Index = int64(len(ops))
		ops = append(ops, op)
	}
	for t := int64(0); t < 10; t++ {
		if t == 4 {
			add(history.Op{Time: 4 * sec, Type: history.Invoke, Process: history.Nuker, F: "start-partition"})
			add(history.Op{Time: 4 * sec, Type: history.OK, Process: history.Nuker, F: "start-partition", Nodes: []string{"n1"}})
		}
		if t == 7 {
			add(history.Op{Time: 7 * sec, Type: history.Invoke, Process: history.Nuker, F: "stop-partition"})
			add(history.Op{Time: 7 * sec, Type: history.OK, Process: history.Nuker, F: "stop-partition"})
		}
		add(history.Op{Time: t*sec + sec/10, Type: history.Invoke, Process: 0, F: "read", Node: "n1"})
		add(history.Op{Time: t*sec + sec/5, Type: history.OK, Process: 0, F: "read", Node: "n1"})
	}
	return ops
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name                   string
		samples                []Sample
		sent, delivered        int64
		perOp, healthy, faulty float64
	}{
		{
			name:    "no samples",
			healthy: 0, faulty: 0,
		},
		{
			// 4 messages a second on each of two nodes, half lost while
			// partitioned; samples at 1..10 s.
			name: "steady traffic",
			samples: func() []Sample {
				var out []Sample
				for t := int64(1); t <= 10; t++ {
					for _, n := range []string{"n1", "n2"} {
						d := int64(4)
						if t > 4 && t <= 7 {
							d = 2
						}
						out = append(out, Sample{Time: t * sec, Node: n, NodeSent: 4, NodeDelivered: d, ClientIn: 1, Service: 0})
					}
				}
				return out
			}(),
			sent: 80, delivered: 68,
			perOp: 8, healthy: 8, faulty: 8,
		},
		{
			// Gossip that doubles while a fault holds (retries).
			name: "retries under faults",
			samples: func() []Sample {
				var out []Sample
				for t := int64(1); t <= 10; t++ {
					m := int64(2)
					if t > 4 && t <= 7 {
						m = 10
					}
					out = append(out, Sample{Time: t * sec, Node: "n1", NodeSent: m, NodeDelivered: m, Service: 1})
				}
				return out
			}(),
			sent: 2*7 + 10*3, delivered: 2*7 + 10*3,
			perOp: float64(2*7+10*3+10) / 10, healthy: float64(3*7) / 7, faulty: float64(11*3) / 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Summarize(File{Format: Format, Version: Version, Samples: tt.samples}, run())
			if s.Ops != 10 {
				t.Errorf("ops = %d, want 10", s.Ops)
			}
			if s.NodeSent != tt.sent || s.NodeDelivered != tt.delivered {
				t.Errorf("sent, delivered = %d, %d; want %d, %d", s.NodeSent, s.NodeDelivered, tt.sent, tt.delivered)
			}
			if s.MsgsPerOp != tt.perOp {
				t.Errorf("msgs per op = %v, want %v", s.MsgsPerOp, tt.perOp)
			}
			if s.Healthy == nil || s.Faulty == nil {
				t.Fatalf("healthy %v, faulty %v: want both", s.Healthy, s.Faulty)
			}
			if s.Healthy.Ops != 7 || s.Faulty.Ops != 3 {
				t.Errorf("ops healthy/faulty = %d/%d, want 7/3", s.Healthy.Ops, s.Faulty.Ops)
			}
			if s.Healthy.MsgsPerOp != tt.healthy || s.Faulty.MsgsPerOp != tt.faulty {
				t.Errorf("msgs per op healthy/faulty = %v/%v, want %v/%v", s.Healthy.MsgsPerOp, s.Faulty.MsgsPerOp, tt.healthy, tt.faulty)
			}
			if got := s.Faulty.Seconds; got < 2.9 || got > 3.1 {
				t.Errorf("faulty seconds = %v, want 3", got)
			}
		})
	}
}

func TestReadRefusesOtherFormats(t *testing.T) {
	for _, in := range []string{`{}`, `{"format":"faultline-network","version":2}`, `not json`} {
		if _, err := Read(bytes.NewBufferString(in)); err == nil {
			t.Errorf("Read(%s) = nil error", in)
		}
	}
	b, _ := json.Marshal(File{Format: Format, Version: Version, Samples: []Sample{{Time: 1, Node: "n1", NodeSent: 2}}})
	f, err := Read(bytes.NewReader(b))
	if err != nil || len(f.Samples) != 1 || f.Samples[0].NodeSent != 2 {
		t.Errorf("round trip: %+v, %v", f, err)
	}
}
