package nuker

import (
	"fmt"
	"strings"
)

// Fault names accepted in Config.Faults.
const (
	// FaultPartition cuts the network between nodes (see Grudge).
	FaultPartition = "partition"
	// FaultKill SIGKILLs the target's process on some nodes, then restarts it.
	FaultKill = "kill"
	// FaultPause SIGSTOPs the target's process on some nodes, then SIGCONTs it.
	FaultPause = "pause"
	// FaultFailover makes another node the primary on purpose, as an
	// operator or a failover manager would, then lets the deposed primary
	// rejoin; only targets that implement Failoverer support it.
	FaultFailover = "failover"
	// FaultClock skews the wall clock the target's processes see on some
	// nodes (bump, strobe, skew, reset; see ClockKinds); the host's clock
	// never moves. Nodes must implement node.Clock.
	FaultClock = "clock"
	// FaultPower cuts the power of some nodes: SIGKILL the target's process,
	// drop what it had not made durable (fsync) in its data directories,
	// restart it. Nodes must implement node.Disker, the target declare
	// data directories.
	FaultPower = "power"
)

// Description names a fault or partition kind and says in one line what it
// does, for `faultline list`.
type Description struct {
	Name    string `json:"name"`
	Summary string `json:"summary"`
}

// KnownFaults lists the faults the nuker can inject, in schedule order.
func KnownFaults() []Description {
	var out []Description
	for _, k := range Kinds() {
		out = append(out, Description{k.Name(), k.Summary()})
	}
	return out
}

// ParseFaults parses a comma-separated list of fault names such as
// "partition,kill,pause". Blanks and repeats are ignored, "all" stands for
// every known fault but the disk faults (power, disk-full, disk-error,
// slow-disk, corrupt), which must be named, and
// "none" or "" for no faults. The result keeps the
// order of KnownFaults, so the same set always gives the same schedule.
func ParseFaults(s string) ([]string, error) {
	want := map[string]bool{}
	for _, f := range strings.Split(s, ",") {
		f = strings.ToLower(strings.TrimSpace(f))
		switch f {
		case "", "none":
			continue
		case "all":
			for _, k := range Kinds() {
				// Disk faults mount a filesystem through a privileged
				// helper and need a target with data directories: named
				// only.
				if !k.Needs().Disk {
					want[k.Name()] = true
				}
			}
			continue
		}
		if !known(KnownFaults(), f) {
			return nil, fmt.Errorf("unknown fault %q (known: %s)", f, names(KnownFaults()))
		}
		want[f] = true
	}
	var out []string
	for _, k := range KnownFaults() {
		if want[k.Name] {
			out = append(out, k.Name)
		}
	}
	return out, nil
}

func known(ds []Description, name string) bool {
	for _, d := range ds {
		if d.Name == name {
			return true
		}
	}
	return false
}

func names(ds []Description) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = d.Name
	}
	return strings.Join(s, ", ")
}
