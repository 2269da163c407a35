package nuker

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/faultline/faultline/models/history"
)

// startValues returns the start invocations' fault names and values, the
// part of a history a replay must reproduce exactly.
func startValues(t *testing.T, ops []history.Op) []string {
	t.Helper()
	var out []string
	for _, op := range ops {
		if op.Process == history.Nuker && op.Type == history.Invoke && strings.HasPrefix(op.F, history.StartPrefix) {
			b, err := json.Marshal(op.Value)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, op.F+" "+string(b))
		}
	}
	return out
}

// scheduleThroughFile reads the schedule back from ops after they went
// through the history file format, as a replay reads them.
func scheduleThroughFile(t *testing.T, ops []history.Op) []Step {
	t.Helper()
	var buf bytes.Buffer
	w, err := history.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range ops {
		if _, err := w.Append(op); err != nil {
			t.Fatal(err)
		}
	}
	read, err := history.Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	sched, err := ScheduleFromHistory(read)
	if err != nil {
		t.Fatal(err)
	}
	return sched
}

// TestReplaySchedule: the schedule read back from a history (after a JSON
// round trip, as from history.jsonl) makes a nuker with another seed inject
// exactly the same faults on the same nodes.
func TestReplaySchedule(t *testing.T) {
	faults := []string{FaultPartition, FaultKill, FaultPause}
	orig, _, _ := runFaults(t, Config{Faults: faults, Seed: 7}, 12)

	sched := scheduleThroughFile(t, orig)
	if len(sched) != 12 {
		t.Fatalf("schedule has %d steps, want 12", len(sched))
	}
	replayed, _, _ := runFaults(t, Config{Faults: faults, Seed: 99, Schedule: sched}, 12)
	want, got := startValues(t, orig), startValues(t, replayed)
	if !reflect.DeepEqual(want, got) {
		t.Errorf("replay differs:\n got %v\nwant %v", got, want)
	}
	// The other seed alone draws a different schedule: the test can fail.
	other, _, _ := runFaults(t, Config{Faults: faults, Seed: 99}, 12)
	if reflect.DeepEqual(want, startValues(t, other)) {
		t.Error("seed 99 drew the same schedule as seed 7; pick seeds that differ")
	}
}

func TestReplayScheduleRejectsForeignNodes(t *testing.T) {
	sched := []Step{{Fault: FaultKill, Targets: "one", Nodes: []string{"n9"}}}
	_, err := New(Config{Faults: []string{FaultKill}, Nodes: asNodes(fakeNodes(3)), Target: newFakeTarget(), Schedule: sched})
	if err == nil || !strings.Contains(err.Error(), "n9") {
		t.Errorf("schedule naming n9 on a 3-node cluster: err %v", err)
	}
	sched = []Step{{Fault: FaultPause, Targets: "one", Nodes: []string{"n1"}}}
	_, err = New(Config{Faults: []string{FaultKill}, Nodes: asNodes(fakeNodes(3)), Target: newFakeTarget(), Schedule: sched})
	if err == nil || !strings.Contains(err.Error(), "not in this run's fault set") {
		t.Errorf("pause step with only kill allowed: err %v", err)
	}
}
