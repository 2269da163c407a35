// Package nuker injects faults into a test cluster, as Jepsen's nemesis
// does: network partitions (grudges applied with iptables in each node's
// network namespace), crashes (kill and restart of the target's process)
// and pauses (SIGSTOP and SIGCONT). It knows nodes only through the node
// runtime interface (package harness/node) and targets only through the
// Target interface, so it works the same on Docker and on real machines.
//
// A Nuker runs a schedule: wait an interval, start one fault drawn from the
// configured set, wait an interval, stop it, and so on until its context is
// done; then everything it did is undone. Every choice (which fault, which
// partition, which nodes) is drawn from one seeded random source and from
// nothing else, so a seed replays the same faults.
//
// Each fault becomes four history ops of process history.Nuker:
//
//	invoke start-<kind>  Value: what is about to happen
//	info   start-<kind>  Nodes: the nodes acted on, Value: what was done, Error: what failed,
//	                     Failed: the nodes where it did not take effect (with Error)
//	invoke stop-<kind>   Value: what is about to be undone
//	info   stop-<kind>   Nodes: the nodes acted on, Value: the nodes healed, Error: what failed
//
// with these Values:
//
//	partition: start invoke {"partition": <kind>, "grudge": Grudge}, start info Grudge (as applied),
//	           stop invoke Grudge, stop info [healed nodes]
//	kill:      start invoke {"targets": "one"|"minority"|"majority"|"all", "nodes": [nodes]},
//	           start info [killed nodes], stop invoke [nodes], stop info [restarted nodes]
//	pause:     as kill, with targets one, minority or majority, [paused] and [resumed] nodes
//	clock:     start invoke {"targets": ..., "nodes": [nodes], "clock": ClockPlan}, start info
//	           {node: offset ms} as set (strobe: {"strobe_ms", "base_ms", "period_ms"}), stop
//	           invoke [nodes], stop info {node: offset ms}; around each clock fault, info ops
//	           history.ClockOffsetsF record the offset every node's process sees (see clockfault.go)
//
// Completions are of type info because a fault's effect is never certain.
package nuker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/models/history"
)

// Target is what a target system offers the nuker: control of its database
// process on a node. Target packages implement it without importing nuker.
type Target interface {
	// Kill SIGKILLs the database process on n and returns once it is gone.
	Kill(ctx context.Context, n node.Node) error
	// Start restarts the database process on n after Kill. The nuker also
	// calls it on nodes whose Kill reported an error (the process may be
	// dead anyway), so a process that is already running should not be an
	// error.
	Start(ctx context.Context, n node.Node) error
	// Pause stops the database process on n with SIGSTOP.
	Pause(ctx context.Context, n node.Node) error
	// Resume continues the database process on n with SIGCONT.
	Resume(ctx context.Context, n node.Node) error
}

// Failoverer is a Target whose primary can be replaced on purpose: the
// failover fault. A target without it does not support that fault.
type Failoverer interface {
	// Failover makes another node the primary, as the system's own
	// failover mechanism or an operator would, and returns the nodes it
	// acted on (the deposed and the new primary) and what it did.
	Failover(ctx context.Context) (nodes []string, what string, err error)
	// EndFailover undoes what Failover left behind, if anything: the
	// deposed primary rejoins as a replica of the new one. It must be safe
	// to call after a Failover that failed part-way.
	EndFailover(ctx context.Context) (what string, err error)
}

// PrimaryLister is a Target that can name its current primaries (leaders);
// the "primaries" partition needs it.
type PrimaryLister interface {
	Primaries(ctx context.Context) ([]string, error)
}

// Recorder appends op to the run's history and returns it as recorded. The
// nuker fills Type, Process, F, Nodes, Value and Error; the recorder fills
// Index and Time. It must be safe for concurrent use with the workers.
type Recorder func(history.Op) history.Op

// Defaults for Config.
const (
	DefaultInterval    = 10 * time.Second
	DefaultHealTimeout = 2 * time.Minute
)

