package harness

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/workloads"
)

// stuckTarget is fakeTarget with one node whose reads never come back.
type stuckTarget struct {
	*fakeTarget
	stuck string
}

func (t *stuckTarget) NewClient(ctx context.Context, n node.Node) (workloads.Client, error) {
	if n.Name() == t.stuck {
		return stuckClient{}, nil
	}
	return t.fakeTarget.NewClient(ctx, n)
}

type stuckClient struct{}

func (stuckClient) Close() error { return nil }
func (stuckClient) Read(ctx context.Context, _ string) (int64, bool, error) {
	<-ctx.Done()
	return 0, false, ctx.Err()
}
func (stuckClient) Write(ctx context.Context, _ string, _ int64) error {
	<-ctx.Done()
	return ctx.Err()
}
func (stuckClient) CAS(ctx context.Context, _ string, _, _ int64) (bool, error) {
	<-ctx.Done()
	return false, ctx.Err()
}

// finalOnly is a generator of nothing but its final reads.
type finalOnly []history.Op

func (finalOnly) Next(int, *rand.Rand) history.Op { return history.Op{} }
func (finalOnly) Complete(history.Op)             {}
func (g finalOnly) Final() []history.Op           { return g }

// TestFinalReadsLeaveAStuckNode: a node whose reads all time out gets
// finalGiveUp of them, not one per key, while the others read every key.
func TestFinalReadsLeaveAStuckNode(t *testing.T) {
	var keys finalOnly
	for _, k := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		keys = append(keys, history.Op{Type: history.Invoke, F: "read", Key: k})
	}
	ev := &events{}
	target := &stuckTarget{fakeTarget: &fakeTarget{ev: ev, vals: map[string][]int64{}}, stuck: "n2"}
	var nodes []node.Node
	for _, name := range []string{"n1", "n2", "n3"} {
		nodes = append(nodes, &fakeNode{name: name, ev: ev})
	}
	var buf bytes.Buffer
	w, err := history.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{w: w, start: time.Now()}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	const timeout = 50 * time.Millisecond
	start := time.Now()
	finalReads(context.Background(), target, workloads.Register{}, keys, nodes, rec, 100, timeout, log)
	took := time.Since(start)
	ops := w.Ops()
	invoked := map[string]int{}
	for _, o := range ops {
		if o.Type == history.Invoke {
			invoked[o.Node]++
		}
	}
	if invoked["n1"] != len(keys) || invoked["n3"] != len(keys) || invoked["n2"] != finalGiveUp {
		t.Errorf("final reads invoked %v, want %d on n1 and n3 and %d on the stuck n2", invoked, len(keys), finalGiveUp)
	}
	if !bytes.Contains(logs.Bytes(), []byte("node=n2")) {
		t.Errorf("leaving n2 is not logged:\n%s", logs.String())
	}
	t.Logf("took %v, %d history entries", took, len(ops))
}

// untilOK is finalOnly with a patience: its final ops repeat until ok.
type untilOK struct {
	finalOnly
	patience time.Duration
}

func (g untilOK) FinalPatience() time.Duration { return g.patience }

// flakyTarget is fakeTarget whose node flaky fails its first reads.
type flakyTarget struct {
	*fakeTarget
	flaky string
	fails int
}

func (t *flakyTarget) NewClient(ctx context.Context, n node.Node) (workloads.Client, error) {
	c, err := t.fakeTarget.NewClient(ctx, n)
	if err != nil || n.Name() != t.flaky {
		return c, err
	}
	return &flakyClient{RegisterClient: c.(workloads.RegisterClient), fails: t.fails}, nil
}

type flakyClient struct {
	workloads.RegisterClient
	fails int
}

func (c *flakyClient) Read(ctx context.Context, k string) (int64, bool, error) {
	if c.fails > 0 {
		c.fails--
		return 0, false, workloads.Definite(errors.New("no leader yet"))
	}
	return c.RegisterClient.Read(ctx, k)
}

