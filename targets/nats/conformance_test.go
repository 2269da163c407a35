package nats

import (
	"testing"

	"github.com/faultline/faultline/targets/targettest"
	"github.com/faultline/faultline/workloads"
)

// TestConformance runs the target kit against a real 3-node NATS JetStream cluster (KV register).
func TestConformance(t *testing.T) {
	tg, err := New("", nil)
	if err != nil {
		t.Fatal(err)
	}
	targettest.Conformance(t, tg, targettest.Options{Workload: workloads.Register{}, Nodes: 3})
}
