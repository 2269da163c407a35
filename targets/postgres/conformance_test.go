package postgres

import (
	"testing"

	"github.com/faultline/faultline/targets/targettest"
	"github.com/faultline/faultline/workloads"
)

// TestConformance runs the target kit against a real PostgreSQL primary with two standbys (n1 is the primary).
func TestConformance(t *testing.T) {
	tg, err := New("", nil)
	if err != nil {
		t.Fatal(err)
	}
	targettest.Conformance(t, tg, targettest.Options{Workload: workloads.Register{}, Nodes: 3})
}
