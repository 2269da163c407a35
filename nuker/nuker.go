// Package nuker injects faults into a test cluster, as Jepsen's nemesis
// does: network partitions (grudges applied with iptables in each node's
// network namespace), crashes (kill and restart of the target's process)
// and pauses (SIGSTOP and SIGCONT). It knows nodes only through the node
// runtime interface (package harness/node) and targets only through the
// Target interface, so it works the same on Docker and on real machines.
//
// Each fault kind is a value (Kind, one file each: kind_*.go); the nuker
// schedules kinds and knows none by name. A Nuker runs a Plan: lanes that
// run at once, each a loop of quiet period, one fault drawn by weight (or a
// sequence of faults that overlap), its interval, and the stop; by default
// one lane draws from the whole fault set, one fault at a time. When its
// context is done everything it did is undone. Every choice (which fault,
// which partition, which nodes, jittered waits) is drawn from a seeded
// random source per lane and from nothing else, so a seed and a plan
// replay the same faults.
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
//	packet:    start invoke {"packet": PacketPlan, "nodes": [nodes], "targets": subset (rate)}, start info
//	           the plan in words ("loss 20% n1->n2"), stop invoke PacketPlan, stop info [nodes undone]
//	power:     as kill ([nodes whose power failed], [restarted nodes])
//	disk-full, disk-error, slow-disk:
//	           start invoke {"targets": ..., "nodes": [nodes], "disk": DiskPlan}, start info the plan
//	           in words ("eio-fsync on n1,n3"), stop invoke [nodes], stop info [nodes switched off]
//	corrupt:   start invoke as disk-full's, start info {node: [{"file", "offset", "old", "new"} or
//	           {"file", "offset", "cut"}]} (each change as the filesystem made it), stop invoke
//	           [nodes], stop info [restarted nodes]
//
// A start's invoke value also holds "lane": n for faults of a plan's
// second and later lanes. Completions are of type info because a fault's
// effect is never certain.
package nuker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
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
	// Plan is the schedule's shape; nil means one lane drawing from Faults
	// one at a time (ScheduleAlternate). The faults it names join Faults.
	Plan *Plan
	// Schedule, when set, is played first, step by step, instead of drawing
	// (a replay; see ScheduleFromHistory): each lane plays the recorded
	// steps of its own; once they are used up, further steps are drawn from
	// the seed.
	Schedule []Step
}

// Nuker injects faults on a schedule and undoes them. Its methods are safe
// for concurrent use: HealAll may be called while Run is going.
type Nuker struct {
	faults      []string
	kinds       []Kind // of faults, in the order of Kinds
	partitions  []string
	interval    time.Duration // the longest lane interval
	healTimeout time.Duration
	rand        *rand.Rand
	nodes       []node.Node // sorted by name
	names       []string    // sorted
	byName      map[string]node.Node
	target      Target
	record      Recorder
	log         *slog.Logger
	lanes       []*lane

	// mu serializes injections and undos and guards active.
	mu     sync.Mutex
	active []*step
	clock  clockState
}

// step is one fault of the schedule with its kind, every choice drawn
// before it runs so that failures cannot change what comes next.
type step struct {
	Step
	kind Kind
}

