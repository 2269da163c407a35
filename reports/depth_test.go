package reports

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

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

func TestLineTime(t *testing.T) {
	want := time.Date(2026, 12, 7, 15, 53, 16, 123_000_000, time.UTC)
	tests := []struct {
		name, line string
		ok         bool
	}{
		{"etcd json", `{"level":"info","ts":"2026-12-07T15:53:16.123Z","msg":"ready"}`, true},
		{"offset zone", `time=2026-12-07T16:53:16.123+01:00 level=INFO msg=x`, true},
		{"compact zone", `2026-12-07T16:53:16.123+0100 started`, true},
		{"postgres", `2026-12-07 15:53:16.123 UTC [57] LOG:  database system is ready`, true},
		{"comma fraction", `2026-12-07 15:53:16,123 INFO x`, true},
		{"redis", `1:M 07 Dec 2026 15:53:16.123 * Ready to accept connections`, true},
		{"none", `	at java.lang.Thread.run(Thread.java:750)`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := lineTime(tt.line)
			if ok != tt.ok || ok && !got.Equal(want) {
				t.Errorf("lineTime = %v, %v; want %v, %v", got, ok, want, tt.ok)
			}
		})
	}
}

func TestPlaceMarks(t *testing.T) {
	base := time.Date(2026, 12, 7, 15, 0, 0, 0, time.UTC)
	line := func(sec int, msg string) string {
		return base.Add(time.Duration(sec)*time.Second).Format(time.RFC3339Nano) + " " + msg
	}
	lines := []string{line(1, "a"), "  continued", line(3, "b"), line(5, "c"), line(9, "d")}
	mark := func(sec int) faultMark {
		return faultMark{Text: strconv.Itoa(sec), wall: base.Add(time.Duration(sec) * time.Second)}
	}
	tests := []struct {
		name    string
		lines   []string
		skipped bool
		marks   []int // seconds
		want    []int // lines, in order
	}{
		{"between lines", lines, false, []int{2, 4, 5, 7}, []int{2, 3, 3, 4}},
		{"before all, whole file", lines, false, []int{0}, []int{0}},
		{"before all, cut file", lines, true, []int{0, 4}, []int{3}},
		{"after all", lines, false, []int{10}, []int{5}},
		{"no times", []string{"x", "y"}, false, []int{1}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ms []faultMark
			for _, s := range tt.marks {
				ms = append(ms, mark(s))
			}
			var got []int
			for _, m := range placeMarks(tt.lines, tt.skipped, ms) {
				got = append(got, m.Line)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("marks at lines %v, want %v", got, tt.want)
			}
		})
	}
}

// TestNodeLogMarks: the node logs view carries, for each node, the start
// and end of the faults acting on it, placed among its log lines by time.
func TestNodeLogMarks(t *testing.T) {
	started := time.Date(2026, 12, 7, 15, 0, 0, 0, time.UTC)
	ops := synth(3, 250, false) // a partition of n1 from n2, n3 from 1s to 2s
	dir := t.TempDir()
	var log strings.Builder
	for ms := 0; ms <= 3000; ms += 250 {
		fmt.Fprintf(&log, `{"ts":"%s","msg":"tick %d"}`+"\n", started.Add(time.Duration(ms)*time.Millisecond).Format(time.RFC3339Nano), ms)
	}
	for _, n := range []string{"n1", "n3"} {
		if err := os.MkdirAll(filepath.Join(dir, "nodes", n), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "nodes", n, "node.log"), []byte(log.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	in := Input{Ops: ops, Run: Run{Started: started, Nodes: []string{"n1", "n2", "n3"}},
		NodeLogs: map[string][]string{"n1": {"nodes/n1/node.log"}, "n3": {"nodes/n3/node.log"}}}
	if err := Write(filepath.Join(dir, "report.html"), in); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "nodes.html"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(b), `<script type="application/json" id="logs">`)
	data, _, _ := strings.Cut(rest, "</script>")
	var logs []viewLog
	if err := json.Unmarshal([]byte(data), &logs); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		// Lines 4 and 8 are the first logged at 1s and 2s, when the
		// window starts and ends.
		"n1": {"4 fault starts: partition: cut from n2, n3", "8 fault ends: partition"},
		"n3": {"4 fault starts: partition: cut from n1", "8 fault ends: partition"},
	}
	if len(logs) != 2 {
		t.Fatalf("%d logs, want 2", len(logs))
	}
	for _, l := range logs {
		var got []string
		for _, m := range l.Marks {
			got = append(got, fmt.Sprintf("%d %s", m.Line, m.Text))
		}
		if !slices.Equal(got, want[l.Node]) {
			t.Errorf("%s marks %q, want %q", l.Node, got, want[l.Node])
		}
	}
}

func TestFaultAlpha(t *testing.T) {
	nodes := []string{"n1", "n2", "n3", "n4", "n5"}
	primaries := history.Window{Kind: "partition", Value: map[string]any{"n1": []any{"n2", "n3", "n4", "n5"}, "n2": []any{"n1"}, "n3": []any{"n1"}, "n4": []any{"n1"}, "n5": []any{"n1"}}}
	halves := history.Window{Kind: "partition", Value: map[string]any{"n1": []any{"n3", "n4", "n5"}, "n2": []any{"n3", "n4", "n5"}, "n3": []any{"n1", "n2"}, "n4": []any{"n1", "n2"}, "n5": []any{"n1", "n2"}}}
	kill := history.Window{Kind: "kill", Value: []any{"n1"}}
	tests := []struct {
		name string
		w    history.Window
		want map[string]uint8
	}{
		{"primary cut off", primaries, map[string]uint8{"n1": 150, "n2": 50, "n5": 50}},
		{"halves", halves, map[string]uint8{"n1": 150, "n2": 150, "n3": 50, "n5": 50}},
		{"kill", kill, map[string]uint8{"n1": 150}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for n, want := range tt.want {
				if got := faultAlpha(tt.w, nodes, n); got != want {
					t.Errorf("%s shaded %d, want %d", n, got, want)
				}
			}
		})
	}
}
