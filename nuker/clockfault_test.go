package nuker

import (
	"context"
	"errors"
	"maps"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/models/history"
)

// clockNode is a fakeNode whose daemon has a clock offset; a restart (the
// target's Start) gives it a fresh, true clock.
type clockNode struct {
	*fakeNode
	mu     sync.Mutex
	offset time.Duration
	sets   int
	down   bool // no daemon: SetClockOffset fails
}

var _ node.Clock = (*clockNode)(nil)

func (n *clockNode) SetClockOffset(ctx context.Context, d time.Duration) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.down {
		return node.ErrNoDaemon
	}
	n.offset, n.sets = d, n.sets+1
	return nil
}

func (n *clockNode) ClockOffset(ctx context.Context) (time.Duration, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.down {
		return 0, node.ErrNoDaemon
	}
	return n.offset, nil
}

func (n *clockNode) get() time.Duration {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.offset
}

// clockTarget restarts processes with a true clock.
type clockTarget struct {
	*fakeTarget
	nodes map[string]*clockNode
}

func (t clockTarget) Kill(ctx context.Context, n node.Node) error {
	cn := t.nodes[n.Name()]
	cn.mu.Lock()
	cn.down, cn.offset = true, 0
	cn.mu.Unlock()
	return t.fakeTarget.Kill(ctx, n)
}

func (t clockTarget) Start(ctx context.Context, n node.Node) error {
	cn := t.nodes[n.Name()]
	cn.mu.Lock()
	cn.down, cn.offset = false, 0 // a fresh process: true clock
	cn.mu.Unlock()
	return t.fakeTarget.Start(ctx, n)
}

func clockCluster(count int) ([]*clockNode, []node.Node, clockTarget) {
	var cns []*clockNode
	var ns []node.Node
	t := clockTarget{fakeTarget: newFakeTarget(), nodes: map[string]*clockNode{}}
	for _, f := range fakeNodes(count) {
		cn := &clockNode{fakeNode: f}
		cns = append(cns, cn)
		ns = append(ns, cn)
		t.nodes[f.name] = cn
	}
	return cns, ns, t
}

func offsetsOf(cns []*clockNode) map[string]time.Duration {
	out := map[string]time.Duration{}
	for _, n := range cns {
		out[n.name] = n.get()
	}
	return out
}

func TestClockNeedsClockNodes(t *testing.T) {
	_, err := New(Config{Faults: []string{FaultClock}, Nodes: asNodes(fakeNodes(3))})
	if err == nil || !strings.Contains(err.Error(), "cannot skew clocks") {
		t.Fatalf("New with plain nodes: %v", err)
	}
}