// TestFinalReadsUntilOK: with a FinalUntilOK generator, a node whose
// first reads fail repeats each until it completes ok, and a node that
// never answers stops once the patience is spent (then the give-up rule).
func TestFinalReadsUntilOK(t *testing.T) {
	tests := []struct {
		name       string
		patience   time.Duration
		wantFailed int // failed reads on n1
	}{
		{"patient", 5 * time.Second, 4},
		{"no patience", 0, 4}, // without patience the failures are not repeated
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys := untilOK{patience: tt.patience}
			for _, k := range []string{"a", "b"} {
				keys.finalOnly = append(keys.finalOnly, history.Op{Type: history.Invoke, F: "read", Key: k})
			}
			ev := &events{}
			base := &fakeTarget{ev: ev, vals: map[string][]int64{}}
			target := &flakyTarget{fakeTarget: base, flaky: "n1", fails: 4}
			var nodes []node.Node
			for _, name := range []string{"n1", "n2"} {
				nodes = append(nodes, &fakeNode{name: name, ev: ev})
			}
			w, err := history.NewWriter(&bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			rec := &recorder{w: w, start: time.Now()}
			finalReads(context.Background(), target, workloads.Register{}, keys, nodes, rec, 100, time.Second, slog.New(slog.DiscardHandler))
			okReads := map[string]int{}
			failed := 0
			for _, o := range w.Ops() {
				switch {
				case o.Type == history.OK:
					okReads[o.Node+"/"+o.Key]++
				case o.Type == history.Fail && o.Node == "n1":
					failed++
				}
			}
			if tt.patience > 0 {
				if failed != tt.wantFailed || okReads["n1/a"] != 1 || okReads["n1/b"] != 1 {
					t.Errorf("n1: %d failed reads, ok %v; want %d failed, then a and b read ok", failed, okReads, tt.wantFailed)
				}
			} else if failed != 2 || okReads["n1/a"]+okReads["n1/b"] != 0 {
				t.Errorf("n1 without patience: %d failed reads, ok %v; want each key read once and failed", failed, okReads)
			}
			if okReads["n2/a"] != 1 || okReads["n2/b"] != 1 {
				t.Errorf("n2 read %v, want a and b once each", okReads)
			}
		})
	}
}

// TestFinalReadsUntilOKLeavesAStuckNode: patience bounds a node that never
// answers: its reads repeat until the patience is spent, then it leaves.
func TestFinalReadsUntilOKLeavesAStuckNode(t *testing.T) {
	keys := untilOK{patience: 300 * time.Millisecond, finalOnly: finalOnly{
		{Type: history.Invoke, F: "read", Key: "a"}, {Type: history.Invoke, F: "read", Key: "b"},
		{Type: history.Invoke, F: "read", Key: "c"}, {Type: history.Invoke, F: "read", Key: "d"}}}
	ev := &events{}
	target := &stuckTarget{fakeTarget: &fakeTarget{ev: ev, vals: map[string][]int64{}}, stuck: "n1"}
	nodes := []node.Node{&fakeNode{name: "n1", ev: ev}}
	w, err := history.NewWriter(&bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{w: w, start: time.Now()}
	start := time.Now()
	finalReads(context.Background(), target, workloads.Register{}, keys, nodes, rec, 100, 50*time.Millisecond, slog.New(slog.DiscardHandler))
	took := time.Since(start)
	invoked := 0
	for _, o := range w.Ops() {
		if o.Type == history.Invoke && o.Key == "d" {
			t.Errorf("read of d invoked: the stuck node should leave %d timeouts after the patience is spent", finalGiveUp)
		}
		if o.Type == history.Invoke {
			invoked++
		}
	}
	if took < keys.patience || took > 10*keys.patience || invoked < finalGiveUp {
		t.Errorf("took %v with %d reads; want at least the %v patience and %d reads, and not much longer", took, invoked, keys.patience, finalGiveUp)
	}
}
