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
			path := filepath.Join(t.TempDir(), "report.html")
			in := Input{Run: Run{Test: "t", Nodes: []string{"n1", "n2", "n3"}, Faults: []string{"partition"}},
				Ops: ops, Verdict: models.Valid}
			if err := Write(path, in); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			html := string(b)
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
