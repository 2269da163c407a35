package maelstrom

import (
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/harness"
	"github.com/faultline/faultline/harness/docker/dockerenv"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/targets/targettest"
	"github.com/faultline/faultline/workloads"
)

func newTarget(t *testing.T, node string) *Target {
	t.Helper()
	tg, err := New("", map[string]string{"src": "testdata/" + node})
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// TestMaelstromInDocker runs testdata nodes as 3-node clusters under
// partitions: a lin-kv node that keeps every key on n1 is linearizable,
// one that answers from local copies is not, one that keeps nothing and
// forwards to the controller's lin-kv service is, and one that exits at
// start or crashes mid-run is reported in one line, at once.
func TestMaelstromInDocker(t *testing.T) {
	dockerenv.NeedDocker(t)
	if testenv.Short() {
		t.Skip("SKIPPING maelstrom Docker runs with -short: four 3-node clusters, about 100 s")
	}
	for _, tc := range []struct {
		node string
		want models.Verdict
		fail string // the harness error, when the run cannot happen
	}{
		{node: "leaderkv", want: models.Valid},
		{node: "localkv", want: models.Invalid},
		{node: "svcproxy", want: models.Valid},
		{node: "exits", fail: "node program exited before answering init: exit status 3"},
		// n2 panics after 30 requests: the run stops at once, in one line.
		{node: "crashes", fail: "maelstrom node n2: node program exited: exit status 2"},
	} {
		t.Run(tc.node, func(t *testing.T) {
			spec := harness.DefaultSpec()
			spec.Test = "maelstrom-" + tc.node
			spec.Store = t.TempDir()
			spec.Nodes, spec.Concurrency = 3, 6
			spec.Nemesis = []string{"partition"}
			spec.TimeLimit = harness.Duration(15 * time.Second)
			spec.NemesisInterval = harness.Duration(3 * time.Second)
			spec.RecoveryWait = harness.Duration(2 * time.Second)
			spec.OpTimeout = harness.Duration(time.Second)
			spec.Seed = 7
			t0 := time.Now()
			out, err := harness.RunTest(t.Context(), harness.Test{Spec: spec, Target: newTarget(t, tc.node), Workload: workloads.Register{}},
				harness.Options{Progress: func(f string, a ...any) { t.Logf(f, a...) }})
			took := time.Since(t0).Round(100 * time.Millisecond)
			if tc.fail != "" {
				msg := ""
				if err != nil {
					msg = err.Error()
				} else {
					msg = out.Results.Run.HarnessError
				}
				t.Logf("%s: %s after %s", tc.node, msg, took)
				if !strings.Contains(msg, tc.fail) {
					t.Errorf("run of a node that exits: %q, want it to say %q", msg, tc.fail)
				}
				if took > 60*time.Second {
					t.Errorf("the failure took %s to report", took)
				}
				if out != nil && tc.node == "crashes" && out.Results.Stats.Ops == 0 {
					t.Errorf("the history before the crash was not kept (%s)", out.Dir)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			res := out.Results
			t.Logf("%s: %s (%s); %d ops; %s; in %s", tc.node, res.Verdict, res.Reason, res.Stats.Ops, harness.FaultsLine(res.Faults), took)
			if res.Verdict != tc.want {
				t.Errorf("%s: %s (%s), want %s; report %s", tc.node, res.Verdict, res.Reason, tc.want, out.Dir)
			}
			// leaderkv's n2 and n3 forward each request to n1, which answers
			// back: up to two node messages per request the followers took
			// (fewer when a partition drops a forward), and under 2 per op.
			// How many ops each node took depends on its speed, so the
			// bound is on the followers' requests, not on all ops.
			if tc.node == "leaderkv" {
				n := res.Network
				if n == nil {
					t.Fatalf("no network statistics in results.json (%s)", out.Dir)
				}
				var followers int64
				for _, b := range n.ByNode {
					if b.Node != "n1" {
						followers += b.ClientIn
					}
				}
				t.Logf("network: %d sent, %d delivered between nodes, %.2f msgs per op over %d ops; followers took %d requests", n.NodeSent, n.NodeDelivered, n.MsgsPerOp, n.Ops, followers)
				if n.NodeSent == 0 || n.NodeDelivered == 0 || n.MsgsPerOp > 2 || n.NodeSent < followers || n.NodeSent > 2*followers {
					t.Errorf("network statistics %+v: want between 1 and 2 node messages per request the followers took (%d), under 2 per op", *n, followers)
				}
			}
		})
	}
}

// TestConformance runs the target kit on the leaderkv node: kill and
// pause stop the node (its shim and program), restart gives it init again.
func TestConformance(t *testing.T) {
	targettest.Conformance(t, newTarget(t, "leaderkv"), targettest.Options{Workload: workloads.Register{}, Nodes: 3})
}

// TestStatic checks what the target says about itself.
func TestStatic(t *testing.T) {
	targettest.Static(t, newTarget(t, "leaderkv"))
}
