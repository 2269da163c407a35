package nats

import (
	"testing"

	"github.com/faultline/faultline/targets/targettest"
	"github.com/faultline/faultline/workloads"
)

// TestConformance runs the target kit against a real 3-node NATS JetStream cluster (KV register).
func TestConformance(t *testing.T) {
	// The default direct KV reads are stale even without faults (docs/targets.md): the kit needs a setting that promises linearizable reads
	tg, err := New("", map[string]string{"kv-reads": "leader"})
	if err != nil {
		t.Fatal(err)
	}
	targettest.Conformance(t, tg, targettest.Options{Workload: workloads.Register{}, Nodes: 3})
}
