package nuker

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/models/history"
)

func TestParsePlan(t *testing.T) {
	set := []string{FaultPartition, FaultKill, FaultPause}
	tests := []struct {
		text string
		want string // the canonical text
	}{
		{"", "mix:partition,kill,pause"},
		{"alternate", "mix:partition,kill,pause"},
		{"overlap", "mix:partition + mix:kill@after=2s + mix:pause@after=4s"},
		{"mix:partition=3,kill", "mix:partition=3,kill"},
		{"seq:partition/primaries,kill/primaries@interval=8s,quiet=20s", "seq:partition/primaries,kill/primaries@interval=8s,quiet=20s"},
		{"mix:clock/strobe@jitter=1s + seq:pause/one,kill/all", "mix:clock/strobe@jitter=1s + seq:pause/one,kill/all"},
		{" Overlap @after=1s ", "mix:partition@after=1s + mix:kill@after=1s + mix:pause@after=1s"},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			p, err := ParsePlan(tt.text, set, 6*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := p.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			// The canonical text reads back to the same plan, whatever
			// the fault set: replays rely on it.
			back, err := ParsePlan(p.String(), nil, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, p) {
				t.Errorf("round trip: got %+v, want %+v", back, p)
			}
		})
	}
}

func TestParsePlanErrors(t *testing.T) {
	tests := []struct{ text, want string }{
		{"sometimes", `unknown lane "sometimes"`},
		{"mix:", "no faults listed"},
		{"mix:kill=0", "weight of kill must be a whole number >= 1"},
		{"mix:kill=x", "weight of kill"},
		{"mix:kill@interval=soon", "option interval: want a duration"},
		{"mix:kill@often=1s", `unknown option "often"`},
		{"mix:kill@interval", "want name=duration"},
	}
	for _, tt := range tests {
		_, err := ParsePlan(tt.text, []string{FaultKill}, time.Second)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err %v, want %q", tt.text, err, tt.want)
		}
	}
}

func TestPlanValidate(t *testing.T) {
	tests := []struct{ text, want string }{
		{"mix:quake", `unknown fault "quake"`},
		{"seq:kill/everyone", `fault kill has no variant "everyone"`},
		{"mix:failover/fast", "fault failover has no variants"},
		{"mix:partition/zigzag", `fault partition has no variant "zigzag"`},
	}
	for _, tt := range tests {
		p, err := ParsePlan(tt.text, nil, time.Second)
		if err != nil {
			t.Fatalf("%q: %v", tt.text, err)
		}
		if err := p.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err %v, want %q", tt.text, err, tt.want)
		}
	}
	// New refuses what the cluster cannot do: a pinned primaries variant
	// on a target that cannot name them, a partition too big for it.
	for _, text := range []string{"seq:kill/primaries", "mix:partition/majorities-ring"} {
		p, _ := ParsePlan(text, nil, time.Second)
		_, err := New(Config{Plan: &p, Nodes: asNodes(fakeNodes(2)), Target: newFakeTarget()})
		if err == nil {
			t.Errorf("%q on 2 nodes of a target without primaries: no error", text)
		}
	}
}

// windows returns each fault's [start info, stop invoke) window by op
// index, in start order, with its lane.
type window struct {
	fault      string
	lane       int
	from, to   int
	nodes      []string
	invokeJSON string
}

func windows(t *testing.T, ops []history.Op) []window {
	t.Helper()
	var out []window
	open := map[string][]int{} // fault -> indexes into out, oldest first
	for i, op := range ops {
		if op.Process != history.Nuker {
			continue
		}
		switch {
		case op.Type == history.Invoke && strings.HasPrefix(op.F, history.StartPrefix):
			b, _ := json.Marshal(op.Value)
			var v struct {
				Lane int `json:"lane"`
			}
			_ = json.Unmarshal(b, &v)
			f := strings.TrimPrefix(op.F, history.StartPrefix)
			out = append(out, window{fault: f, lane: v.Lane, from: i, to: len(ops), invokeJSON: string(b)})
			open[f] = append(open[f], len(out)-1)
		case op.Type == history.Info && strings.HasPrefix(op.F, history.StartPrefix):
			f := strings.TrimPrefix(op.F, history.StartPrefix)
			if w := open[f]; len(w) > 0 {
				out[w[len(w)-1]].nodes = op.Nodes
			}
		case op.Type == history.Invoke && strings.HasPrefix(op.F, history.StopPrefix):
			f := strings.TrimPrefix(op.F, history.StopPrefix)
			if w := open[f]; len(w) > 0 {
				out[w[0]].to = i
				open[f] = w[1:]
			}
		}
	}
	return out
}

// maxOverlap is the most faults in effect at once.
func maxOverlap(ws []window) int {
	best := 0
	for _, a := range ws {
		n := 0
		for _, b := range ws {
			if b.from <= a.from && a.from < b.to {
				n++
			}
		}
		best = max(best, n)
	}
	return best
}

