package maelstrom

import (
	"fmt"
	"slices"
	"strings"
)

// maelstromWorkloads are Maelstrom's workloads in its own order, each with
// the faultline workloads that judge a node serving it, the one judging as
// Maelstrom does first. The others are stricter: set adds session
// guarantees to broadcast and g-set, counter bounds every read of an
// eventually consistent counter in real time (a linearizable counter
// passes, a CRDT usually does not).
var maelstromWorkloads = []struct {
	name      string
	faultline []string
}{
	{"lin-kv", []string{"register"}},
	{"echo", []string{"echo"}},
	{"unique-ids", []string{"unique-ids"}},
	{"broadcast", []string{"broadcast", "set"}},
	{"g-set", []string{"g-set", "set"}},
	{"g-counter", []string{"g-counter", "counter"}},
	{"pn-counter", []string{"pn-counter", "counter"}},
	{"txn-list-append", []string{"list-append"}},
	{"txn-rw-register", []string{"rw-register"}},
	{"kafka", []string{"kafka"}},
}

// faultlineOf returns the faultline workloads that judge Maelstrom
// workload name, or nil for a name Maelstrom does not have.
func faultlineOf(name string) []string {
	for _, w := range maelstromWorkloads {
		if w.name == name {
			return w.faultline
		}
	}
	return nil
}

// maelstromNames lists Maelstrom's workload names, for messages.
func maelstromNames() string {
	var out []string
	for _, w := range maelstromWorkloads {
		out = append(out, w.name)
	}
	return strings.Join(out, ", ")
}

// Workloads implements targets.Target: with workload= given, the faultline
// workloads that judge that Maelstrom workload; else every one the target
// can serve, the run's --workload then choosing (FitWorkload).
func (t *Target) Workloads() []string {
	if t.workload != "" {
		return faultlineOf(t.workload)
	}
	var out []string
	for _, w := range maelstromWorkloads {
		for _, f := range w.faultline {
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	return out
}

// FitWorkload implements targets.WorkloadFitter: without workload=, the
// faultline workload a run asks for picks the Maelstrom workload the node
// is spoken to with (the first that it judges: set and counter pick
// broadcast and g-counter). With workload= given, nothing changes; the
// harness then refuses a faultline workload that does not judge it.
func (t *Target) FitWorkload(name string) error {
	if t.workload != "" {
		return nil
	}
	for _, w := range maelstromWorkloads {
		if slices.Contains(w.faultline, name) {
			t.workload = w.name
			return nil
		}
	}
	return fmt.Errorf("maelstrom: no Maelstrom workload is judged by faultline workload %q (give --target-opt workload=, one of %s)", name, maelstromNames())
}

// mwl is the Maelstrom workload the nodes are spoken to with: the one
// given or fitted, else lin-kv.
func (t *Target) mwl() string {
	if t.workload == "" {
		return "lin-kv"
	}
	return t.workload
}
