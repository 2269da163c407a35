package nuker

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/models/history"
)

// diskFake is a fake node with a disk filesystem: it records each control
// command among the target's calls ("enospc on n1"), and answers a
// corruption with one change.
type diskFake struct {
	*fakeNode
	t *fakeTarget
}

const fakeChange = `[{"file":"wal/0.wal","offset":7,"old":"00","new":"01"}]`

func (n diskFake) MountDisk(context.Context, string, bool) error { return nil }
func (n diskFake) UnmountDisk(context.Context) error             { return nil }
func (n diskFake) Disk(ctx context.Context, cmd string) (string, error) {
	err := n.t.do(ctx, cmd, n, func() {})
	if strings.HasPrefix(cmd, "corrupt ") {
		return fakeChange, err
	}
	return "enospc=false eio-read=false eio-fsync=false delay=0s", err
}

// runDisk runs one round of schedule on count disk nodes and returns the
// history and the target's calls.
func runDisk(t *testing.T, schedule string, count int) ([]history.Op, []string) {
	t.Helper()
	target := newFakeTarget()
	var nodes []node.Node
	for _, f := range fakeNodes(count) {
		nodes = append(nodes, diskFake{f, target})
	}
	plan, err := ParsePlan(schedule, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rec := &recorder{hook: func(op history.Op) {
		if op.Type == history.Info && strings.HasPrefix(op.F, history.StopPrefix) {
			cancel()
		}
	}}
	k, err := New(Config{Plan: &plan, Seed: 5, Interval: time.Millisecond, Nodes: nodes,
		Target: storedTarget{target}, Record: rec.record})
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Run(ctx); err != nil {
		t.Fatal(err)
	}
	target.mu.Lock()
	defer target.mu.Unlock()
	return rec.history(), slices.Clone(target.calls)
}

func TestDiskKinds(t *testing.T) {
	tests := []struct {
		pick    string
		nodes   int    // how many the step hits, of 3
		on, off string // the commands before each node's name; off "restart": kill and start (else off, then start)
	}{
		{"disk-full/one", 1, "enospc on", "enospc off"},
		{"disk-full/all", 3, "enospc on", "enospc off"},
		{"disk-error/fsync", 0, "eio-fsync on", "eio-fsync off"},
		{"disk-error/read", 0, "eio-read on", "eio-read off"},
		{"slow-disk/100ms", 0, "delay 100ms", "delay 0s"},
		{"slow-disk/10ms", 0, "delay 10ms", "delay 0s"},
		{"corrupt/truncate", 1, "corrupt truncate ", "restart"},
		{"corrupt/flip-tail-all", 3, "corrupt flip-tail ", "restart"},
	}
	for _, tt := range tests {
		t.Run(tt.pick, func(t *testing.T) {
			ops, calls := runDisk(t, "seq:"+tt.pick, 3)
			sched := scheduleThroughFile(t, ops)
			if len(sched) != 1 || sched[0].Disk == nil {
				t.Fatalf("schedule read back: %+v", sched)
			}
			s := sched[0]
			if tt.nodes > 0 && len(s.Nodes) != tt.nodes || len(s.Nodes) == 0 || len(s.Nodes) == 3 && tt.nodes != 3 {
				t.Errorf("step on %v, want %d nodes (a drawn subset is never all)", s.Nodes, tt.nodes)
			}
			for _, n := range s.Nodes {
				on := slices.IndexFunc(calls, func(c string) bool { return strings.HasPrefix(c, tt.on) && strings.HasSuffix(c, " "+n) })
				var off int
				if tt.off == "restart" {
					off = max(slices.Index(calls, "kill "+n), slices.Index(calls, "start "+n))
					if slices.Index(calls, "kill "+n) > slices.Index(calls, "start "+n) {
						off = -1
					}
				} else if off = slices.Index(calls, tt.off+" "+n); off >= 0 && !slices.Contains(calls[off:], "start "+n) {
					// A process the fault made exit is started again.
					t.Errorf("%s: no start after %q: %v", n, tt.off, calls)
				}
				if on < 0 || off < on {
					t.Errorf("%s: want %q then %q, calls %v", n, tt.on, tt.off, calls)
				}
			}
			for _, c := range calls {
				if !slices.ContainsFunc(s.Nodes, func(n string) bool { return strings.HasSuffix(c, " "+n) }) {
					t.Errorf("call %q on a node outside the step %v", c, s.Nodes)
				}
			}
			// The start's completion records what was done: a corruption's
			// changes per node.
			for _, op := range ops {
				if op.Type != history.Info || op.F != history.StartPrefix+s.Fault {
					continue
				}
				if op.Error != "" {
					t.Errorf("start failed: %s", op.Error)
				}
				if s.Fault == FaultCorrupt {
					m, ok := op.Value.(map[string]any)
					if !ok || len(m) != len(s.Nodes) {
						t.Errorf("corrupt start value %#v, want each node's changes", op.Value)
					}
				} else if v, _ := op.Value.(string); !strings.Contains(v, s.Disk.Mode) {
					t.Errorf("start value %#v does not say the mode", op.Value)
				}
			}
		})
	}
}

// TestCorruptMinority: unpinned, a corruption hits one node or a
// minority, never a majority.
func TestCorruptMinority(t *testing.T) {
	for _, count := range []int{1, 3, 5, 7} {
		var nodes []node.Node
		for _, f := range fakeNodes(count) {
			nodes = append(nodes, f)
		}
		k, err := New(Config{Faults: []string{FaultCorrupt}, Nodes: nodes, Target: storedTarget{newFakeTarget()}})
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(1, 2))
		sizes := map[int]bool{}
		for range 200 {
			s := corruptKind().draw(k, r, "")
			sizes[len(s.Nodes)] = true
			if err := s.Disk.check(FaultCorrupt); err != nil {
				t.Fatal(err)
			}
			if len(s.Nodes) > max(1, (count-1)/2) {
				t.Fatalf("%d nodes: corruption on %v", count, s.Nodes)
			}
		}
		if count >= 5 && !sizes[(count-1)/2] {
			t.Errorf("%d nodes: never a minority in 200 draws: %v", count, sizes)
		}
	}
}

func TestDiskKindsRefused(t *testing.T) {
	for _, f := range []string{FaultDiskFull, FaultDiskError, FaultSlowDisk, FaultCorrupt} {
		_, err := New(Config{Faults: []string{f}, Nodes: asNodes(fakeNodes(3)), Target: newFakeTarget()})
		if err == nil || !strings.Contains(err.Error(), "data directories") {
			t.Errorf("%s on a target without data directories: %v, want a refusal", f, err)
		}
		if got, _ := ParseFaults("all"); slices.Contains(got, f) {
			t.Errorf("all includes %s", f)
		}
		if !NeedsOf([]string{f}).Disk {
			t.Errorf("%s does not need the disk", f)
		}
	}
}
