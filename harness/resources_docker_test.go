package harness

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/harness/docker/dockerenv"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/models/resources"
	"github.com/faultline/faultline/nuker"
)

// TestResourceSamplesShowAKill: a short etcd run with n2's etcd killed
// samples every node each second into resources.jsonl, n2's CPU really
// drops to nothing while it is down and comes back after the restart, the
// other nodes keep working, and the report charts each node.
func TestResourceSamplesShowAKill(t *testing.T) {
	dockerenv.NeedDocker(t)
	if testenv.Short() {
		t.Skip("long Docker run skipped with -short")
	}
	spec := e2eSpec(t, "etcd-resources")
	spec.Nodes, spec.Concurrency = 3, 6
	spec.Nemesis = []string{nuker.FaultKill}
	spec.TimeLimit, spec.NemesisInterval = Duration(20*time.Second), Duration(8*time.Second)
	spec.Schedule = []nuker.Step{{Fault: nuker.FaultKill, Targets: "one", Nodes: []string{"n2"}}}
	out, err := Run(context.Background(), spec, testOptions(t))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	ops, err := history.ReadFile(filepath.Join(out.Dir, HistoryFile))
	if err != nil {
		t.Fatal(err)
	}
	var kill history.Window
	for _, w := range history.FaultWindows(ops) {
		if w.Kind == nuker.FaultKill && len(w.Nodes) == 1 && w.Nodes[0] == "n2" && !w.Failed() {
			kill = w
			break
		}
	}
	if kill.End-kill.Start < int64(4*time.Second) {
		t.Fatalf("no kill of n2 of 4 s or more in the history (got %+v)", kill)
	}
	samples := readResources(t, out.Dir)
	// A point covers the second or so before its time: it is "during"
	// the kill when all of that lies inside the window.
	const span = int64(1500 * time.Millisecond)
	during := func(p resources.Point) bool { return p.Time-span > kill.Start && p.Time < kill.End }
	before := func(p resources.Point) bool { return p.Time < kill.Start && p.Time > kill.Start-int64(6*time.Second) }
	after := func(p resources.Point) bool { return p.Time-span > kill.End+int64(time.Second) }
	mean := func(sr resources.Series, in func(resources.Point) bool) (float64, int) {
		sum, n := 0.0, 0
		for _, p := range sr.Points {
			if in(p) {
				sum, n = sum+p.CPU, n+1
			}
		}
		return sum / max(float64(n), 1), n
	}
	// The median of the points during the kill: the last may hold the
	// restart's first work, before the stop is recorded.
	median := func(sr resources.Series, in func(resources.Point) bool) float64 {
		var cpu []float64
		for _, p := range sr.Points {
			if in(p) {
				cpu = append(cpu, p.CPU)
			}
		}
		if len(cpu) == 0 {
			return math.NaN()
		}
		slices.Sort(cpu)
		return cpu[len(cpu)/2]
	}
	rates := resources.Rates(samples)
	if len(rates) != 3 {
		t.Fatalf("samples of %d nodes, want 3", len(rates))
	}
	for _, sr := range rates {
		b, nb := mean(sr, before)
		d, nd := median(sr, during), 0
		for _, p := range sr.Points {
			if during(p) {
				nd++
			}
		}
		a, na := mean(sr, after)
		t.Logf("%s: %d points; CPU %.3f cores before the kill (mean of %d), %.3f during (median of %d), %.3f after (mean of %d)", sr.Node, len(sr.Points), b, nb, d, nd, a, na)
		if len(sr.Points) < 15 || nb < 3 || nd < 2 || na < 2 {
			t.Errorf("%s: too few points (%d; %d before, %d during, %d after the kill)", sr.Node, len(sr.Points), nb, nd, na)
		}
		if sr.Node == "n2" {
			if !(d <= 0.01) || b < 5*d+0.02 || a < 5*d+0.02 {
				t.Errorf("n2's CPU did not drop while killed and come back: %.3f, %.3f, %.3f cores", b, d, a)
			}
		} else if !(d >= 0.02) {
			t.Errorf("%s stopped working while n2 was killed: %.3f cores", sr.Node, d)
		}
	}
	report, err := os.ReadFile(filepath.Join(out.Dir, ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(report), `<div class="plot resources"`); n != 3 {
		t.Errorf("report has %d nodes' resource charts, want 3", n)
	}
}
