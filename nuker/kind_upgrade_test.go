package nuker

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/models/history"
)

// upgradeTarget is a fakeTarget whose nodes run release "old" or "new";
// failOn makes switching that node fail.
type upgradeTarget struct {
	*fakeTarget
	mu     sync.Mutex
	on     map[string]string
	failOn string
	log    []string
}

func newUpgradeTarget() *upgradeTarget {
	return &upgradeTarget{fakeTarget: newFakeTarget(), on: map[string]string{}}
}

func (t *upgradeTarget) Version() string        { return "old" }
func (t *upgradeTarget) UpgradeVersion() string { return "new" }
func (t *upgradeTarget) Software() (node.Software, error) {
	return node.Software{Name: "fake"}, nil
}

func (t *upgradeTarget) UpgradeSoftware() (node.Software, error) {
	return node.Software{Name: "fake", Binaries: []node.GoBinary{{Name: "fake-new"}}}, nil
}

func (t *upgradeTarget) SwitchVersion(_ context.Context, nodes []node.Node, version string, moved func(node.Node, string, string)) ([]string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, n := range nodes {
		from := t.on[n.Name()]
		if from == "" {
			from = "old"
		}
		if n.Name() == t.failOn {
			return out, errors.New(n.Name() + " did not come up")
		}
		t.log = append(t.log, n.Name()+" "+version)
		t.on[n.Name()] = version
		moved(n, from, version)
		out = append(out, fmt.Sprintf("%s %s -> %s", n.Name(), from, version))
	}
	return out, nil
}

func TestUpgradeFault(t *testing.T) {
	tests := []struct {
		name      string
		plan      string
		failOn    string
		wantNodes []string
		wantStart any
		wantErr   string
		wantStop  any
		wantMoves int // version ops
	}{
		{"rolling, in name order", "mix:upgrade/all", "", []string{"n1", "n2", "n3"},
			[]string{"n1 old -> new", "n2 old -> new", "n3 old -> new"}, "",
			[]string{"n1 new -> old", "n2 new -> old", "n3 new -> old"}, 6},
		{"one node", "mix:upgrade/one", "", []string{"n3"},
			[]string{"n3 old -> new"}, "", []string{"n3 new -> old"}, 2},
		// The roll stops at the node that fails; the stop moves back
		// those that moved, and fails again on the broken one.
		{"a node fails", "mix:upgrade/all", "n2", []string{"n1", "n2", "n3"},
			[]string{"n1 old -> new"}, "switch to new: n2 did not come up",
			[]string{"n1 new -> old"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := newUpgradeTarget()
			target.failOn = tt.failOn
			plan, err := ParsePlan(tt.plan, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ops := runOne(t, Config{Plan: &plan, Seed: 3, Nodes: asNodes(fakeNodes(3)), Target: target})
			var faults, moves []history.Op
			for _, op := range ops {
				if op.F == history.VersionF {
					moves = append(moves, op)
				} else {
					faults = append(faults, op)
				}
			}
			if len(faults) != 4 || len(moves) != tt.wantMoves {
				t.Fatalf("%d fault ops and %d version ops, want 4 and %d: %v", len(faults), len(moves), tt.wantMoves, ops)
			}
			inv, start, stop := faults[0], faults[1], faults[3]
			if inv.F != "start-upgrade" || !reflect.DeepEqual(inv.Nodes, tt.wantNodes) {
				t.Errorf("invoke %+v, want nodes %v", inv, tt.wantNodes)
			}
			if !reflect.DeepEqual(start.Value, tt.wantStart) || start.Error != tt.wantErr {
				t.Errorf("start %#v %q, want %#v %q", start.Value, start.Error, tt.wantStart, tt.wantErr)
			}
			if tt.failOn != "" && !reflect.DeepEqual(start.Failed, []string{"n2", "n3"}) {
				t.Errorf("start failed on %v, want [n2 n3]", start.Failed)
			}
			if stop.F != "stop-upgrade" || !reflect.DeepEqual(stop.Value, tt.wantStop) {
				t.Errorf("stop %#v %q, want %#v", stop.Value, stop.Error, tt.wantStop)
			}
			// Each move is recorded as it happens, between the start's
			// invocation and the stop's completion, naming its node.
			first := moves[0]
			if first.Index < inv.Index || first.Index > start.Index || first.Type != history.Info ||
				!reflect.DeepEqual(first.Value, map[string]string{"node": tt.wantNodes[0], "from": "old", "to": "new"}) {
				t.Errorf("first version op %+v", first)
			}
			for n, v := range target.on {
				if v != "old" {
					t.Errorf("%s on %s after the stop, want old", n, v)
				}
			}
		})
	}
}

// TestUpgradeReplay: an upgrade schedule read back from the history
// replays on the same nodes with another seed.
func TestUpgradeReplay(t *testing.T) {
	plan, err := ParsePlan("mix:upgrade", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg := func(seed uint64) Config {
		return Config{Plan: &plan, Seed: seed, Target: newUpgradeTarget()}
	}
	orig, _, _ := runFaults(t, cfg(5), 8)
	want := startValues(t, orig)
	if j := strings.Join(want, " "); !strings.Contains(j, `"targets":"one"`) || !strings.Contains(j, `"targets":"all"`) {
		t.Fatalf("seed 5 drew not both variants in 8 steps: %v", want)
	}
	replay := cfg(99)
	replay.Schedule = scheduleThroughFile(t, orig)
	got, _, _ := runFaults(t, replay, 8)
	if g := startValues(t, got); !reflect.DeepEqual(g, want) {
		t.Errorf("replay differs:\n got %v\nwant %v", g, want)
	}
	if other, _, _ := runFaults(t, cfg(99), 8); reflect.DeepEqual(startValues(t, other), want) {
		t.Error("seed 99 drew the same schedule as seed 5; pick seeds that differ")
	}
}

func TestUpgradeRefused(t *testing.T) {
	plan, err := ParsePlan("mix:upgrade", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(Config{Plan: &plan, Nodes: asNodes(fakeNodes(3)), Target: newFakeTarget()})
	if want := "nuker: fault upgrade: the target cannot switch its nodes to another version"; err == nil || err.Error() != want {
		t.Errorf("err %v, want %q", err, want)
	}
	if TargetInterface(FaultUpgrade) != "Upgrader" || TargetCan(FaultUpgrade, newFakeTarget()) || !TargetCan(FaultUpgrade, newUpgradeTarget()) {
		t.Error("TargetInterface/TargetCan disagree with the Upgrader interface")
	}
}

// TestSoftware: a run with the upgrade fault installs both releases; any
// other run the target's own software.
func TestSoftware(t *testing.T) {
	target := newUpgradeTarget()
	for _, tt := range []struct {
		faults []string
		bins   int
	}{{nil, 0}, {[]string{"kill", "partition"}, 0}, {[]string{"kill", "upgrade"}, 1}} {
		sw, err := Software(target, tt.faults)
		if err != nil || len(sw.Binaries) != tt.bins {
			t.Errorf("Software(%v) = %+v, %v; want %d binaries", tt.faults, sw, err, tt.bins)
		}
	}
}
