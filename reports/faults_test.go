package reports

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// TestReportFailedFaults: a fault window whose start failed everywhere is
// drawn hatched grey (not in its kind's color) with its error in the fault
// table, and the count table says the kind never took effect; an
// effective window has none of that.
func TestReportFailedFaults(t *testing.T) {
	tests := []struct {
		name     string
		fail     bool
		contains []string
		absent   []string
	}{
		{"failed", true,
			[]string{`class="fault-failed" title="failed: partition n1: iptables: not found`, `class="fault-never"`, "never took effect; first error", "0/1", "failed: partition n1,n2,n3",
				"stroke:#6A717F"}, // the hatch's grey lines
			[]string{`partition <span class="muted">(1 window)`}}, // no partition phase in the statistics
		{"effective", false,
			[]string{"1/1", `partition <span class="muted">(1 window)`},
			[]string{`class="fault-failed"`, `class="fault-never"`, "stroke:#6A717F"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ops := synth(3, 200, false)
			for i, op := range ops {
				if tt.fail && op.F == "start-partition" && op.Type == history.Info {
					ops[i].Error = "partition n1: iptables: not found\npartition n2: iptables: not found"
					ops[i].Failed = []string{"n1", "n2", "n3"}
					ops[i].Value = map[string][]string{}
				}
			}
			html := writeHTML(t, Input{Run: Run{Test: "t", Nodes: []string{"n1", "n2", "n3"}, Faults: []string{"partition"}},
				Ops: ops, Verdict: models.Valid})
			for _, s := range tt.contains {
				if !strings.Contains(html, s) {
					t.Errorf("report lacks %q", s)
				}
			}
			for _, s := range tt.absent {
				if strings.Contains(html, s) {
					t.Errorf("report has %q", s)
				}
			}
		})
	}
}

// TestReportDiskFaults: disk faults get bands of their own kind and color
// on their nodes' timeline rows, apart from the network's partition, and a
// corruption's or power failure's end counts as a process restart.
func TestReportDiskFaults(t *testing.T) {
	ops := synth(3, 400, false)
	end := ops[len(ops)-1].Time
	win := func(kind string, at int64, node string, value any) []history.Op {
		return []history.Op{
			{Time: at, Type: history.Invoke, Process: history.Nuker, F: "start-" + kind},
			{Time: at + ms, Type: history.Info, Process: history.Nuker, F: "start-" + kind, Nodes: []string{node}, Value: value},
			{Time: at + 500*ms, Type: history.Invoke, Process: history.Nuker, F: "stop-" + kind},
			{Time: at + 501*ms, Type: history.Info, Process: history.Nuker, F: "stop-" + kind, Nodes: []string{node}},
		}
	}
	ops = append(ops, win("disk-full", end+ms, "n2", "enospc on n2")...)
	ops = append(ops, win("corrupt", end+600*ms, "n3", map[string]any{"n3": []any{map[string]any{"file": "wal", "offset": 7, "old": "00", "new": "01"}}})...)
	ops = append(ops, win("power", end+1200*ms, "n1", []string{"n1"})...)
	for i := range ops {
		ops[i].Index = int64(i)
	}
	windows := history.FaultWindows(ops)
	nf := collectNodeFacts(ops, windows, []string{"n1", "n2", "n3"})
	for _, n := range []string{"n1", "n3"} {
		if len(nf.Restarts[n]) != 1 {
			t.Errorf("%s restarts %v, want the end of its power failure or corruption", n, nf.Restarts[n])
		}
	}
	html := writeHTML(t, Input{Run: Run{Test: "t", Nodes: []string{"n1", "n2", "n3"}, Faults: []string{"partition", "disk-full", "corrupt", "power"}},
		Ops: ops, Verdict: models.Valid})
	colors := map[string]string{}
	for _, kind := range []string{"partition", "disk-full", "corrupt", "power"} {
		i := strings.Index(html, `data-kind="`+kind+`"`)
		if i < 0 {
			t.Errorf("timeline has no %s band", kind)
			continue
		}
		fill := html[i:]
		fill = fill[strings.Index(fill, `fill="`)+6:]
		colors[kind] = fill[:strings.Index(fill, `"`)]
	}
	seen := map[string]string{}
	for kind, c := range colors {
		if other, ok := seen[c]; ok {
			t.Errorf("%s and %s share the color %s", kind, other, c)
		}
		seen[c] = kind
	}
	if !strings.Contains(html, "wal") || !strings.Contains(html, "enospc on n2") {
		t.Error("the fault table lacks the disk faults' values (the corrupted file, the switch)")
	}
}

// writeHTML writes in's report and returns its HTML.
func writeHTML(t *testing.T, in Input) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "report.html")
	if err := Write(path, in); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
