package nuker

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/harness/node"
)

// storedTarget is a fake target with a data directory.
type storedTarget struct{ *fakeTarget }

func (storedTarget) DataDirs() []string { return []string{"/var/lib/fake"} }

// diskNode is a fake node whose disk records power failures with the
// target's calls, so their order with kill and start shows.
type diskNode struct {
	*fakeNode
	t *fakeTarget
}

func (n diskNode) MountDisk(context.Context, string, bool) error { return nil }
func (n diskNode) UnmountDisk(context.Context) error             { return nil }
func (n diskNode) Disk(ctx context.Context, cmd string) (string, error) {
	return "files=1 bytes=0 entries=0", n.t.do(ctx, cmd, n, func() {})
}

func TestPowerKind(t *testing.T) {
	if _, err := New(Config{Faults: []string{FaultPower}, Nodes: asNodes(fakeNodes(3)), Target: newFakeTarget()}); err == nil ||
		!strings.Contains(err.Error(), "data directories") {
		t.Fatalf("a target without data directories: %v, want a refusal", err)
	}
	target := newFakeTarget()
	var nodes []node.Node
	for _, f := range fakeNodes(3) {
		nodes = append(nodes, diskNode{f, target})
	}
	rec := &recorder{}
	k, err := New(Config{Faults: []string{FaultPower}, Seed: 3, Interval: 20 * time.Millisecond,
		Nodes: nodes, Target: storedTarget{target}, Record: rec.record})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := k.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if err := k.HealAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	target.mu.Lock()
	calls := slices.Clone(target.calls)
	target.mu.Unlock()
	fails := 0
	for i, c := range calls {
		name, ok := strings.CutPrefix(c, "power-fail ")
		if !ok {
			continue
		}
		fails++
		// Killed before its disk drops anything, restarted after.
		if !slices.Contains(calls[:i], "kill "+name) || !slices.Contains(calls[i:], "start "+name) {
			t.Errorf("power failure of %s not between its kill and start: %v", name, calls)
		}
	}
	if fails == 0 || !target.healthy() {
		t.Fatalf("%d power failures, healthy %v: %v", fails, target.healthy(), calls)
	}
	if got := NeedsOf([]string{FaultKill, FaultPower}); !got.Disk {
		t.Errorf("NeedsOf(kill, power) = %+v, want Disk", got)
	}
}