// Config configures a Nuker.
type Config struct {
	// Faults is the set to draw from: names from KnownFaults (see
	// ParseFaults). Order and repeats do not matter. Empty means no faults.
	Faults []string
	// Partitions are the partition kinds to draw from (KnownPartitions);
	// empty means DefaultPartitions, minus those the cluster is too small for.
	Partitions []string
	// Interval is the time between one fault's start and stop and between a
	// stop and the next start; zero means DefaultInterval.
	Interval time.Duration
	// HealTimeout bounds each undo, which runs even when the run's context
	// is cancelled; zero means DefaultHealTimeout.
	HealTimeout time.Duration
	// Seed seeds the schedule when Rand is nil.
	Seed uint64
	// Rand, when set, is the schedule's random source instead of Seed. The
	// nuker must be its only user, or the schedule is not reproducible.
	Rand *rand.Rand
	// Nodes is the cluster. Their order does not matter: the nuker sorts
	// them by name so a seed means the same schedule.
	Nodes []node.Node
	// Target controls the database process; needed for kill and pause.
	Target Target
	// Record receives the fault ops; nil discards them.
	Record Recorder
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
	// Schedule, when set, is played first, step by step, instead of drawing
	// (a replay; see ScheduleFromHistory); once it is used up, further
	// steps are drawn from the seed.
	Schedule []Step
}

// Nuker injects faults on a schedule and undoes them. Its methods are safe
// for concurrent use: HealAll may be called while Run is going.
type Nuker struct {
	faults      []string
	partitions  []string
	interval    time.Duration
	healTimeout time.Duration
	rand        *rand.Rand
	nodes       []node.Node // sorted by name
	names       []string    // sorted
	byName      map[string]node.Node
	target      Target
	record      Recorder
	log         *slog.Logger

	// replay are the steps still to play from Config.Schedule.
	replay []*step

	// mu serializes injections and undos and guards active.
	mu     sync.Mutex
	active []*step
	clock  clockState
}

// step is one fault of the schedule, every choice drawn before it runs so
// that failures cannot change what comes next.
type step struct {
	fault     string
	partition string   // partition kind
	grudge    Grudge   // partition
	targets   string   // kill, pause: one, minority, majority, all
	nodes     []string // sorted names of the nodes acted on
	clock     *ClockPlan
}

// New checks cfg and returns a Nuker.
func New(cfg Config) (*Nuker, error) {
	for _, f := range cfg.Faults {
		if !known(KnownFaults(), f) {
			return nil, fmt.Errorf("nuker: unknown fault %q (known: %s)", f, names(KnownFaults()))
		}
	}
	faults, err := ParseFaults(strings.Join(cfg.Faults, ","))
	if err != nil {
		return nil, fmt.Errorf("nuker: %w", err)
	}
	k := &Nuker{
		faults:      faults,
		interval:    cfg.Interval,
		healTimeout: cfg.HealTimeout,
		rand:        cfg.Rand,
		byName:      map[string]node.Node{},
		target:      cfg.Target,
		record:      cfg.Record,
		log:         cfg.Logger,
	}
	if k.interval == 0 {
		k.interval = DefaultInterval
	}
	if k.interval < 0 {
		return nil, fmt.Errorf("nuker: negative interval %v", cfg.Interval)
	}
	if k.healTimeout <= 0 {
		k.healTimeout = DefaultHealTimeout
	}
	if k.rand == nil {
		k.rand = rand.New(rand.NewPCG(cfg.Seed, 0))
	}
	if k.record == nil {
		k.record = func(op history.Op) history.Op { return op }
	}
	if k.log == nil {
		k.log = slog.New(slog.DiscardHandler)
	}
	for _, n := range cfg.Nodes {
		if n == nil || n.Name() == "" {
			return nil, errors.New("nuker: nil or unnamed node")
		}
		if _, dup := k.byName[n.Name()]; dup {
			return nil, fmt.Errorf("nuker: node %q given twice", n.Name())
		}
		k.byName[n.Name()] = n
		k.nodes = append(k.nodes, n)
	}
	sort.Slice(k.nodes, func(i, j int) bool { return k.nodes[i].Name() < k.nodes[j].Name() })
	for _, n := range k.nodes {
		k.names = append(k.names, n.Name())
	}
	if len(faults) > 0 && len(k.nodes) == 0 {
		return nil, errors.New("nuker: faults need nodes")
	}
	for _, f := range faults {
		switch f {
		case FaultKill, FaultPause:
			if cfg.Target == nil {
				return nil, fmt.Errorf("nuker: fault %s needs a Target", f)
			}
		case FaultPartition:
			if k.partitions, err = k.choosePartitions(cfg.Partitions); err != nil {
				return nil, err
			}
		case FaultFailover:
			if _, ok := cfg.Target.(Failoverer); !ok {
				return nil, fmt.Errorf("nuker: fault %s: the target cannot fail over on purpose", f)
			}
		case FaultClock:
			if err := k.checkClockNodes(); err != nil {
				return nil, err
			}
		}
	}
	for i, r := range cfg.Schedule {
		s, err := k.fromRecorded(r)
		if err != nil {
			return nil, fmt.Errorf("nuker: schedule step %d: %w", i+1, err)
		}
		k.replay = append(k.replay, s)
	}
	return k, nil
}

