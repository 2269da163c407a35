package reports

import (
	"regexp"
	"strings"
	"testing"

	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/models/resources"
)

// killSamples are three nodes sampled every second for 10 s, each busy
// with half a core, but n2 idle while its process was killed (3 s to 6 s).
func killSamples() []resources.Sample {
	var out []resources.Sample
	cpu := map[string]uint64{}
	for s := int64(0); s <= 10; s++ {
		for _, n := range []string{"n1", "n2", "n3"} {
			if s > 0 && !(n == "n2" && s > 3 && s <= 6) {
				cpu[n] += 5e8
			}
			out = append(out, resources.Sample{Time: s * 1000 * ms, Node: n, CPUNS: cpu[n], Mem: 50 << 20,
				NetRxBytes: uint64(s) * 20000, NetTxBytes: uint64(s) * 30000, BlkWrite: uint64(s) * 4096})
		}
	}
	return out
}

// killOps is a history of 10 s with n2 killed from 3 s to 6 s.
func killOps() []history.Op {
	return hist(
		cl(0, history.Invoke, 0, "read"),
		cl(1000*ms, history.OK, 0, "read"),
		nk(3000*ms, history.Invoke, "start-kill"),
		nk(3000*ms, history.Info, "start-kill", "n2"),
		nk(6000*ms, history.Invoke, "stop-kill"),
		nk(6000*ms, history.Info, "stop-kill", "n2"),
		cl(9000*ms, history.Invoke, 0, "read"),
		cl(10000*ms, history.OK, 0, "read"),
	)
}

func TestResourceCharts(t *testing.T) {
	// The kill's shading: the first kind's color, as vgsvg writes it at alpha 56.
	shade := regexp.MustCompile(`fill:#4B77A7;fill-opacity:0.21961`)
	for _, tc := range []struct {
		name    string
		samples []resources.Sample
		// shaded lists the rows with the kill's shading.
		rows, shaded []string
	}{
		{"kill on n2", killSamples(), []string{"n1", "n2", "n3"}, []string{"n2"}},
		{"no samples", nil, nil, nil},
		{"one sample per node: no rates", killSamples()[:3], nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Render(t.TempDir(), Input{Run: Run{Nodes: []string{"n1", "n2", "n3"}}, Ops: killOps(), Resources: tc.samples})
			if err != nil {
				t.Fatal(err)
			}
			page := string(b)
			if got := strings.Contains(page, `id="resources"`); got != (len(tc.rows) > 0) {
				t.Fatalf("resources section shown: %v, want %v", got, len(tc.rows) > 0)
			}
			row := regexp.MustCompile(`(?s)<div class="plot resources" data-node="([^"]+)">(.*?)</svg>`)
			var rows, shaded []string
			for _, m := range row.FindAllStringSubmatch(page, -1) {
				rows = append(rows, m[1])
				if !strings.Contains(m[2], `aria-label="resources of `+m[1]+`"`) {
					t.Errorf("%s: its chart is not labelled", m[1])
				}
				for _, title := range []string{"CPU (cores)", "memory in use (MiB)", "network (KiB/s)", "block I/O (KiB/s)"} {
					if !strings.Contains(m[2], title) {
						t.Errorf("%s: no chart titled %q", m[1], title)
					}
				}
				if shade.MatchString(m[2]) {
					shaded = append(shaded, m[1])
				}
			}
			if strings.Join(rows, ",") != strings.Join(tc.rows, ",") || strings.Join(shaded, ",") != strings.Join(tc.shaded, ",") {
				t.Errorf("rows %v shaded %v, want rows %v shaded %v", rows, shaded, tc.rows, tc.shaded)
			}
			if len(tc.rows) > 0 && !strings.Contains(page, "n2: peak CPU 0.50 cores, memory 50 MiB, network 29.3 KiB/s, block I/O 4 KiB/s") {
				t.Errorf("n2's peaks are not stated")
			}
		})
	}
}