func TestOverlapLanes(t *testing.T) {
	faults := []string{FaultPartition, FaultPause}
	alt, _, _ := runFaults(t, Config{Faults: faults, Seed: 3}, 6)
	if n := maxOverlap(windows(t, alt)); n != 1 {
		t.Errorf("alternate: %d faults at once, want 1", n)
	}
	p, _ := ParsePlan(ScheduleOverlap, faults, 2*time.Millisecond)
	ops, _, _ := runFaults(t, Config{Faults: faults, Seed: 3, Plan: &p, Interval: 2 * time.Millisecond}, 12)
	ws := windows(t, ops)
	if n := maxOverlap(ws); n < 2 {
		t.Errorf("overlap: at most %d fault at once, want 2", n)
	}
	for _, w := range ws {
		if want := slices.Index(faults, w.fault); w.lane != want {
			t.Errorf("%s ran in lane %d, want %d", w.fault, w.lane, want)
		}
	}
}

func TestSequenceLane(t *testing.T) {
	target := &primaryTarget{fakeTarget: newFakeTarget(), primary: "n3", names: nodeNames(5)}
	p, err := ParsePlan("seq:partition/primaries,kill/primaries", nil, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	ops, _, _ := runFaults(t, Config{Plan: &p, Seed: 1, Target: target}, 4)
	ws := windows(t, ops)
	if len(ws) < 4 {
		t.Fatalf("%d faults started, want 4: %v", len(ws), ws)
	}
	// Each round: the primary cut off, then, while it still is, the
	// primary killed; both stopped, the kill first.
	for r := 0; r+1 < len(ws); r += 2 {
		part, kill := ws[r], ws[r+1]
		if part.fault != FaultPartition || kill.fault != FaultKill {
			t.Fatalf("round %d: %s then %s, want partition then kill", r/2, part.fault, kill.fault)
		}
		if !(part.from < kill.from && kill.from < part.to && kill.to < part.to) {
			t.Errorf("round %d: kill %d..%d not nested in partition %d..%d", r/2, kill.from, kill.to, part.from, part.to)
		}
		if !strings.Contains(part.invokeJSON, `"n3":["n1","n2","n4","n5"]`) {
			t.Errorf("round %d: partition %s does not cut off the primary n3", r/2, part.invokeJSON)
		}
		if !reflect.DeepEqual(kill.nodes, []string{"n3"}) {
			t.Errorf("round %d: killed %v, want the primary [n3]", r/2, kill.nodes)
		}
	}
}

func TestMixWeights(t *testing.T) {
	p, _ := ParsePlan("mix:partition=3,kill", nil, time.Second)
	k, err := New(Config{Plan: &p, Seed: 5, Nodes: asNodes(fakeNodes(5)), Target: newFakeTarget()})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for range 4000 {
		count[k.next().Fault]++
	}
	if count[FaultPartition] < 2800 || count[FaultPartition] > 3200 {
		t.Errorf("partition drawn %d of 4000 at weight 3 of 4, want about 3000", count[FaultPartition])
	}
}

func TestLaneJitter(t *testing.T) {
	l := &lane{Lane: Lane{Jitter: 100 * time.Millisecond}, rand: rand.New(rand.NewPCG(1, 2))}
	seen := map[time.Duration]bool{}
	for range 200 {
		d := l.wait(time.Second)
		if d < 900*time.Millisecond || d > 1100*time.Millisecond {
			t.Fatalf("wait %v outside 1s ± 100ms", d)
		}
		seen[d] = true
	}
	if len(seen) < 100 {
		t.Errorf("only %d distinct waits of 200", len(seen))
	}
	if d := l.wait(10 * time.Millisecond); d < 0 {
		t.Errorf("wait below zero: %v", d)
	}
	l.Jitter = 0
	if d := l.wait(time.Second); d != time.Second {
		t.Errorf("no jitter: %v", d)
	}
}

// TestReplayLanes: a replay of an overlapping schedule repeats every
// lane's faults, lane by lane, whatever the seed.
func TestReplayLanes(t *testing.T) {
	faults := []string{FaultPartition, FaultKill, FaultPause}
	p, _ := ParsePlan(ScheduleOverlap+"@jitter=1ms", faults, 2*time.Millisecond)
	cfg := func(seed uint64, sched []Step) Config {
		return Config{Faults: faults, Plan: &p, Seed: seed, Interval: 2 * time.Millisecond, Schedule: sched}
	}
	orig, _, _ := runFaults(t, cfg(7, nil), 15)
	sched, err := ScheduleFromHistory(orig)
	if err != nil {
		t.Fatal(err)
	}
	perLane := func(ops []history.Op, n int) map[int][]string {
		out := map[int][]string{}
		for _, w := range windows(t, ops) {
			if len(out[w.lane]) < n {
				out[w.lane] = append(out[w.lane], w.invokeJSON)
			}
		}
		return out
	}
	// Compare as many steps per lane as both runs started.
	replayed, _, _ := runFaults(t, cfg(99, sched), 15)
	n := 3
	want, got := perLane(orig, n), perLane(replayed, n)
	for lane := range 3 {
		if len(want[lane]) < n || len(got[lane]) < n {
			t.Fatalf("lane %d: %d and %d steps, want %d each", lane, len(want[lane]), len(got[lane]), n)
		}
	}
	if !reflect.DeepEqual(want, got) {
		t.Errorf("replay differs:\n got %v\nwant %v", got, want)
	}
	other, _, _ := runFaults(t, cfg(99, nil), 15)
	if reflect.DeepEqual(want, perLane(other, n)) {
		t.Error("seed 99 drew the same lanes as seed 7")
	}
}
