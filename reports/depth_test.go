package reports

import (
	"strings"
	"testing"

	"github.com/faultline/faultline/models/history"
)

// shifted returns ops with every time moved later by d, as if setup (image
// builds, cluster start) had taken d before the first op.
func shifted(ops []history.Op, d int64) []history.Op {
	out := make([]history.Op, len(ops))
	for i, op := range ops {
		op.Time += d
		out[i] = op
	}
	return out
}

// TestPlotsStartAtFirstOp: the plots' time axis spans the client ops, not
// the setup before them, and the setup is a number in "What ran".
func TestPlotsStartAtFirstOp(t *testing.T) {
	tests := []struct {
		name  string
		setup int64
		want  string
	}{
		{"no setup", 0, "<dt>Setup</dt><dd>0 before the first op"},
		{"95s of image builds", 95_000 * ms, "<dt>Setup</dt><dd>1m35s before the first op"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ops := shifted(synth(3, 150, false), tt.setup)
			opers, _ := pairOps(ops)
			windows := history.FaultWindows(ops)
			end := ops[len(ops)-1].Time
			_, _, ax, err := latencyPlot(opers, windows, map[string]string{}, secs(opers[0].start), secs(end))
			if err != nil {
				t.Fatal(err)
			}
			if ax.Start != secs(tt.setup) || ax.End != secs(end) {
				t.Errorf("latency axis spans %g–%gs, want %g–%gs", ax.Start, ax.End, secs(tt.setup), secs(end))
			}
			if x := ax.x(tt.setup); x != ax.X0 {
				t.Errorf("first op drawn at x %g, want the axis' left end %g", x, ax.X0)
			}
			b, err := Render(t.TempDir(), Input{Ops: ops})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), tt.want) {
				t.Errorf("report lacks %q", tt.want)
			}
		})
	}
}