// TestClockKinds plays one step of each kind and checks the offsets the
// nodes have after start and after stop, and what the history says.
func TestClockKinds(t *testing.T) {
	ms := func(m map[string]int64) map[string]int64 { return m }
	for _, tc := range []struct {
		name       string
		before     map[string]time.Duration // offsets set by an earlier bump
		step       Step
		afterStart map[string]time.Duration
		afterStop  map[string]time.Duration
	}{
		{
			name:       "bump stays",
			step:       Step{Fault: FaultClock, Targets: "minority", Nodes: []string{"n1", "n3"}, Clock: &ClockPlan{Kind: ClockBump, OffsetsMS: ms(map[string]int64{"n1": 1500, "n3": -300000})}},
			afterStart: map[string]time.Duration{"n1": 1500 * time.Millisecond, "n2": 0, "n3": -5 * time.Minute},
			afterStop:  map[string]time.Duration{"n1": 1500 * time.Millisecond, "n2": 0, "n3": -5 * time.Minute},
		},
		{
			name:       "bump adds up, reversed past the bound",
			before:     map[string]time.Duration{"n1": 13 * time.Minute, "n2": time.Second},
			step:       Step{Fault: FaultClock, Targets: "majority", Nodes: []string{"n1", "n2"}, Clock: &ClockPlan{Kind: ClockBump, OffsetsMS: ms(map[string]int64{"n1": 300000, "n2": 5})}},
			afterStart: map[string]time.Duration{"n1": 8 * time.Minute, "n2": time.Second + 5*time.Millisecond, "n3": 0},
			afterStop:  map[string]time.Duration{"n1": 8 * time.Minute, "n2": time.Second + 5*time.Millisecond, "n3": 0},
		},
		{
			name:       "skew held, then true",
			step:       Step{Fault: FaultClock, Targets: "one", Nodes: []string{"n2"}, Clock: &ClockPlan{Kind: ClockSkew, OffsetsMS: ms(map[string]int64{"n2": -30000})}},
			afterStart: map[string]time.Duration{"n1": 0, "n2": -30 * time.Second, "n3": 0},
			afterStop:  map[string]time.Duration{"n1": 0, "n2": 0, "n3": 0},
		},
		{
			name:       "reset",
			before:     map[string]time.Duration{"n1": time.Minute, "n3": -time.Second},
			step:       Step{Fault: FaultClock, Targets: "all", Nodes: []string{"n1", "n2", "n3"}, Clock: &ClockPlan{Kind: ClockReset}},
			afterStart: map[string]time.Duration{"n1": 0, "n2": 0, "n3": 0},
			afterStop:  map[string]time.Duration{"n1": 0, "n2": 0, "n3": 0},
		},
		{
			name:      "strobe from the controller ends at the base",
			before:    map[string]time.Duration{"n1": time.Second},
			step:      Step{Fault: FaultClock, Targets: "one", Nodes: []string{"n1"}, Clock: &ClockPlan{Kind: ClockStrobe, OffsetsMS: ms(map[string]int64{"n1": 2000}), PeriodMS: 5}},
			afterStop: map[string]time.Duration{"n1": time.Second, "n2": 0, "n3": 0},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cns, ns, target := clockCluster(3)
			rec := &recorder{}
			k, err := New(Config{Faults: []string{FaultClock}, Nodes: ns, Target: target, Record: rec.record, Schedule: []Step{tc.step}})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			for n, d := range tc.before {
				k.clock.offsets[n] = d
				if err := k.clockOf(n).SetClockOffset(ctx, d); err != nil {
					t.Fatal(err)
				}
			}
			s := k.next()
			k.start(ctx, s)
			if tc.afterStart != nil && !maps.Equal(offsetsOf(cns), tc.afterStart) {
				t.Errorf("after start: %v, want %v", offsetsOf(cns), tc.afterStart)
			}
			if tc.step.Clock.Kind == ClockStrobe {
				time.Sleep(60 * time.Millisecond)
				cns[0].mu.Lock()
				sets := cns[0].sets
				cns[0].mu.Unlock()
				if sets < 3 {
					t.Errorf("strobe flipped %d times in 60 ms at 5 ms", sets)
				}
			}
			if err := k.stop(ctx, s); err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(offsetsOf(cns), tc.afterStop) {
				t.Errorf("after stop: %v, want %v", offsetsOf(cns), tc.afterStop)
			}
			// History: readings before, during and after; start and
			// stop ops with the plan.
			var fs []string
			var last history.Op
			for _, op := range rec.history() {
				fs = append(fs, string(op.Type)+" "+op.F)
				if op.F == history.ClockOffsetsF {
					last = op
				}
			}
			want := []string{"info clock-offsets", "invoke start-clock", "info start-clock", "info clock-offsets",
				"invoke stop-clock", "info stop-clock", "info clock-offsets"}
			if !reflect.DeepEqual(fs, want) {
				t.Errorf("history %v, want %v", fs, want)
			}
			got := last.Value.(map[string]float64)
			for n, d := range tc.afterStop {
				if got[n] != float64(d)/1e6 {
					t.Errorf("last clock-offsets %v, want %v", got, tc.afterStop)
				}
			}
			sched, err := ScheduleFromHistory(rec.history())
			if err != nil || len(sched) != 1 || !reflect.DeepEqual(sched[0].Clock.OffsetsMS, tc.step.Clock.OffsetsMS) || sched[0].Clock.Kind != tc.step.Clock.Kind {
				t.Errorf("schedule read back: %+v %v", sched, err)
			}
			// The final heal gives everyone the true clock.
			if err := k.HealAll(ctx); err != nil {
				t.Fatal(err)
			}
			for n, d := range offsetsOf(cns) {
				if d != 0 {
					t.Errorf("after HealAll %s at %v", n, d)
				}
			}
		})
	}
}