// choosePartitions validates the requested partition kinds against the
// cluster size, or picks the applicable defaults.
func (k *Nuker) choosePartitions(want []string) ([]string, error) {
	n := len(k.nodes)
	if n < 2 {
		return nil, fmt.Errorf("nuker: a partition needs at least 2 nodes, have %d", n)
	}
	explicit := len(want) > 0
	if !explicit {
		want = DefaultPartitions()
	}
	var out []string
	for _, kind := range grudgeKinds() {
		if !slices.Contains(want, kind.Name) {
			continue
		}
		if kind.Name == PartitionPrimaries {
			if _, ok := k.target.(PrimaryLister); !ok {
				if explicit {
					return nil, fmt.Errorf("nuker: partition %q: the target cannot name its primaries", kind.Name)
				}
				continue
			}
		}
		if n < kind.minNodes {
			if explicit {
				return nil, fmt.Errorf("nuker: partition %q needs at least %d nodes, have %d", kind.Name, kind.minNodes, n)
			}
			continue
		}
		out = append(out, kind.Name)
	}
	for _, w := range want {
		if !known(KnownPartitions(), w) {
			return nil, fmt.Errorf("nuker: unknown partition %q (known: %s)", w, names(KnownPartitions()))
		}
	}
	return out, nil
}

// Faults returns the fault set the schedule draws from, in canonical order.
func (k *Nuker) Faults() []string { return slices.Clone(k.faults) }

// Run runs the schedule until ctx is done: wait an interval, start one
// random fault, wait an interval, stop it, repeat. When ctx is done it
// undoes whatever is in effect, with a fresh context bounded by the heal
// timeout, and returns the error of that undo (nil when everything was
// healed). Failed injections are recorded in the history and logged, not
// returned. Run must not be called more than once at a time.
func (k *Nuker) Run(ctx context.Context) error {
	// Meanwhile the first interval passes; the first fault waits for it
	// (both hold k.mu).
	go k.prepareClocks(ctx)
	for len(k.faults) > 0 {
		if !sleep(ctx, k.interval) {
			break
		}
		s := k.next()
		k.start(ctx, s)
		if !sleep(ctx, k.interval) {
			break
		}
		// Stopping must finish even if ctx ends meanwhile.
		hctx, cancel := k.healContext(ctx)
		_ = k.stop(hctx, s) // recorded and logged; the schedule goes on
		cancel()
	}
	return k.HealAll(ctx)
}

// HealAll undoes every fault in effect, newest first, recording each stop,
// then removes faultline's partition chain from every node whether or not
// anything is known to be there (leftovers of an earlier controller). It
// ignores ctx's cancellation, keeping only its values: healing must happen
// also after Ctrl-C; it is bounded by the heal timeout instead. A fault Run
// starts after HealAll has begun is left to Run: cancel Run's context to
// end the schedule (Run then heals on its own way out).
func (k *Nuker) HealAll(ctx context.Context) error {
	ctx, cancel := k.healContext(ctx)
	defer cancel()
	k.mu.Lock()
	active := slices.Clone(k.active)
	k.mu.Unlock()
	var errs []error
	for _, s := range slices.Backward(active) {
		errs = append(errs, k.stop(ctx, s))
	}
	if len(k.nodes) > 0 {
		if err := RemovePartitions(ctx, k.nodes); err != nil {
			errs = append(errs, err)
		}
	}
	k.mu.Lock()
	errs = append(errs, k.resetClocks(ctx)) // bumps outlive their step
	k.mu.Unlock()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("nuker: heal: %w", err)
	}
	return nil
}

// healContext is a context for undoing faults: not cancelled with parent,
// bounded by the heal timeout.
func (k *Nuker) healContext(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(parent), k.healTimeout)
}

