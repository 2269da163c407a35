package redis

import (
	"testing"

	"github.com/faultline/faultline/targets/targettest"
	"github.com/faultline/faultline/workloads"
)

// TestConformance runs the target kit against a real Redis primary with replicas and Sentinels (3 nodes; n1 is the primary).
func TestConformance(t *testing.T) {
	// Clients reach the primary through their node's Sentinel, so after a
	// failover a paused replica's clients are still served: the kit runs
	// with failover off, where n1 stays the primary every client uses.
	tg, err := New("", map[string]string{"failover": "none"})
	if err != nil {
		t.Fatal(err)
	}
	targettest.Conformance(t, tg, targettest.Options{Workload: workloads.Register{}, Nodes: 3})
}
