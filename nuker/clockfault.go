package nuker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/models/history"
)

// Clock fault kinds: what a "clock" step does to the wall clock its nodes'
// target processes see (node.Clock). The host's clock never moves.
const (
	// ClockBump jumps each chosen node's clock by its own offset, from
	// milliseconds to minutes either way. The jump stays after the fault's
	// stop, as Jepsen's bumps do: clocks drift apart until a reset (or the
	// final heal).
	ClockBump = "bump"
	// ClockStrobe flips each chosen node's clock between its offset and the
	// offset plus a delta every period, for the fault's interval.
	ClockStrobe = "strobe"
	// ClockSkew holds each chosen node at a fixed offset for the fault's
	// interval; its stop gives the nodes the true clock back.
	ClockSkew = "skew"
	// ClockReset gives every node the true clock back.
	ClockReset = "reset"
)

// ClockKinds lists the clock fault kinds in drawing order.
func ClockKinds() []string { return []string{ClockBump, ClockStrobe, ClockSkew, ClockReset} }

// ClockPlan is what one clock step does, drawn in full before it runs and
// recorded in its start invocation (key "clock"), so a replay repeats it.
// Offsets are whole milliseconds.
type ClockPlan struct {
	Kind string `json:"kind"`
	// OffsetsMS per node: bump, the jump; skew, the offset held; strobe,
	// the delta flipped to and from.
	OffsetsMS map[string]int64 `json:"offsets_ms,omitempty"`
	// PeriodMS is the strobe's flip period.
	PeriodMS int64 `json:"period_ms,omitempty"`
}

// clockMagnitudes are the sizes of drawn offsets: milliseconds to minutes.
func clockMagnitudes() []time.Duration {
	return []time.Duration{
		5 * time.Millisecond, 50 * time.Millisecond, 250 * time.Millisecond, time.Second,
		5 * time.Second, 30 * time.Second, 2 * time.Minute, 5 * time.Minute,
	}
}

// clockPeriods are the strobe periods drawn.
func clockPeriods() []time.Duration {
	return []time.Duration{10 * time.Millisecond, 100 * time.Millisecond, time.Second}
}

// maxClockOffset bounds a node's offset under repeated bumps: a bump that
// would pass it goes the other way.
const maxClockOffset = 15 * time.Minute

// clockState is the nuker's side of the clock fault: the offset each node
// should have (also across restarts of its process) and a strobe in
// progress. It is guarded by Nuker.mu.
type clockState struct {
	offsets map[string]time.Duration
	strobe  *strobeRun
	// dirty is set once any offset was applied: the final heal resets
	// clocks only then.
	dirty bool
}

// strobeRun is a strobe flipped from the controller, for nodes that cannot
// strobe on their own side (not a node.ClockStrober).
type strobeRun struct {
	cancel context.CancelFunc
	done   chan struct{}
	flips  int
	err    error
}

// checkClockNodes says which nodes cannot be skewed at all.
func (k *Nuker) checkClockNodes() error {
	for _, n := range k.nodes {
		if _, ok := n.(node.Clock); !ok {
			return fmt.Errorf("nuker: fault %s: node %s (%T) cannot skew clocks (no node.Clock)", FaultClock, n.Name(), n)
		}
	}
	k.clock.offsets = map[string]time.Duration{}
	return nil
}

// drawClock draws a clock step: kind (kindPin when set), nodes and
// offsets, from r only.
func (k *Nuker) drawClock(r *rand.Rand, kindPin string) Step {
	s := Step{Fault: FaultClock}
	kinds := ClockKinds()
	plan := &ClockPlan{Kind: kindPin}
	if plan.Kind == "" {
		plan.Kind = kinds[r.IntN(len(kinds))]
	}
	if plan.Kind == ClockReset {
		s.Targets, s.Nodes = TargetsAll, slices.Clone(k.names)
		s.Clock = plan
		return s
	}
	choices := subsetChoices(len(k.names), true)
	c := choices[r.IntN(len(choices))]
	s.Targets = c.name
	s.Nodes = shuffled(r, k.names)[:c.size]
	sort.Strings(s.Nodes)
	mags := clockMagnitudes()
	plan.OffsetsMS = map[string]int64{}
	for _, n := range s.Nodes {
		d := mags[r.IntN(len(mags))]
		if r.IntN(2) == 0 {
			d = -d
		}
		plan.OffsetsMS[n] = d.Milliseconds()
	}
	if plan.Kind == ClockStrobe {
		ps := clockPeriods()
		plan.PeriodMS = ps[r.IntN(len(ps))].Milliseconds()
	}
	s.Clock = plan
	return s
}

