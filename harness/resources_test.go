package harness

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/models/resources"
	"github.com/faultline/faultline/nuker"
	"github.com/faultline/faultline/workloads"
)

// sampledRuntime is the fake runtime whose clusters can read resources:
// each read gives every node 10 ms more CPU, and node n2's every third
// read fails.
type sampledRuntime struct{ fakeRuntime }

func (r *sampledRuntime) StartCluster(ctx context.Context, id string, inst node.Installation, n int) (node.RunningCluster, error) {
	c, err := r.fakeRuntime.StartCluster(ctx, id, inst, n)
	if err != nil {
		return nil, err
	}
	return &sampledCluster{fakeCluster: c.(*fakeCluster)}, nil
}

type sampledCluster struct {
	*fakeCluster
	reads atomic.Int64
}

func (c *sampledCluster) ResourceSource() string { return "fake" }

func (c *sampledCluster) ReadResources(context.Context) []resources.Sample {
	r := c.reads.Add(1)
	c.ev.add("read resources")
	var out []resources.Sample
	for _, n := range c.nodes {
		s := resources.Sample{At: time.Now(), Node: n.Name(), CPUNS: uint64(r) * 1e7, Mem: 1 << 20}
		if n.Name() == "n2" && r%3 == 0 {
			s = resources.Sample{At: s.At, Node: n.Name(), Error: "fake read failed"}
		}
		out = append(out, s)
	}
	return out
}

func TestResourceSampling(t *testing.T) {
	for _, tc := range []struct {
		name     string
		interval time.Duration
		off      bool
		// rounds is the least number of sampling rounds wanted (0: none).
		rounds int
	}{
		{"every 100ms", 100 * time.Millisecond, false, 12},
		{"default: every second", 0, false, 2},
		{"off", 0, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := &events{}
			spec := DefaultSpec()
			spec.Test, spec.Store = "fake", t.TempDir()
			spec.Nodes, spec.Concurrency, spec.Rate, spec.Seed = 3, 2, 200, 3
			spec.Nemesis = []string{nuker.FaultKill}
			spec.NemesisInterval, spec.TimeLimit, spec.RecoveryWait = Duration(300*time.Millisecond), Duration(1500*time.Millisecond), 0
			spec.ResourceInterval, spec.NoResources = Duration(tc.interval), tc.off
			out, err := RunTest(context.Background(), Test{Spec: spec, Target: &fakeTarget{ev: ev}, Workload: workloads.Register{}},
				Options{Runtime: &sampledRuntime{fakeRuntime{ev: ev}}})
			if err != nil {
				t.Fatal(err)
			}
			got := ev.all()
			reads := 0
			for _, e := range got {
				if e == "read resources" {
					reads++
				}
			}
			report, err := os.ReadFile(filepath.Join(out.Dir, ReportFile))
			if err != nil {
				t.Fatal(err)
			}
			charts := strings.Count(string(report), `<div class="plot resources"`)
			if tc.rounds == 0 {
				_, err := os.Stat(filepath.Join(out.Dir, ResourcesFile))
				if err == nil || reads > 0 || charts > 0 {
					t.Fatalf("sampling off, yet %d reads, %d charts and %s (%v)", reads, charts, ResourcesFile, err)
				}
				return
			}
			samples := readResources(t, out.Dir)
			// Every read is stored, three samples each (but the one the
			// stop cut short), and the last came before the removal.
			stored := len(samples) / 3
			if reads < tc.rounds || len(samples)%3 != 0 || stored < reads-1 || stored > reads {
				t.Errorf("%d reads, %d samples stored; want at least %d reads and 3 samples each", reads, len(samples), tc.rounds)
			}
			if rm := slices.Index(got, "remove"); rm < 0 || slices.Contains(got[rm:], "read resources") {
				t.Errorf("sampling went on after the cluster's removal: %q", got)
			}
			failed := 0
			for _, s := range samples {
				if s.Time <= 0 || s.Time > int64(out.Results.Run.Duration) {
					t.Errorf("sample of %s at %d ns, outside the run (%s)", s.Node, s.Time, out.Results.Run.Duration.D())
				}
				if s.Error != "" {
					failed++
				}
			}
			if failed != stored/3 {
				t.Errorf("%d failed samples stored, want %d", failed, stored/3)
			}
			if charts != 3 {
				t.Errorf("report has %d nodes' resource charts, want 3", charts)
			}
			t.Logf("%d rounds, %d samples (%d failed), %d charts", reads, len(samples), failed, charts)
		})
	}
}

// readResources reads a run directory's resource samples.
func readResources(t *testing.T, dir string) []resources.Sample {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, ResourcesFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	samples, err := resources.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	return samples
}