// next draws the next step from the seeded source; it is the only place the
// schedule consumes randomness.
func (k *Nuker) next() *step {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.replay) > 0 {
		s := k.replay[0]
		k.replay = k.replay[1:]
		return s
	}
	s := &step{fault: k.faults[k.rand.IntN(len(k.faults))]}
	switch s.fault {
	case FaultPartition:
		s.partition = k.partitions[k.rand.IntN(len(k.partitions))]
		if s.partition == PartitionPrimaries {
			break // drawn at start: who is primary is known only then
		}
		g, err := MakeGrudge(s.partition, k.rand, k.names)
		if err != nil {
			panic("nuker: partitions were validated: " + err.Error())
		}
		s.grudge = g
		s.nodes = g.Nodes()
	case FaultKill, FaultPause:
		choices := subsetChoices(s.fault, len(k.names))
		c := choices[k.rand.IntN(len(choices))]
		s.targets = c.name
		s.nodes = shuffled(k.rand, k.names)[:c.size]
		sort.Strings(s.nodes)
	case FaultClock:
		k.drawClock(s)
	}
	return s
}

// subset is a named way to choose how many nodes a kill or pause hits.
type subset struct {
	name string
	size int
}

// subsetChoices lists the node subsets for fault on n nodes. Kill also hits
// all nodes (recovery from a full crash); pausing all would only stall the
// clients. Choices of equal size are kept once, under the first name.
func subsetChoices(fault string, n int) []subset {
	all := []subset{{"one", 1}, {"minority", (n - 1) / 2}, {"majority", majority(n)}}
	if fault == FaultKill || fault == FaultClock {
		all = append(all, subset{"all", n})
	}
	var out []subset
	seen := map[int]bool{}
	for _, c := range all {
		if c.size < 1 || c.size > n || seen[c.size] {
			continue
		}
		seen[c.size] = true
		out = append(out, c)
	}
	return out
}

// start injects s and records it. s counts as active from the moment it
// is invoked: a failed or cancelled injection may still have done harm.
func (k *Nuker) start(ctx context.Context, s *step) {
	k.mu.Lock()
	defer k.mu.Unlock()
	f := history.StartPrefix + s.fault
	var lookupErr error
	if s.fault == FaultPartition && s.grudge == nil {
		lookupErr = k.resolvePrimaries(ctx, s)
	}
	if s.fault == FaultClock {
		k.recordClockOffsets(ctx) // before
	}
	k.emit(history.Invoke, f, s.nodes, s.describe(), nil)
	k.active = append(k.active, s)
	k.log.Info("nuker: starting fault", s.logAttrs()...)
	var (
		value  any
		err    error
		failed []string // where it did not take effect, when err is set
	)
	switch s.fault {
	case FaultPartition:
		if lookupErr != nil {
			err = lookupErr
			break
		}
		var applied []string
		applied, err = ApplyGrudge(ctx, k.nodes, s.grudge)
		value = s.grudge.only(applied)
		failed = missing(k.names, applied)
	case FaultKill:
		var done []string
		done, err = k.onNodes(ctx, s.nodes, k.target.Kill)
		value, failed = done, missing(s.nodes, done)
	case FaultPause:
		var done []string
		done, err = k.onNodes(ctx, s.nodes, k.target.Pause)
		value, failed = done, missing(s.nodes, done)
	case FaultFailover:
		var what string
		s.nodes, what, err = k.target.(Failoverer).Failover(ctx)
		slices.Sort(s.nodes)
		value, failed = what, s.nodes
	case FaultClock:
		value, failed, err = k.startClock(ctx, s)
	}
	if err == nil {
		failed = nil
	} else if ctx.Err() != nil {
		// The run ended meanwhile: the injection was cut short, which says
		// nothing about its mechanism (history.StartOutcome: unfinished).
		err, failed = fmt.Errorf("%s%w", history.CutShort, err), nil
	}
	k.emit(history.Info, f, s.nodes, value, err, failed...)
	if err != nil {
		k.log.Warn("nuker: fault partly or not injected", "fault", s.fault, "err", err)
	}
	if s.fault == FaultClock {
		k.recordClockOffsets(ctx) // during
	}
}