// clockOf returns n's node.Clock (checked in New).
func (k *Nuker) clockOf(name string) node.Clock {
	c, _ := k.byName[name].(node.Clock)
	return c
}

// startClock applies s's plan and returns the offsets now intended per
// node (ms) as the start's value, and the nodes where it failed. Called
// with k.mu held.
func (k *Nuker) startClock(ctx context.Context, s *Step) (any, []string, error) {
	p := s.Clock
	if p == nil {
		return nil, s.Nodes, errors.New("clock step without a plan")
	}
	k.endStrobe()
	want := map[string]time.Duration{}
	switch p.Kind {
	case ClockBump:
		for _, n := range s.Nodes {
			d := time.Duration(p.OffsetsMS[n]) * time.Millisecond
			next := k.clock.offsets[n] + d
			if next > maxClockOffset || next < -maxClockOffset {
				next = k.clock.offsets[n] - d
			}
			want[n] = next
		}
	case ClockSkew:
		for _, n := range s.Nodes {
			want[n] = time.Duration(p.OffsetsMS[n]) * time.Millisecond
		}
	case ClockReset:
		for _, n := range s.Nodes {
			want[n] = 0
		}
	case ClockStrobe:
		return k.startStrobe(ctx, s)
	default:
		return nil, s.Nodes, fmt.Errorf("unknown clock kind %q", p.Kind)
	}
	maps.Copy(k.clock.offsets, want)
	set, err := k.setClocks(ctx, want)
	return set, missing(s.Nodes, slices.Collect(maps.Keys(set))), err
}

// stopClock ends s: a skew and a strobe give their nodes the offsets they
// had before; a bump and a reset leave the clocks as they are. Called with
// k.mu held.
func (k *Nuker) stopClock(ctx context.Context, s *Step) (any, error) {
	if s.Clock == nil {
		return nil, nil
	}
	switch s.Clock.Kind {
	case ClockSkew:
		want := map[string]time.Duration{}
		for _, n := range s.Nodes {
			want[n] = 0
		}
		maps.Copy(k.clock.offsets, want)
		return k.setClocks(ctx, want)
	case ClockStrobe:
		flips, serr := k.endStrobe()
		want := map[string]time.Duration{}
		for _, n := range s.Nodes {
			want[n] = k.clock.offsets[n]
		}
		v, err := k.setClocks(ctx, want)
		if flips > 0 {
			return map[string]any{"offsets_ms": v, "flips": flips}, errors.Join(serr, err)
		}
		return v, errors.Join(serr, err)
	}
	return msMap(k.clock.offsets, s.Nodes), nil
}

// startStrobe flips each node between its offset and offset+delta: on the
// node's side when it can (node.ClockStrober), else from here.
func (k *Nuker) startStrobe(ctx context.Context, s *Step) (any, []string, error) {
	period := time.Duration(s.Clock.PeriodMS) * time.Millisecond
	if period <= 0 {
		return nil, s.Nodes, errors.New("strobe without a period")
	}
	// The nodes are put back at stop; the strobe's own end is a safety net
	// for a stop that never comes.
	length := k.interval + k.healTimeout
	k.clock.dirty = true
	var fallback []string
	var errs []error
	var failed []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range s.Nodes {
		cs, ok := k.clockOf(n).(node.ClockStrober)
		if !ok {
			fallback = append(fallback, n)
			continue
		}
		base := k.clock.offsets[n]
		delta := time.Duration(s.Clock.OffsetsMS[n]) * time.Millisecond
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := cs.StrobeClock(ctx, base, base+delta, period, length); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", n, err))
				failed = append(failed, n)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(fallback) > 0 {
		k.strobeFromHere(fallback, s.Clock, period)
	}
	base := map[string]time.Duration{}
	for _, n := range s.Nodes {
		base[n] = k.clock.offsets[n] // zero when never set
	}
	return map[string]any{"strobe_ms": msMap(deltas(s.Clock), s.Nodes), "base_ms": msMap(base, s.Nodes), "period_ms": s.Clock.PeriodMS}, failed, errors.Join(errs...)
}

// strobeFromHere flips the nodes with SetClockOffset calls until the
// strobe is ended; each flip is as slow as the node's SetClockOffset.
func (k *Nuker) strobeFromHere(names []string, p *ClockPlan, period time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	run := &strobeRun{cancel: cancel, done: make(chan struct{})}
	base := map[string]time.Duration{}
	for _, n := range names {
		base[n] = k.clock.offsets[n]
	}
	go func() {
		defer close(run.done)
		tick := time.NewTicker(period)
		defer tick.Stop()
		on := false
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			on = !on
			want := map[string]time.Duration{}
			for _, n := range names {
				want[n] = base[n]
				if on {
					want[n] += time.Duration(p.OffsetsMS[n]) * time.Millisecond
				}
			}
			if _, err := k.applyClocks(ctx, want); err != nil && run.err == nil && ctx.Err() == nil {
				run.err = err
			}
			run.flips++
		}
	}()
	k.clock.strobe = run
}

