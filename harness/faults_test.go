package harness

import (
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/models/history"
)

// TestFaultTallies: which fault records cap the verdict at unknown.
func TestFaultTallies(t *testing.T) {
	start := func(kind, err string, failed ...string) []history.Op {
		n := []string{"n1", "n2"}
		return []history.Op{
			{Type: history.Invoke, Process: history.Nuker, F: "start-" + kind, Nodes: n},
			{Type: history.Info, Process: history.Nuker, F: "start-" + kind, Nodes: n, Error: err, Failed: failed},
		}
	}
	tests := []struct {
		name      string
		nemesis   []string
		ops       []history.Op
		completed bool
		kinds     []string
		reasons   []string // substrings, one per reason
	}{
		{"none asked", nil, nil, true, nil, nil},
		{"all failed", []string{"clock"}, start("clock", "no ptrace"), true, []string{"clock"},
			[]string{"fault clock was requested but never took effect (1 of 1 injections failed: no ptrace)"}},
		{"partial counts as effect", []string{"kill"}, start("kill", "n2: x", "n2"), true, []string{"kill"}, nil},
		{"never drawn beside one that worked", []string{"partition", "kill"}, start("kill", ""), true, []string{"partition", "kill"}, nil},
		{"none injected", []string{"partition"}, nil, true, []string{"partition"},
			[]string{"faults [partition] were requested but none was injected (the run phase of 5s ends before the first fault, due after the 10s nemesis interval)"}},
		{"none injected in a run that failed: its own reason says why", []string{"partition"}, nil, false, []string{"partition"}, nil},
		{"all in a hand-written spec: judged by the faults recorded (a check has no target to resolve it)", []string{"all"}, start("kill", ""), true, []string{"kill"}, nil},
		{"a kind not asked for that never took effect", nil, start("pause", "boom"), true, []string{"pause"},
			[]string{"fault pause was requested but never took effect"}},
		{"the history ends during the only injection", []string{"kill", "pause"}, append(start("kill", "")[:1:1], start("pause", "")...), true, []string{"kill", "pause"}, nil},
		{"every injection was cut short by the end of the run", []string{"kill"}, start("kill", history.CutShort+"x"), true, []string{"kill"},
			[]string{"faults [kill] were requested but none took effect (1 injections were cut short by the end of the run)"}},
		{"the only injection was cut short by the end of the run", []string{"kill", "pause"},
			append(start("kill", history.CutShort+"n1: context deadline exceeded"), start("pause", "")...), true, []string{"kill", "pause"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := DefaultSpec()
			spec.Target, spec.Nemesis, spec.TimeLimit = "etcd", tt.nemesis, Duration(5*time.Second)
			ts, why := faultTallies(spec, tt.ops, tt.completed)
			var kinds []string
			for _, ft := range ts {
				kinds = append(kinds, ft.Kind)
			}
			if strings.Join(kinds, ",") != strings.Join(tt.kinds, ",") {
				t.Errorf("kinds %v, want %v", kinds, tt.kinds)
			}
			if len(why) != len(tt.reasons) {
				t.Fatalf("reasons %q, want %d", why, len(tt.reasons))
			}
			for i, r := range tt.reasons {
				if !strings.Contains(why[i], r) {
					t.Errorf("reason %q lacks %q", why[i], r)
				}
			}
		})
	}
}

// TestSpecNeedsDisk: the disk filesystem is mounted for a disk fault, and
// for DiskMount with no fault at all (a passthrough run, to measure it).
func TestSpecNeedsDisk(t *testing.T) {
	tests := []struct {
		name      string
		nemesis   []string
		diskMount bool
		want      bool
	}{
		{"no faults", nil, false, false},
		{"kill only", []string{"kill"}, false, false},
		{"power", []string{"power"}, false, true},
		{"disk-mount without faults", nil, true, true},
		{"disk-mount with a kill", []string{"kill"}, true, true},
	}
	for _, tt := range tests {
		s := Spec{Nemesis: tt.nemesis, DiskMount: tt.diskMount}
		if got := s.needs().Disk; got != tt.want {
			t.Errorf("%s: needs().Disk = %v, want %v", tt.name, got, tt.want)
		}
	}
}
