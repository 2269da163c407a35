package fltest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/faultline/faultline/harness/fltest"
	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/targets/etcd"
	"github.com/faultline/faultline/workloads"
)

// A Go project tests a store under network partitions with an ordinary Go
// test: fltest.Run starts the cluster in Docker, runs the register workload
// while partitioning it, checks the history for linearizability and fails
// the test with the anomalies and the report's path when it is not.
// TestExampleEtcdUnderPartitions in this package runs exactly this test.
func Example() {
	// In a _test.go file of your module:
	testMyStoreUnderPartitions := func(t *testing.T) {
		// Any value that implements targets.Target: your own type, or a
		// shipped one as here.
		store, err := etcd.New("", nil)
		if err != nil {
			t.Fatal(err)
		}
		res := fltest.Run(t, fltest.Test{
			Target:          store,
			Workload:        workloads.Register{},
			Nemesis:         []string{"partition"},
			NemesisInterval: 5 * time.Second,
			Nodes:           3,
			TimeLimit:       20 * time.Second,
		})
		// The results are there for further assertions.
		if res.Stats.Ops < 100 {
			t.Errorf("only %d ops in 20 s", res.Stats.Ops)
		}
	}

	// A known weakness is a test too: etcd's serializable reads may be
	// stale under partitions, so this run must come out invalid.
	testSerializableReadsAreStale := func(t *testing.T) {
		res := fltest.Run(t, fltest.Test{
			TargetName: "etcd", // a shipped system by name
			TargetOpts: map[string]string{"read": "serializable"},
			Nemesis:    []string{"partition"},
			Expect:     models.Invalid,
		})
		for _, a := range fltest.Anomalies(res) {
			t.Log(a)
		}
	}

	_, _ = testMyStoreUnderPartitions, testSerializableReadsAreStale
}

// Test.Spec shows the harness.Spec a Test runs: `faultline run`'s defaults
// with the fields the Test sets. It needs no Docker.
func ExampleTest_Spec() {
	spec, err := fltest.Test{
		Name:      "etcd-partitions",
		Nemesis:   []string{"partition"},
		Nodes:     3,
		TimeLimit: 20 * time.Second,
	}.Spec()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(spec.Test, spec.Target, spec.Workload, spec.Nemesis, spec.Nodes, spec.Concurrency, spec.TimeLimit.D(), spec.NemesisInterval.D())
	// Output: etcd-partitions etcd register [partition] 3 10 20s 10s
}

// TestExampleEtcdUnderPartitions runs Example's test for real: etcd with
// linearizable reads under partitions must come out valid. It needs Docker:
// without an engine it is skipped with a loud message, and under CI=true it
// fails instead.
func TestExampleEtcdUnderPartitions(t *testing.T) {
	store, err := etcd.New("", nil)
	if err != nil {
		t.Fatal(err)
	}
	res := fltest.Run(t, fltest.Test{
		Target:          store,
		Workload:        workloads.Register{},
		Nemesis:         []string{"partition"},
		NemesisInterval: 5 * time.Second,
		Nodes:           3,
		TimeLimit:       20 * time.Second,
	})
	if res.Stats.Ops < 100 {
		t.Errorf("only %d client ops in 20 s", res.Stats.Ops)
	}
	var partitioned bool
	for _, p := range res.Stats.Faults {
		partitioned = partitioned || p.Name == "partition"
	}
	if !partitioned {
		t.Errorf("no partition window in the run's statistics (%d fault phases)", len(res.Stats.Faults))
	}
}
