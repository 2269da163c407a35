package nuker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/models/history"
)

// FaultUpgrade restarts nodes one by one onto another version of the
// system while the workload runs (a rolling upgrade), and back at the stop
// (a rolling downgrade, with the system's own downgrade procedure where it
// has one). Only targets that implement Upgrader support it.
//
// Recorded as a kill is (start invoke {"targets": "all"|"one", "nodes":
// [nodes]}, stop invoke [nodes]); the completions hold the target's line
// per node, and each node's move is an info op history.VersionF when the
// node answers on the other release.
const FaultUpgrade = "upgrade"

// Upgrader is a Target whose nodes can switch between two versions of the
// system during a run: the upgrade fault. A target without it does not
// support that fault.
type Upgrader interface {
	// Version is the release the cluster starts on, and returns to at the
	// fault's stop.
	Version() string
	// UpgradeVersion is the other release the fault moves nodes to (newer
	// or older), as the target's options chose it.
	UpgradeVersion() string
	// UpgradeSoftware is what every node needs to run either release: the
	// target's Software and the other release's program beside it. A run
	// with the upgrade fault installs it instead of Software.
	UpgradeSoftware() (node.Software, error)
	// SwitchVersion restarts the system on each of nodes in turn, in the
	// order given, on version (Version or UpgradeVersion) with its data
	// kept, as an operator's rolling upgrade or downgrade would, waiting
	// until the cluster is healthy before the next node. A node already on
	// version is left alone. moved is called as each node comes up on
	// version. It returns one line per node moved or left alone, in
	// order, and stops at the first node that fails to move or after
	// which the cluster is not healthy (that node moved: it has a line).
	SwitchVersion(ctx context.Context, nodes []node.Node, version string, moved func(n node.Node, from, to string)) (what []string, err error)
}

// softwareChooser is a kind that needs more installed on the nodes than
// the target's own Software (the upgrade fault: both releases).
type softwareChooser interface {
	software(t any) (node.Software, error)
}

// SoftwareTarget is a target as far as installing it goes.
type SoftwareTarget interface {
	Software() (node.Software, error)
}

// Software is what the nodes of a run of t with faults need installed:
// t's own Software, or what a fault among faults needs instead (the
// upgrade fault: both releases). Only one fault may ask.
func Software(t SoftwareTarget, faults []string) (node.Software, error) {
	for _, f := range faults {
		if k, ok := KindOf(f); ok {
			if sc, ok := k.(softwareChooser); ok {
				return sc.software(t)
			}
		}
	}
	return t.Software()
}

// upgradeKind rolls every node (in name order), or one drawn node, onto
// the target's other version, and back at the stop.
type upgradeKind struct{}

func (upgradeKind) Name() string { return FaultUpgrade }

func (upgradeKind) Summary() string {
	return "restart the nodes one by one onto another version of the target (the target's option upgrade-to chooses it, see faultline list), and back at the stop, with the target's downgrade procedure where it needs one"
}

// Variants: all nodes, one after the other (a rolling upgrade), or one
// node only (a cluster of mixed versions for the fault's interval).
func (upgradeKind) Variants() []string { return []string{TargetsAll, TargetsOne} }
func (upgradeKind) Needs() node.Needs  { return node.Needs{} }

func (upgradeKind) needsTarget() string { return "Upgrader" }

func (upgradeKind) targetCan(t any) bool { return implements[Upgrader](t) }

func (u upgradeKind) prepare(_ *Nuker, cfg Config) error {
	return needTarget(u, cfg.Target, "switch its nodes to another version")
}

func (upgradeKind) software(t any) (node.Software, error) {
	up, ok := t.(Upgrader)
	if !ok {
		return node.Software{}, fmt.Errorf("fault %s: the target cannot switch its nodes to another version", FaultUpgrade)
	}
	return up.UpgradeSoftware()
}

// draw rolls every node unless pinned to one (drawn); undrawn, a step is
// a rolling upgrade of the whole cluster three times out of four.
func (upgradeKind) draw(k *Nuker, r *rand.Rand, variant string) Step {
	s := Step{Fault: FaultUpgrade, Targets: variant}
	if variant == "" {
		s.Targets = TargetsAll
		if r.IntN(4) == 0 {
			s.Targets = TargetsOne
		}
	}
	if s.Targets == TargetsOne {
		s.Nodes = []string{k.names[r.IntN(len(k.names))]}
	} else {
		s.Nodes = slices.Clone(k.names)
	}
	return s
}

func (upgradeKind) start(ctx context.Context, k *Nuker, s *Step) (any, []string, error) {
	return upgradeAct(ctx, k, s, k.target.(Upgrader).UpgradeVersion())
}

func (upgradeKind) stop(ctx context.Context, k *Nuker, s *Step) (any, error) {
	what, _, err := upgradeAct(ctx, k, s, k.target.(Upgrader).Version())
	return what, err
}

// upgradeAct switches s's nodes to version and records each move as a
// node information op (history.VersionF) when it happens.
func upgradeAct(ctx context.Context, k *Nuker, s *Step, version string) ([]string, []string, error) {
	nodes := make([]node.Node, len(s.Nodes))
	for i, name := range s.Nodes {
		nodes[i] = k.byName[name]
	}
	var moved []string
	what, err := k.target.(Upgrader).SwitchVersion(ctx, nodes, version, func(n node.Node, from, to string) {
		moved = append(moved, n.Name())
		k.emit(history.Info, history.VersionF, []string{n.Name()}, map[string]string{"node": n.Name(), "from": from, "to": to}, nil)
	})
	// Restarted processes are fresh: skew their clocks again.
	err = errors.Join(err, k.reapplyClocks(ctx, moved))
	if err == nil {
		return nonNil(what), nil, nil
	}
	// SwitchVersion says a line per node moved, in order, and stops at
	// the first node that fails: the nodes without a line did not move.
	var failed []string
	if len(what) < len(s.Nodes) {
		failed = s.Nodes[len(what):]
	}
	return nonNil(what), failed, fmt.Errorf("switch to %s: %w", version, err)
}

// An upgrade step is recorded and read back as a kill's is: targets and
// nodes, the order of the roll being the nodes' name order.
func (upgradeKind) describe(s *Step) map[string]any { return processKind{}.describe(s) }
func (upgradeKind) about(s *Step) any               { return processKind{}.about(s) }

func (upgradeKind) restore(s *Step, opNodes []string) error {
	if err := (processKind{}).restore(s, opNodes); err != nil {
		return err
	}
	if s.Targets == TargetsOne && len(s.Nodes) != 1 {
		return fmt.Errorf("upgrade/one moves one node, not %v", s.Nodes)
	}
	return nil
}