// TestClockReappliedAfterRestart: a killed and restarted process gets the
// node's offset again.
func TestClockReappliedAfterRestart(t *testing.T) {
	cns, ns, target := clockCluster(3)
	rec := &recorder{}
	sched := []Step{
		{Fault: FaultClock, Targets: "all", Nodes: []string{"n1", "n2", "n3"}, Clock: &ClockPlan{Kind: ClockBump, OffsetsMS: map[string]int64{"n1": 1000, "n2": -2000, "n3": 50}}},
		{Fault: FaultKill, Targets: "majority", Nodes: []string{"n1", "n2"}},
	}
	k, err := New(Config{Faults: []string{FaultClock, FaultKill}, Nodes: ns, Target: target, Record: rec.record, Schedule: sched})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range sched {
		s := k.next()
		k.start(ctx, s)
		if err := k.stop(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]time.Duration{"n1": time.Second, "n2": -2 * time.Second, "n3": 50 * time.Millisecond}
	if got := offsetsOf(cns); !maps.Equal(got, want) {
		t.Errorf("after kill and restart: %v, want %v", got, want)
	}
}

// TestClockDraw: the same seed draws the same clock steps; every kind and
// subset turns up; offsets are between 5 ms and 5 min.
func TestClockDraw(t *testing.T) {
	draw := func(seed uint64) []*step {
		_, ns, target := clockCluster(5)
		k, err := New(Config{Faults: []string{FaultClock}, Nodes: ns, Target: target, Rand: rand.New(rand.NewPCG(seed, 0))})
		if err != nil {
			t.Fatal(err)
		}
		var out []*step
		for range 200 {
			out = append(out, k.next())
		}
		return out
	}
	a, b := draw(7), draw(7)
	kinds, targets := map[string]bool{}, map[string]bool{}
	for i := range a {
		if !reflect.DeepEqual(a[i], b[i]) {
			t.Fatalf("step %d differs for one seed: %+v vs %+v", i, a[i], b[i])
		}
		kinds[a[i].Clock.Kind] = true
		targets[a[i].Targets] = true
		for _, ms := range a[i].Clock.OffsetsMS {
			if d := time.Duration(max(ms, -ms)) * time.Millisecond; d < 5*time.Millisecond || d > 5*time.Minute {
				t.Errorf("offset %v out of range", d)
			}
		}
	}
	if len(kinds) != 4 || len(targets) != 4 {
		t.Errorf("kinds %v, targets %v", kinds, targets)
	}
}

// TestClockFailureSaid: a node without its process says so in the history.
func TestClockFailureSaid(t *testing.T) {
	cns, ns, target := clockCluster(3)
	cns[1].down = true
	rec := &recorder{}
	k, err := New(Config{Faults: []string{FaultClock}, Nodes: ns, Target: target, Record: rec.record,
		Schedule: []Step{{Fault: FaultClock, Targets: "all", Nodes: []string{"n1", "n2", "n3"}, Clock: &ClockPlan{Kind: ClockSkew, OffsetsMS: map[string]int64{"n1": 1, "n2": 2, "n3": 3}}}}})
	if err != nil {
		t.Fatal(err)
	}
	s := k.next()
	k.start(context.Background(), s)
	for _, op := range rec.history() {
		if op.F == "start-clock" && op.Type == history.Info {
			if !strings.Contains(op.Error, "n2") || !strings.Contains(op.Error, node.ErrNoDaemon.Error()) {
				t.Errorf("start info error %q", op.Error)
			}
			if v := op.Value.(map[string]int64); len(v) != 2 {
				t.Errorf("start info value %v: want the two nodes skewed", v)
			}
		}
	}
	// The heal says which node it could not reset.
	if err := k.HealAll(context.Background()); !errors.Is(err, node.ErrNoDaemon) || !strings.Contains(err.Error(), "n2") {
		t.Errorf("HealAll = %v, want n2's missing daemon", err)
	}
}
