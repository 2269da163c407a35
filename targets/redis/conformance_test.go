package redis

import (
	"testing"

	"github.com/faultline/faultline/targets/targettest"
	"github.com/faultline/faultline/workloads"
)

// TestConformance runs the target kit against a real Redis primary with replicas and Sentinels (3 nodes; n1 starts as the primary).
func TestConformance(t *testing.T) {
	tg, err := New("", nil)
	if err != nil {
		t.Fatal(err)
	}
	targettest.Conformance(t, tg, targettest.Options{Workload: workloads.Register{}, Nodes: 3})
}
