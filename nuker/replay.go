package nuker

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/faultline/faultline/models/history"
)

// Step is one fault of a schedule as the history records it in the value
// of its start invocation: which fault, and for a partition its kind and
// grudge, for kill and pause the subset named and the nodes.
type Step struct {
	Fault     string   `json:"fault"`
	Partition string   `json:"partition,omitempty"`
	Grudge    Grudge   `json:"grudge,omitempty"`
	Targets   string   `json:"targets,omitempty"`
	Nodes     []string `json:"nodes,omitempty"`
	// Clock is a clock step's plan.
	Clock *ClockPlan `json:"clock,omitempty"`
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
		s := Step{Fault: strings.TrimPrefix(op.F, history.StartPrefix)}
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
		switch s.Fault {
		case FaultPartition:
			if s.Grudge == nil && s.Partition != PartitionPrimaries {
				return nil, fmt.Errorf("op %d: partition without a grudge", op.Index)
			}
			s.Nodes = s.Grudge.Nodes()
		case FaultKill, FaultPause:
			if len(s.Nodes) == 0 && len(op.Nodes) > 0 {
				s.Nodes = slices.Clone(op.Nodes)
			}
		case FaultFailover:
			// The target picks the nodes again when it fails over.
			s.Nodes = nil
		case FaultClock:
			if s.Clock == nil {
				return nil, fmt.Errorf("op %d: clock fault without its plan", op.Index)
			}
			if len(s.Nodes) == 0 && len(op.Nodes) > 0 {
				s.Nodes = slices.Clone(op.Nodes)
			}
		default:
			return nil, fmt.Errorf("op %d: unknown fault %q", op.Index, s.Fault)
		}
		out = append(out, s)
	}
	return out, nil
}

// step turns a recorded Step back into a schedule step, checking that its
// nodes exist in this cluster.
func (k *Nuker) fromRecorded(r Step) (*step, error) {
	if !slices.Contains(k.faults, r.Fault) {
		return nil, fmt.Errorf("replayed fault %q is not in this run's fault set %v", r.Fault, k.faults)
	}
	for _, n := range append(slices.Clone(r.Nodes), r.Grudge.Nodes()...) {
		if _, ok := k.byName[n]; !ok {
			return nil, fmt.Errorf("replayed %s names node %q, not in this cluster", r.Fault, n)
		}
	}
	s := &step{fault: r.Fault, partition: r.Partition, grudge: r.Grudge, targets: r.Targets, nodes: slices.Clone(r.Nodes), clock: r.Clock}
	slices.Sort(s.nodes)
	return s, nil
}