// New checks cfg and returns a Nuker.
func New(cfg Config) (*Nuker, error) {
	faults, err := ParseFaults(strings.Join(cfg.Faults, ","))
	if err != nil {
		return nil, fmt.Errorf("nuker: %w", err)
	}
	k := &Nuker{
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
	plan := cfg.Plan
	if plan == nil {
		p, err := ParsePlan(ScheduleAlternate, faults, k.interval)
		if err != nil {
			return nil, fmt.Errorf("nuker: %w", err)
		}
		plan = &p
	}
	if err := plan.Validate(); err != nil {
		return nil, fmt.Errorf("nuker: schedule %s: %w", plan, err)
	}
	if faults, err = ParseFaults(strings.Join(append(faults, plan.Faults()...), ",")); err != nil {
		return nil, fmt.Errorf("nuker: %w", err)
	}
	k.faults = faults
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
	for _, kind := range Kinds() {
		if !slices.Contains(faults, kind.Name()) {
			continue
		}
		if err := kind.prepare(k, cfg); err != nil {
			return nil, err
		}
		k.kinds = append(k.kinds, kind)
	}
	if err := k.makeLanes(*plan, cfg); err != nil {
		return nil, err
	}
	return k, nil
}

// makeLanes sets up the plan's lanes: defaults, a random source each,
// pinned variants checked against the cluster, and the recorded steps
// each replays.
func (k *Nuker) makeLanes(plan Plan, cfg Config) error {
	kinds := map[string]Kind{}
	for _, kind := range k.kinds {
		kinds[kind.Name()] = kind
	}
	base := k.interval
	for i, pl := range plan.Lanes {
		l := &lane{Lane: pl, index: i, rand: k.rand, kinds: kinds}
		if i > 0 {
			seed := cfg.Seed
			if cfg.Rand != nil {
				seed = k.rand.Uint64()
			}
			l.rand = rand.New(rand.NewPCG(seed, uint64(i)))
		}
		if l.Interval == 0 {
			l.Interval = base
		}
		if l.Quiet == 0 {
			l.Quiet = l.Interval
		}
		k.interval = max(k.interval, l.Interval)
		for _, pk := range append(slices.Clone(l.Mix), l.Seq...) {
			l.total += pk.weight()
			if err := k.checkPinned(pk); err != nil {
				return fmt.Errorf("nuker: lane %d: %w", i+1, err)
			}
		}
		k.lanes = append(k.lanes, l)
	}
	for i, r := range cfg.Schedule {
		if r.Lane < 0 || r.Lane >= len(k.lanes) {
			return fmt.Errorf("nuker: schedule step %d: lane %d, but the plan has %d", i+1, r.Lane, len(k.lanes))
		}
		l := k.lanes[r.Lane]
		if err := k.checkRecorded(r, l); err != nil {
			return fmt.Errorf("nuker: schedule step %d: %w", i+1, err)
		}
		r.Nodes = slices.Clone(r.Nodes)
		slices.Sort(r.Nodes)
		l.replay = append(l.replay, r)
	}
	return nil
}

// checkPinned refuses a pinned variant the cluster cannot do.
func (k *Nuker) checkPinned(pk Pick) error { return checkPinned(pk, k.target, k.names) }

// checkPinned refuses a pinned variant that target on nodes cannot do:
// the kind says, when it has such variants (a pinChecker).
func checkPinned(pk Pick, target Target, nodes []string) error {
	kind, ok := KindOf(pk.Fault)
	if !ok || pk.Variant == "" {
		return nil
	}
	if pc, ok := kind.(pinChecker); ok {
		if err := pc.checkPin(pk.Variant, target, nodes); err != nil {
			return fmt.Errorf("%s: %w", pk, err)
		}
	}
	return nil
}

// Check refuses, before any node exists, a plan that target on a cluster
// of n nodes cannot run: an unknown fault or variant, a variant pinned to
// primaries the target cannot name, a partition the cluster is too small
// for.
func (p Plan) Check(target Target, n int) error {
	if err := p.Validate(); err != nil {
		return err
	}
	nodes := make([]string, n)
	for i := range nodes {
		nodes[i] = fmt.Sprintf("n%d", i+1)
	}
	for _, l := range p.Lanes {
		for _, pk := range append(slices.Clone(l.Mix), l.Seq...) {
			if err := checkPinned(pk, target, nodes); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkRecorded checks that a recorded step fits its lane and this
// cluster.
func (k *Nuker) checkRecorded(r Step, l *lane) error {
	if !slices.ContainsFunc(append(slices.Clone(l.Mix), l.Seq...), func(p Pick) bool { return p.Fault == r.Fault }) {
		return fmt.Errorf("replayed fault %q is not in this run's fault set %v (lane %d)", r.Fault, k.faults, r.Lane+1)
	}
	for _, n := range append(slices.Clone(r.Nodes), r.Grudge.Nodes()...) {
		if _, ok := k.byName[n]; !ok {
			return fmt.Errorf("replayed %s names node %q, not in this cluster", r.Fault, n)
		}
	}
	return nil
}

// Faults returns the fault set the schedule draws from, in canonical order.
func (k *Nuker) Faults() []string { return slices.Clone(k.faults) }

// Run runs the schedule until ctx is done: every lane of the plan at once.
// When ctx is done it undoes whatever is in effect, with a fresh context
// bounded by the heal timeout, and returns the error of that undo (nil
// when everything was healed). Failed injections are recorded in the
// history and logged, not returned. Run must not be called more than once
// at a time.
func (k *Nuker) Run(ctx context.Context) error {
	// Meanwhile the first quiet period passes; the first fault waits for
	// it (both hold k.mu).
	for _, kind := range k.kinds {
		if p, ok := kind.(runPreparer); ok {
			go p.prepareRun(ctx, k)
		}
	}
	k.runLanes(ctx)
	return k.HealAll(ctx)
}

// HealAll undoes every fault in effect, newest first, recording each stop,
// then lets every fault kind remove what may be left whether or not
// anything is known to be there (faultline's partition chain, clock
// offsets). It ignores ctx's cancellation, keeping only its values: healing
// must happen also after Ctrl-C; it is bounded by the heal timeout instead.
// A fault Run starts after HealAll has begun is left to Run: cancel Run's
// context to end the schedule (Run then heals on its own way out).
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
	for _, kind := range Kinds() {
		if h, ok := kind.(finalHealer); ok {
			errs = append(errs, h.finalHeal(ctx, k))
		}
	}
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

// start injects s and records it. s counts as active from the moment it
// is invoked: a failed or cancelled injection may still have done harm.
func (k *Nuker) start(ctx context.Context, s *step) {
	k.mu.Lock()
	defer k.mu.Unlock()
	f := history.StartPrefix + s.Fault
	// Choices that depend on the target's state (who is primary) are made
	// now, before the invocation records them, so a replay repeats them.
	var resolveErr error
	if r, ok := s.kind.(resolver); ok {
		resolveErr = r.resolve(ctx, k, &s.Step)
	}
	obs, _ := s.kind.(observer)
	if obs != nil {
		obs.observe(ctx, k) // before
	}
	k.emit(history.Invoke, f, s.Nodes, s.describe(), nil)
	k.active = append(k.active, s)
	k.log.Info("nuker: starting fault", s.logAttrs()...)
	var (
		value  any
		failed []string // where it did not take effect, when err is set
		err    = resolveErr
	)
	if err == nil {
		value, failed, err = s.kind.start(ctx, k, &s.Step)
	}
	if err == nil {
		failed = nil
	} else if ctx.Err() != nil {
		// The run ended meanwhile: the injection was cut short, which says
		// nothing about its mechanism (history.StartOutcome: unfinished).
		err, failed = fmt.Errorf("%s%w", history.CutShort, err), nil
	}
	k.emit(history.Info, f, s.Nodes, value, err, failed...)
	if err != nil {
		k.log.Warn("nuker: fault partly or not injected", "fault", s.Fault, "err", err)
	}
	if obs != nil {
		obs.observe(ctx, k) // during
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
	f := history.StopPrefix + s.Fault
	k.emit(history.Invoke, f, s.Nodes, s.kind.about(&s.Step), nil)
	value, err := s.kind.stop(ctx, k, &s.Step)
	k.emit(history.Info, f, s.Nodes, value, err)
	if obs, ok := s.kind.(observer); ok {
		obs.observe(ctx, k) // after
	}
	if err != nil {
		k.log.Error("nuker: fault not fully healed", "fault", s.Fault, "nodes", s.Nodes, "err", err)
		return fmt.Errorf("stop %s: %w", s.Fault, err)
	}
	k.log.Info("nuker: fault stopped", "fault", s.Fault, "nodes", s.Nodes)
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

// logAttrs describes s for the log.
func (s *step) logAttrs() []any {
	attrs := []any{"fault", s.Fault, "nodes", s.Nodes}
	for _, key := range slices.Sorted(maps.Keys(s.kind.describe(&s.Step))) {
		if key != "nodes" {
			attrs = append(attrs, key, s.kind.describe(&s.Step)[key])
		}
	}
	if s.Lane > 0 {
		attrs = append(attrs, "lane", s.Lane)
	}
	return attrs
}

// describe is the invoke value of s's start: the kind's, and the lane
// when not the first.
func (s *step) describe() map[string]any {
	v := s.kind.describe(&s.Step)
	if s.Lane > 0 {
		v["lane"] = s.Lane
	}
	return v
}