// stop undoes s if it is still active and records it; stopping a step that
// was already undone (by a concurrent HealAll) does nothing.
func (k *Nuker) stop(ctx context.Context, s *step) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	i := slices.Index(k.active, s)
	if i < 0 {
		return nil
	}
	k.active = slices.Delete(k.active, i, i+1)
	f := history.StopPrefix + s.fault
	var (
		about any = nonNil(s.nodes)
		value any
		err   error
	)
	if s.fault == FaultPartition {
		about = s.grudge
	}
	k.emit(history.Invoke, f, s.nodes, about, nil)
	switch s.fault {
	case FaultPartition:
		// Flush on every node, not only the grudge's: cheap, idempotent, and
		// it also clears what a partly failed injection left.
		var healed []string
		healed, err = HealPartition(ctx, k.nodes)
		value = nonNil(healed)
	case FaultKill:
		var started []string
		started, err = k.onNodes(ctx, s.nodes, k.target.Start)
		value = started
		// A restarted process has a fresh vDSO: skew it again.
		err = errors.Join(err, k.reapplyClocks(ctx, started))
	case FaultPause:
		value, err = k.onNodes(ctx, s.nodes, k.target.Resume)
	case FaultFailover:
		value, err = k.target.(Failoverer).EndFailover(ctx)
		err = errors.Join(err, k.reapplyClocks(ctx, s.nodes))
	case FaultClock:
		value, err = k.stopClock(ctx, s)
	}
	k.emit(history.Info, f, s.nodes, value, err)
	if s.fault == FaultClock {
		k.recordClockOffsets(ctx) // after
	}
	if err != nil {
		k.log.Error("nuker: fault not fully healed", "fault", s.fault, "nodes", s.nodes, "err", err)
		return fmt.Errorf("stop %s: %w", s.fault, err)
	}
	k.log.Info("nuker: fault stopped", "fault", s.fault, "nodes", s.nodes)
	return nil
}

// resolvePrimaries fills in the grudge of a "primaries" partition: the
// target's current primaries cut off from every other node. With no
// primary known, the grudge stays empty and the error says why.
func (k *Nuker) resolvePrimaries(ctx context.Context, s *step) error {
	pl, ok := k.target.(PrimaryLister)
	if !ok {
		return errors.New("the target cannot name its primaries")
	}
	prim, err := pl.Primaries(ctx)
	if err != nil {
		return fmt.Errorf("finding the primaries: %w", err)
	}
	var in, out []string
	for _, n := range k.names {
		if slices.Contains(prim, n) {
			in = append(in, n)
		} else {
			out = append(out, n)
		}
	}
	if len(in) == 0 || len(out) == 0 {
		return fmt.Errorf("no partition to make: primaries %v of nodes %v", prim, k.names)
	}
	s.grudge = Complete(in, out)
	s.nodes = s.grudge.Nodes()
	return nil
}

// onNodes runs a Target method on the named nodes in parallel and returns
// the names where it succeeded.
func (k *Nuker) onNodes(ctx context.Context, names []string, f func(context.Context, node.Node) error) ([]string, error) {
	nodes := make([]node.Node, len(names))
	for i, name := range names {
		nodes[i] = k.byName[name]
	}
	ok, err := onEach(ctx, nodes, func(ctx context.Context, n node.Node) error {
		if err := f(ctx, n); err != nil {
			return fmt.Errorf("%s: %w", n.Name(), err)
		}
		return nil
	})
	return nonNil(ok), err
}

// emit records one nuker op; failed are the nodes where it did not take
// effect (history.StartOutcome reads them).
func (k *Nuker) emit(typ history.Type, f string, nodes []string, value any, err error, failed ...string) {
	op := history.Op{Type: typ, Process: history.Nuker, F: f, Nodes: slices.Clone(nodes), Value: value, Failed: failed}
	if err != nil {
		op.Error = err.Error()
	}
	k.record(op)
}

// logAttrs describes s for the log.
func (s *step) logAttrs() []any {
	attrs := []any{"fault", s.fault, "nodes", s.nodes}
	if s.fault == FaultPartition {
		return append(attrs, "partition", s.partition, "grudge", s.grudge)
	}
	if s.clock != nil {
		attrs = append(attrs, "clock", s.clock.Kind, "offsets_ms", s.clock.OffsetsMS)
	}
	return append(attrs, "targets", s.targets)
}

// describe is the invoke value of a start.
func (s *step) describe() any {
	switch s.fault {
	case FaultPartition:
		return map[string]any{"partition": s.partition, "grudge": s.grudge}
	case FaultFailover:
		return map[string]any{}
	case FaultClock:
		return map[string]any{"targets": s.targets, "nodes": nonNil(s.nodes), "clock": s.clock}
	}
	return map[string]any{"targets": s.targets, "nodes": nonNil(s.nodes)}
}

// only returns the part of g whose dropping nodes are among names.
func (g Grudge) only(names []string) Grudge {
	out := Grudge{}
	for a, bs := range g {
		if slices.Contains(names, a) {
			out[a] = slices.Clone(bs)
		}
	}
	return out
}

// missing returns the names in want that are not in got, sorted.
func missing(want, got []string) []string {
	var out []string
	for _, n := range want {
		if !slices.Contains(got, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// nonNil makes an empty list record as [] rather than null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// sleep waits d or until ctx is done, reporting whether the full wait
// happened.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
