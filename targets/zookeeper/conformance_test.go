package zookeeper

import (
	"testing"

	"github.com/faultline/faultline/targets/targettest"
	"github.com/faultline/faultline/workloads"
)

// TestConformance runs the target kit against a real 3-node ZooKeeper ensemble.
func TestConformance(t *testing.T) {
	// Plain reads are stale even without faults (docs/targets.md): the kit needs a setting that promises linearizable reads
	tg, err := New("", map[string]string{"reads": "sync"})
	if err != nil {
		t.Fatal(err)
	}
	targettest.Conformance(t, tg, targettest.Options{Workload: workloads.Register{}, Nodes: 3})
}