// endStrobe stops a strobe flipped from here, if any, and returns its flips
// and first error.
func (k *Nuker) endStrobe() (int, error) {
	run := k.clock.strobe
	if run == nil {
		return 0, nil
	}
	k.clock.strobe = nil
	run.cancel()
	<-run.done
	return run.flips, run.err
}

// setClocks sets the offsets in parallel and returns those set (ms).
// Called with k.mu held.
func (k *Nuker) setClocks(ctx context.Context, want map[string]time.Duration) (map[string]int64, error) {
	k.clock.dirty = true
	return k.applyClocks(ctx, want)
}

// applyClocks is setClocks for the strobe goroutine, which holds no lock.
func (k *Nuker) applyClocks(ctx context.Context, want map[string]time.Duration) (map[string]int64, error) {
	names := slices.Sorted(maps.Keys(want))
	nodes := make([]node.Node, len(names))
	for i, n := range names {
		nodes[i] = k.byName[n]
	}
	ok, err := onEach(ctx, nodes, func(ctx context.Context, n node.Node) error {
		if err := k.clockOf(n.Name()).SetClockOffset(ctx, want[n.Name()]); err != nil {
			return fmt.Errorf("%s: %w", n.Name(), err)
		}
		return nil
	})
	return msMap(want, ok), err
}

// reapplyClocks gives restarted nodes their offsets back (a restarted
// process has a fresh vDSO). Called with k.mu held, after Target.Start.
func (k *Nuker) reapplyClocks(ctx context.Context, names []string) error {
	if k.clock.offsets == nil {
		return nil
	}
	want := map[string]time.Duration{}
	for _, n := range names {
		if d := k.clock.offsets[n]; d != 0 {
			want[n] = d
		}
	}
	if len(want) == 0 {
		return nil
	}
	_, err := k.setClocks(ctx, want)
	if err != nil {
		return fmt.Errorf("re-skewing restarted nodes: %w", err)
	}
	k.log.Info("nuker: clock offsets re-applied after restart", "offsets", msMap(want, names))
	return nil
}

// resetClocks gives every node the true clock back (the final heal) and
// records the offsets read afterwards. Called with k.mu held.
func (k *Nuker) resetClocks(ctx context.Context) error {
	if k.clock.offsets == nil || !k.clock.dirty {
		return nil
	}
	_, serr := k.endStrobe()
	want := map[string]time.Duration{}
	for _, n := range k.names {
		want[n] = 0
	}
	clear(k.clock.offsets)
	_, err := k.setClocks(ctx, want)
	k.recordClockOffsets(ctx)
	if err == nil {
		k.clock.dirty = false
	}
	if err := errors.Join(serr, err); err != nil {
		return fmt.Errorf("reset clocks: %w", err)
	}
	return nil
}

// recordClockOffsets reads the offset every node's target process sees and
// records it as an info op history.ClockOffsetsF: Value {node: ms} (a
// float, sub-millisecond offsets show), Nodes the nodes read, Error what
// could not be read. Called before, during and after each clock fault.
func (k *Nuker) recordClockOffsets(ctx context.Context) {
	if k.clock.offsets == nil {
		return
	}
	var mu sync.Mutex
	got := map[string]float64{}
	_, err := onEach(ctx, k.nodes, func(ctx context.Context, n node.Node) error {
		d, err := k.clockOf(n.Name()).ClockOffset(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", n.Name(), err)
		}
		mu.Lock()
		got[n.Name()] = float64(d) / float64(time.Millisecond)
		mu.Unlock()
		return nil
	})
	k.emit(history.Info, history.ClockOffsetsF, slices.Sorted(maps.Keys(got)), got, err)
}

// deltas is a plan's offsets as durations.
func deltas(p *ClockPlan) map[string]time.Duration {
	out := map[string]time.Duration{}
	for n, ms := range p.OffsetsMS {
		out[n] = time.Duration(ms) * time.Millisecond
	}
	return out
}

// msMap is m restricted to names, in whole milliseconds.
func msMap(m map[string]time.Duration, names []string) map[string]int64 {
	out := map[string]int64{}
	for _, n := range names {
		if d, ok := m[n]; ok {
			out[n] = d.Milliseconds()
		}
	}
	return out
}
