package nuker

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/faultline/faultline/harness/node"
)

// Kind is one kind of fault as a value: what it needs from the target and
// the nodes, how it draws its choices, how it starts and is undone, and
// how it is described and read back from a history. Each kind lives in its
// own file (kind_*.go) and is listed once in Kinds; the nuker schedules
// kinds and knows none by name.
//
// The methods other than Name, Summary and Variants are unexported: a kind
// acts on the nuker's nodes and state, so kinds are part of this package.
type Kind interface {
	// Name is the fault's name in --faults, schedules and the history
	// (start-<name>, stop-<name>).
	Name() string
	// Summary says in one line what the fault does, for `faultline list`.
	Summary() string
	// Variants are the ways a schedule may pin the fault's choice, as
	// "<name>/<variant>" (kill/primaries, partition/one); nil when the
	// fault has none.
	Variants() []string
	// Needs are the node mechanisms the fault uses.
	Needs() node.Needs

	// prepare checks, in New, that the target and nodes can take the
	// fault, and sets up the nuker state it needs.
	prepare(k *Nuker, cfg Config) error
	// draw draws a step from r, and from nothing else: the schedule's
	// reproducibility rests on it. variant, when not "", pins the choice
	// Variants names.
	draw(k *Nuker, r *rand.Rand, variant string) Step
	// start injects s and returns what was done (the start's info value),
	// the nodes where it did not take effect, and what failed. It may fill
	// in s's choices that depend on the target's state at that moment.
	start(ctx context.Context, k *Nuker, s *Step) (value any, failed []string, err error)
	// stop undoes s and returns what was done.
	stop(ctx context.Context, k *Nuker, s *Step) (value any, err error)
	// describe is the value of s's start invocation, from which
	// ScheduleFromHistory reads s back.
	describe(s *Step) map[string]any
	// about is the value of s's stop invocation.
	about(s *Step) any
	// restore checks a Step read back from a history (its start invocation
	// had nodes opNodes) and completes it.
	restore(s *Step, opNodes []string) error
}

// hooks are what a kind may add around the schedule; a kind implements
// those it needs.
type (
	// observer records state around each of its steps: before the start's
	// invocation, after its completion, and after the stop.
	observer interface {
		observe(ctx context.Context, k *Nuker)
	}
	// runPreparer does slow first contact with the nodes when the schedule
	// begins, while the first quiet period passes.
	runPreparer interface {
		prepareRun(ctx context.Context, k *Nuker)
	}
	// finalHealer undoes, at the final heal, what may be left behind
	// whether or not its steps are known (an earlier controller's
	// leftovers, effects that outlive their steps). Every kind known is
	// asked, not only those in the fault set.
	finalHealer interface {
		finalHeal(ctx context.Context, k *Nuker) error
	}
)

// Kinds lists every fault kind, in the order the schedule draws from: the
// order is part of the seeded schedule. Adding a kind means a file of its
// own and a line here.
func Kinds() []Kind {
	return append([]Kind{partitionKind{}, killKind(), pauseKind(), failoverKind{}, clockKind{}, packetKind{}, memberKind{}, powerKind(), delayKind{}, upgradeKind{}},
		diskKinds()...)
}

// targetChecker is a kind that only some targets can take (failover,
// member, power).
type targetChecker interface {
	targetCan(t any) bool
}

// targetNeeder is a kind that asks the target to act through an optional
// interface of this package (failover, member): a target without it
// cannot take the kind, and only a target written in Go can offer it.
type targetNeeder interface {
	targetChecker
	// needsTarget names the interface, e.g. "Failoverer".
	needsTarget() string
}

// implements reports whether t implements T.
func implements[T any](t any) bool {
	_, ok := t.(T)
	return ok
}

// needTarget refuses, in prepare, a target without what kind needs; cannot
// says what such a target cannot do.
func needTarget(kind interface {
	Kind
	targetNeeder
}, t Target, cannot string) error {
	if !kind.targetCan(t) {
		return fmt.Errorf("nuker: fault %s: the target cannot %s", kind.Name(), cannot)
	}
	return nil
}

// TargetInterface names the optional interface of this package a target
// must implement to take the named fault ("Failoverer"), or "" when any
// target can.
func TargetInterface(fault string) string {
	if k, ok := KindOf(fault); ok {
		if tn, ok := k.(targetNeeder); ok {
			return tn.needsTarget()
		}
	}
	return ""
}

// TargetCan reports whether target t implements what the named fault asks
// of it (TargetInterface); an unknown fault it cannot.
func TargetCan(fault string, t any) bool {
	k, ok := KindOf(fault)
	if !ok {
		return false
	}
	tc, ok := k.(targetChecker)
	return !ok || tc.targetCan(t)
}

// KindOf returns the kind named name.
func KindOf(name string) (Kind, bool) {
	i := slices.IndexFunc(Kinds(), func(k Kind) bool { return k.Name() == name })
	if i < 0 {
		return nil, false
	}
	return Kinds()[i], true
}

// NeedsOf is the node mechanisms the named faults use together.
func NeedsOf(faults []string) node.Needs {
	var out node.Needs
	for _, f := range faults {
		if k, ok := KindOf(f); ok {
			n := k.Needs()
			out.Iptables = out.Iptables || n.Iptables
			out.Clock = out.Clock || n.Clock
			out.Packet = out.Packet || n.Packet
			out.Disk = out.Disk || n.Disk
			out.Delay = out.Delay || n.Delay
		}
	}
	return out
}

// checkVariant reports whether v is one of kind's variants ("" always is).
func checkVariant(kind Kind, v string) error {
	if v == "" || slices.Contains(kind.Variants(), v) {
		return nil
	}
	if len(kind.Variants()) == 0 {
		return fmt.Errorf("fault %s has no variants (asked for %s/%s)", kind.Name(), kind.Name(), v)
	}
	return fmt.Errorf("fault %s has no variant %q (known: %v)", kind.Name(), v, kind.Variants())
}

// pinChecker refuses a variant the target or cluster cannot do, before any
// node exists (a primaries variant on a target that cannot name them).
type pinChecker interface {
	checkPin(variant string, target Target, nodes []string) error
}

// resolver makes a step's choices that depend on the target's state (who
// is primary) when the step starts, before its invocation is recorded.
type resolver interface {
	resolve(ctx context.Context, k *Nuker, s *Step) error
}
