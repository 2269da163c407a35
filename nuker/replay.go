package nuker

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/faultline/faultline/models/history"
)

// Step is one fault of a schedule as the history records it in the value
// of its start invocation: which fault, and for a partition its kind and
// grudge, for kill and pause the subset named and the nodes, and the lane
// of the plan it was drawn in.
type Step struct {
	Fault     string   `json:"fault"`
	Partition string   `json:"partition,omitempty"`
	Grudge    Grudge   `json:"grudge,omitempty"`
	Targets   string   `json:"targets,omitempty"`
	Nodes     []string `json:"nodes,omitempty"`
	// Clock is a clock step's plan.
	Clock *ClockPlan `json:"clock,omitempty"`
	// Packet is a packet step's plan.
	Packet *PacketPlan `json:"packet,omitempty"`
	// Disk is a disk step's plan (disk-full, disk-error, slow-disk,
	// corrupt).
	Disk *DiskPlan `json:"disk,omitempty"`
	// Lane is the index of the plan's lane the step belongs to.
	Lane int `json:"lane,omitempty"`
}

// ScheduleFromHistory reads back the faults a run drew, in order, from the
// nuker's start invocations, so a replay injects the same faults on the
// same nodes even if the drawing code has changed since.
func ScheduleFromHistory(ops []history.Op) ([]Step, error) {
	var out []Step
	for _, op := range ops {
		if op.Process != history.Nuker || op.Type != history.Invoke || !strings.HasPrefix(op.F, history.StartPrefix) {
			continue
		}
		var s Step
		// The value went through JSON; a round trip reads it whatever its
		// in-memory shape.
		b, err := json.Marshal(op.Value)
		if err != nil {
			return nil, fmt.Errorf("op %d: %w", op.Index, err)
		}
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, fmt.Errorf("op %d: fault value %s: %w", op.Index, b, err)
		}
		s.Fault = strings.TrimPrefix(op.F, history.StartPrefix)
		kind, ok := KindOf(s.Fault)
		if !ok {
			return nil, fmt.Errorf("op %d: unknown fault %q", op.Index, s.Fault)
		}
		if err := kind.restore(&s, op.Nodes); err != nil {
			return nil, fmt.Errorf("op %d: %s: %w", op.Index, s.Fault, err)
		}
		out = append(out, s)
	}
	return out, nil
}
