package harness

import (
	"bytes"
	"context"
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
