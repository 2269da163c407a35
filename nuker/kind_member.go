package nuker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/faultline/faultline/harness/node"
)

// FaultMember replaces a member of the cluster: removed from the
// membership, its process stopped and its data wiped at the start; added
// back as a new member that joins the running cluster at the stop. Only
// targets that implement MemberChanger support it.
const FaultMember = "member"

// MemberChanger is a Target whose membership can change during a run: the
// member fault. A target without it does not support that fault.
type MemberChanger interface {
	// RemoveMember removes n's member from the cluster through the
	// system's own membership API, as an operator replacing a machine
	// would, stops its process and wipes its data. It returns what it did
	// (the member id removed). While n is out, its process must stay down
	// even if another fault restarts it.
	RemoveMember(ctx context.Context, n node.Node) (what string, err error)
	// AddMember adds n back as a new member with empty data, starts it
	// joining the running cluster and waits until the cluster is healthy
	// with n in it. It returns what it did (the new member id). It must
	// finish what a RemoveMember that failed part-way left behind, and do
	// nothing but check health when n is a healthy member already.
	AddMember(ctx context.Context, n node.Node) (what string, err error)
}

// memberKind replaces one member: the node drawn, or the leader when
// pinned to primaries.
type memberKind struct{}

func (memberKind) Name() string { return FaultMember }

func (memberKind) Summary() string {
	return "remove one member (or the leader) from the cluster, stop it and wipe its data, then add it back as a new member that joins the running cluster"
}

func (memberKind) Variants() []string { return []string{TargetsOne, TargetsPrimaries} }
func (memberKind) Needs() node.Needs  { return node.Needs{} }

func (memberKind) needsTarget() string { return "MemberChanger" }

func (memberKind) targetCan(t any) bool { return implements[MemberChanger](t) }

func (m memberKind) prepare(_ *Nuker, cfg Config) error {
	return needTarget(m, cfg.Target, "change its membership")
}

// draw picks one node; a leader is named only when the step starts.
func (memberKind) draw(k *Nuker, r *rand.Rand, variant string) Step {
	s := Step{Fault: FaultMember}
	if variant == "" {
		variant = TargetsOne
	}
	drawTargets(k, r, &s, variant, false)
	return s
}

func (memberKind) checkPin(variant string, target Target, _ []string) error {
	if variant == TargetsPrimaries {
		return needPrimaries(target)
	}
	return nil
}

// resolve names the leader when the step is pinned to it; of several
// (across a partition) the first in name order, since one member at a time
// is replaced.
func (memberKind) resolve(ctx context.Context, k *Nuker, s *Step) error {
	if err := resolveTargets(ctx, k, s); err != nil {
		return err
	}
	s.Nodes = s.Nodes[:min(len(s.Nodes), 1)]
	return nil
}

func (memberKind) start(ctx context.Context, k *Nuker, s *Step) (any, []string, error) {
	return memberAct(ctx, k, s, k.target.(MemberChanger).RemoveMember)
}

func (memberKind) stop(ctx context.Context, k *Nuker, s *Step) (any, error) {
	what, failed, err := memberAct(ctx, k, s, k.target.(MemberChanger).AddMember)
	if len(failed) == 0 {
		// The new member's process is fresh: skew its clock again.
		err = errors.Join(err, k.reapplyClocks(ctx, s.Nodes))
	}
	return what, err
}

// memberAct calls f on each of s's nodes (one) and returns what the
// target did, one line per node.
func memberAct(ctx context.Context, k *Nuker, s *Step, f func(context.Context, node.Node) (string, error)) (any, []string, error) {
	var (
		done   []string
		failed []string
		errs   []error
	)
	for _, name := range s.Nodes {
		what, err := f(ctx, k.byName[name])
		if what != "" {
			done = append(done, what)
		}
		if err != nil {
			failed = append(failed, name)
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	return nonNil(done), failed, errors.Join(errs...)
}

// A member step is recorded and read back as a kill's is: targets and
// nodes.
func (memberKind) describe(s *Step) map[string]any { return processKind{}.describe(s) }
func (memberKind) about(s *Step) any               { return processKind{}.about(s) }

func (memberKind) restore(s *Step, opNodes []string) error {
	if err := (processKind{}).restore(s, opNodes); err != nil {
		return err
	}
	if len(s.Nodes) > 1 {
		return fmt.Errorf("replaces one member at a time, not %v", s.Nodes)
	}
	return nil
}
