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

// memberTarget is a primaryTarget whose members can be removed and added
// back: it keeps the membership as a set and numbers new members.
type memberTarget struct {
	*primaryTarget
	mu        sync.Mutex
	members   map[string]int // node -> member id
	next      int
	removeErr error
	log       []string
}

func newMemberTarget(primary string, names ...string) *memberTarget {
	t := &memberTarget{
		primaryTarget: &primaryTarget{fakeTarget: newFakeTarget(), primary: primary, names: names},
		members:       map[string]int{},
	}
	for _, n := range names {
		t.next++
		t.members[n] = t.next
	}
	return t
}

func (t *memberTarget) RemoveMember(_ context.Context, n node.Node) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.log = append(t.log, "remove "+n.Name())
	if t.removeErr != nil {
		return "", t.removeErr
	}
	id := t.members[n.Name()]
	delete(t.members, n.Name())
	return fmt.Sprintf("removed %s (member %d)", n.Name(), id), nil
}

func (t *memberTarget) AddMember(_ context.Context, n node.Node) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.log = append(t.log, "add "+n.Name())
	if _, ok := t.members[n.Name()]; ok {
		return n.Name() + " is a member already", nil
	}
	t.next++
	t.members[n.Name()] = t.next
	return fmt.Sprintf("added %s (member %d)", n.Name(), t.next), nil
}

func TestMemberFault(t *testing.T) {
	tests := []struct {
		name      string
		plan      string
		removeErr error
		wantNodes []string
		wantStart any
		wantErr   string
		wantStop  any
		wantLog   []string
	}{
		{"the leader", "mix:member/primaries", nil, []string{"n3"},
			[]string{"removed n3 (member 3)"}, "", []string{"added n3 (member 4)"}, []string{"remove n3", "add n3"}},
		// Drawn from the seed, whoever leads.
		{"a drawn member", "mix:member/one", nil, []string{"n2"},
			[]string{"removed n2 (member 2)"}, "", []string{"added n2 (member 4)"}, []string{"remove n2", "add n2"}},
		// A removal that failed is still undone: the stop makes sure the
		// member is back.
		{"removal fails", "mix:member/primaries", errors.New("no leader"), []string{"n3"},
			[]string{}, "n3: no leader", []string{"n3 is a member already"}, []string{"remove n3", "add n3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := newMemberTarget("n3", "n1", "n2", "n3")
			target.removeErr = tt.removeErr
			plan, err := ParsePlan(tt.plan, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ops := runOne(t, Config{Plan: &plan, Seed: 3, Nodes: asNodes(fakeNodes(3)), Target: target})
			if len(ops) != 4 {
				t.Fatalf("%d ops, want 4: %v", len(ops), ops)
			}
			inv, start, stop := ops[0], ops[1], ops[3]
			if inv.F != "start-member" || !reflect.DeepEqual(inv.Nodes, tt.wantNodes) {
				t.Errorf("invoke %+v, want nodes %v", inv, tt.wantNodes)
			}
			if !reflect.DeepEqual(start.Value, tt.wantStart) || start.Error != tt.wantErr {
				t.Errorf("start %#v %q, want %#v %q", start.Value, start.Error, tt.wantStart, tt.wantErr)
			}
			if stop.F != "stop-member" || !reflect.DeepEqual(stop.Value, tt.wantStop) || stop.Error != "" {
				t.Errorf("stop %#v %q, want %#v", stop.Value, stop.Error, tt.wantStop)
			}
			if !reflect.DeepEqual(target.log, tt.wantLog) {
				t.Errorf("target did %v, want %v", target.log, tt.wantLog)
			}
			if len(target.members) != 3 {
				t.Errorf("members after the stop: %v, want all 3", target.members)
			}
		})
	}
}

// TestMemberReplay: a member schedule read back from the history file
// replays on the same nodes with another seed, also the leader's, which
// the target named when the step started.
func TestMemberReplay(t *testing.T) {
	plan, err := ParsePlan("mix:member/one,member/primaries", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg := func(seed uint64) Config {
		return Config{Plan: &plan, Seed: seed, Target: newMemberTarget("n4", "n1", "n2", "n3", "n4", "n5")}
	}
	orig, _, _ := runFaults(t, cfg(7), 8)
	want := startValues(t, orig)
	if !strings.Contains(strings.Join(want, " "), `"targets":"primaries"`) {
		t.Fatalf("seed 7 drew no leader replacement in 8 steps: %v", want)
	}
	cfgReplay := cfg(99)
	cfgReplay.Schedule = scheduleThroughFile(t, orig)
	// Another leader now: the replay still replaces the node recorded.
	cfgReplay.Target.(*memberTarget).primary = "n1"
	replayed, _, _ := runFaults(t, cfgReplay, 8)
	if got := startValues(t, replayed); !reflect.DeepEqual(got, want) {
		t.Errorf("replay differs:\n got %v\nwant %v", got, want)
	}
	if other, _, _ := runFaults(t, cfg(99), 8); reflect.DeepEqual(startValues(t, other), want) {
		t.Error("seed 99 drew the same schedule as seed 7; pick seeds that differ")
	}
}

func TestMemberRefused(t *testing.T) {
	tests := []struct {
		name    string
		target  Target
		plan    string
		wantErr string
	}{
		{"target without MemberChanger", newFakeTarget(), "mix:member", "nuker: fault member: the target cannot change its membership"},
		{"unknown variant", newMemberTarget("n1", "n1", "n2", "n3"), "mix:member/majority", `fault member has no variant "majority"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := ParsePlan(tt.plan, nil, 0)
			if err == nil {
				_, err = New(Config{Plan: &plan, Nodes: asNodes(fakeNodes(3)), Target: tt.target})
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestMemberRestore(t *testing.T) {
	tests := []struct {
		name    string
		value   map[string]any
		nodes   []string
		want    []string
		wantErr string
	}{
		{"from the value", map[string]any{"targets": "one", "nodes": []string{"n2"}}, nil, []string{"n2"}, ""},
		{"from the op", map[string]any{"targets": "primaries"}, []string{"n3"}, []string{"n3"}, ""},
		{"two nodes", map[string]any{"targets": "one", "nodes": []string{"n1", "n2"}}, nil, nil, "one member at a time"},
		{"no node", map[string]any{"targets": "one"}, nil, nil, "no nodes to act on"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ops := []history.Op{{Process: history.Nuker, Type: history.Invoke, F: "start-member", Nodes: tt.nodes, Value: tt.value}}
			steps, err := ScheduleFromHistory(ops)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(steps) != 1 || !reflect.DeepEqual(steps[0].Nodes, tt.want) {
				t.Errorf("steps %+v, %v; want nodes %v", steps, err, tt.want)
			}
		})
	}
}
