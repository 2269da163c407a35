package kvtarget

import (
	"testing"
	"time"

	"github.com/faultline/faultline/harness/fltest"
	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/targets/targettest"
	"github.com/faultline/faultline/workloads"
)

// TestConformance: kvsvc passes faultline's target kit (software builds,
// healthy cluster, kill/restart, pause/resume, a valid fault-free run).
func TestConformance(t *testing.T) {
	targettest.Conformance(t, &Target{Mode: "safe"}, targettest.Options{Workload: workloads.Register{}})
}

// TestSafeModeIsLinearizable: with a primary that fsyncs before it
// answers, kvsvc stays linearizable under partitions, kills and pauses.
func TestSafeModeIsLinearizable(t *testing.T) {
	fltest.Run(t, fltest.Test{
		Target:          &Target{Mode: "safe"},
		Workload:        workloads.Register{},
		Nemesis:         []string{"partition", "kill", "pause"},
		NemesisInterval: 4 * time.Second,
		Nodes:           3,
		Concurrency:     6,
		TimeLimit:       30 * time.Second,
	})
}

// TestUnsafeModeIsNotLinearizable: asynchronous replication with local
// reads serves stale values under partitions; faultline must say so.
func TestUnsafeModeIsNotLinearizable(t *testing.T) {
	res := fltest.Run(t, fltest.Test{
		Target:          &Target{Mode: "unsafe"},
		Workload:        workloads.Register{},
		Nemesis:         []string{"partition"},
		NemesisInterval: 4 * time.Second,
		Nodes:           3,
		Concurrency:     6,
		TimeLimit:       30 * time.Second,
		Expect:          models.Invalid,
	})
	for i, a := range fltest.Anomalies(res) {
		if i == 3 {
			break
		}
		t.Log(a)
	}
}
