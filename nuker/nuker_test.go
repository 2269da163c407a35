package nuker

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/models/history"
)

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0)) }

func TestParseFaults(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{"partition,kill,pause", []string{"partition", "kill", "pause"}, ""},
		{" pause , partition ,pause", []string{"partition", "pause"}, ""},
		{"all", []string{"partition", "kill", "pause", "failover", "clock", "packet", "member", "delay"}, ""},
		{"upgrade,all", []string{"partition", "kill", "pause", "failover", "clock", "packet", "member", "delay", "upgrade"}, ""},
		{"power,all", []string{"partition", "kill", "pause", "failover", "clock", "packet", "member", "power", "delay"}, ""},
		{"", nil, ""},
		{"none", nil, ""},
		{"KILL", []string{"kill"}, ""},
		{"partition,meteor", nil, `unknown fault "meteor" (known: ` + names(KnownFaults()) + `)`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseFaults(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestKnownFaultsDescribed(t *testing.T) {
	for _, ds := range [][]Description{KnownFaults(), KnownPartitions()} {
		for _, d := range ds {
			if d.Name == "" || d.Summary == "" || strings.Contains(d.Summary, "\n") {
				t.Errorf("bad description %+v", d)
			}
		}
	}
}

func TestNewValidates(t *testing.T) {
	nodes := asNodes(fakeNodes(3))
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"unknown fault", Config{Faults: []string{"partition", "meteor"}, Nodes: nodes}, `unknown fault "meteor" (known: ` + names(KnownFaults()) + `)`},
		{"failover needs a failover target", Config{Faults: []string{"failover"}, Nodes: nodes, Target: newFakeTarget()}, "cannot fail over"},
		{"primaries need a primary lister", Config{Faults: []string{"partition"}, Partitions: []string{"primaries"}, Nodes: nodes, Target: newFakeTarget()}, "cannot name its primaries"},
		{"kill needs target", Config{Faults: []string{"kill"}, Nodes: nodes}, "needs a Target"},
		{"faults need nodes", Config{Faults: []string{"partition"}}, "need nodes"},
		{"partition on one node", Config{Faults: []string{"partition"}, Nodes: nodes[:1]}, "at least 2 nodes"},
		{"ring on two nodes", Config{Faults: []string{"partition"}, Partitions: []string{"majorities-ring"}, Nodes: nodes[:2]}, "at least 3 nodes"},
		{"unknown partition", Config{Faults: []string{"partition"}, Partitions: []string{"zigzag"}, Nodes: nodes}, `unknown partition "zigzag"`},
		{"duplicate node", Config{Faults: []string{"partition"}, Nodes: append(nodes, nodes[0])}, "given twice"},
		{"negative interval", Config{Interval: -time.Second}, "negative interval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
	// Two nodes: default partitions shrink to the kinds that fit.
	k, err := New(Config{Faults: []string{"partition"}, Nodes: nodes[:2]})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{PartitionHalves, PartitionOne}; !reflect.DeepEqual(k.partitions, want) {
		t.Errorf("partitions on 2 nodes = %v, want %v", k.partitions, want)
	}
}

func TestSubsetChoices(t *testing.T) {
	tests := []struct {
		fault string
		n     int
		want  string
	}{
		{FaultKill, 1, "one:1"},
		{FaultKill, 2, "one:1 majority:2"},
		{FaultKill, 3, "one:1 majority:2 all:3"},
		{FaultKill, 5, "one:1 minority:2 majority:3 all:5"},
		{FaultPause, 5, "one:1 minority:2 majority:3"},
		{FaultPause, 4, "one:1 majority:3"},
		{FaultKill, 7, "one:1 minority:3 majority:4 all:7"},
	}
	for _, tt := range tests {
		var got []string
		for _, c := range subsetChoices(tt.n, tt.fault != FaultPause) {
			got = append(got, c.name+":"+string(rune('0'+c.size)))
		}
		if strings.Join(got, " ") != tt.want {
			t.Errorf("%s on %d: got %v, want %s", tt.fault, tt.n, got, tt.want)
		}
	}
}

// runFaults runs a nuker over fresh fakes until it has started count faults
// and returns the history; the fakes must end up healed.
func runFaults(t *testing.T, cfg Config, count int) ([]history.Op, []*fakeNode, *fakeTarget) {
	t.Helper()
	fakes := fakeNodes(5)
	target := newFakeTarget()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := &recorder{}
	started := 0
	rec.hook = func(op history.Op) {
		// Cancel once the count-th fault is in effect, so every run of the
		// same seed records the same ops however slow the machine is.
		if op.Type == history.Info && strings.HasPrefix(op.F, history.StartPrefix) {
			if started++; started == count {
				cancel()
			}
		}
	}
	if cfg.Nodes == nil {
		cfg.Nodes = asNodes(fakes)
	} else {
		fakes = nil
		for _, n := range cfg.Nodes {
			fakes = append(fakes, n.(*fakeNode))
		}
	}
	if ft, ok := cfg.Target.(interface{ fake() *fakeTarget }); ok {
		target = ft.fake() // a fakeTarget with more capabilities
	} else {
		cfg.Target = target
	}
	cfg.Record = rec.record
	if cfg.Interval == 0 {
		cfg.Interval = time.Millisecond
	}
	k, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	for _, f := range fakes {
		if d := f.dropping(); len(d) > 0 {
			t.Errorf("%s still drops %v after Run", f.name, d)
		}
	}
	if !target.healthy() {
		t.Errorf("target left unhealthy: down %v, paused %v", target.down, target.paused)
	}
	return rec.history(), fakes, target
}

func TestRunRecordsFaults(t *testing.T) {
	ops, fakes, _ := runFaults(t, Config{Faults: []string{"partition", "kill", "pause"}, Seed: 7}, 30)
	kinds := map[string]int{}
	// Ops come in fours: invoke+info start, invoke+info stop.
	if len(ops) != 4*30 {
		t.Fatalf("%d ops for 30 faults, want 120", len(ops))
	}
	for i := 0; i < len(ops); i += 4 {
		q := ops[i : i+4]
		kind := strings.TrimPrefix(q[0].F, history.StartPrefix)
		kinds[kind]++
		wantF := []string{"start-" + kind, "start-" + kind, "stop-" + kind, "stop-" + kind}
		wantT := []history.Type{history.Invoke, history.Info, history.Invoke, history.Info}
		for j, op := range q {
			if op.F != wantF[j] || op.Type != wantT[j] || op.Process != history.Nuker {
				t.Fatalf("op %d: %s %s %s, want %s %s nuker", op.Index, op.Type, op.F, op.Process, wantT[j], wantF[j])
			}
			if len(op.Nodes) == 0 || op.Error != "" || op.Value == nil {
				t.Errorf("op %d: nodes %v, error %q, value %v", op.Index, op.Nodes, op.Error, op.Value)
			}
			if _, err := json.Marshal(op); err != nil {
				t.Errorf("op %d does not encode: %v", op.Index, err)
			}
		}
		switch kind {
		case FaultPartition:
			d := q[0].Value.(map[string]any)
			g := d["grudge"].(Grudge)
			if !known(KnownPartitions(), d["partition"].(string)) {
				t.Errorf("unknown partition kind in %v", d)
			}
			if !reflect.DeepEqual(q[1].Value, g) || !reflect.DeepEqual(q[1].Nodes, g.Nodes()) {
				t.Errorf("start-partition info %v %v, want grudge %v", q[1].Nodes, q[1].Value, g)
			}
		case FaultKill, FaultPause:
			d := q[0].Value.(map[string]any)
			if !reflect.DeepEqual(d["nodes"], q[1].Nodes) || !reflect.DeepEqual(q[1].Value, q[1].Nodes) {
				t.Errorf("%s: invoke %v, info nodes %v value %v", kind, d, q[1].Nodes, q[1].Value)
			}
			targets := d["targets"].(string)
			found := false
			for _, c := range subsetChoices(5, kind != FaultPause) {
				found = found || (c.name == targets && c.size == len(q[1].Nodes))
			}
			if !found {
				t.Errorf("%s: %q with %d nodes is not a known choice", kind, targets, len(q[1].Nodes))
			}
			if !reflect.DeepEqual(q[3].Value, q[1].Nodes) {
				t.Errorf("%s: healed %v, want %v", kind, q[3].Value, q[1].Nodes)
			}
		}
	}
	for _, f := range []string{FaultPartition, FaultKill, FaultPause} {
		if kinds[f] == 0 {
			t.Errorf("30 faults and no %s: %v", f, kinds)
		}
	}
	// The report's fault windows must pair up and close.
	ws := history.FaultWindows(ops)
	if len(ws) != 30 {
		t.Errorf("%d fault windows, want 30", len(ws))
	}
	for _, w := range ws {
		if w.Open || len(w.Nodes) == 0 {
			t.Errorf("window %+v open or without nodes", w)
		}
	}
	// The final HealAll removes the chain everywhere.
	for _, f := range fakes {
		s := f.scripts()
		if !strings.Contains(s[len(s)-1], "-X "+Chain) {
			t.Errorf("%s: last command does not remove our chain: %q", f.name, s[len(s)-1])
		}
	}
}

// opsKey strips what the harness fills in (index, time) so two runs can be
// compared.
func opsKey(t *testing.T, ops []history.Op) []string {
	var out []string
	for _, op := range ops {
		op.Index, op.Time = 0, 0
		b, err := json.Marshal(op)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

func TestScheduleDeterministicBySeed(t *testing.T) {
	cfg := func(seed uint64) Config {
		return Config{Faults: []string{"pause", "partition", "kill"}, Seed: seed}
	}
	a, _, _ := runFaults(t, cfg(42), 25)
	b, _, _ := runFaults(t, cfg(42), 25)
	if !reflect.DeepEqual(opsKey(t, a), opsKey(t, b)) {
		t.Errorf("same seed, different schedules:\n%v\n%v", opsKey(t, a), opsKey(t, b))
	}
	// Node order given and fault order named do not matter.
	shuffledNodes := asNodes(fakeNodes(5))
	slices.Reverse(shuffledNodes)
	c, _, _ := runFaults(t, Config{Faults: []string{"kill", "partition", "pause"}, Seed: 42, Nodes: shuffledNodes}, 25)
	if !reflect.DeepEqual(opsKey(t, a), opsKey(t, c)) {
		t.Error("same seed, reordered nodes/faults: different schedules")
	}
	// A caller's own source replays too.
	d, _, _ := runFaults(t, Config{Faults: []string{"pause", "partition", "kill"}, Rand: rand.New(rand.NewPCG(42, 0))}, 25)
	if !reflect.DeepEqual(opsKey(t, a), opsKey(t, d)) {
		t.Error("Rand seeded like Seed: different schedule")
	}
	e, _, _ := runFaults(t, cfg(43), 25)
	if reflect.DeepEqual(opsKey(t, a), opsKey(t, e)) {
		t.Error("seeds 42 and 43 gave the same schedule")
	}
}

// A failed injection must not change the rest of the schedule, and must
// still be recorded and undone.
func TestFailedInjectionRecordedAndScheduleUnchanged(t *testing.T) {
	base, _, _ := runFaults(t, Config{Faults: []string{"partition"}, Seed: 3}, 10)
	fakes := fakeNodes(5)
	var failOnce sync.Once
	fakes[0].fail = func(argv []string) bool {
		failed := false
		if strings.Contains(strings.Join(argv, " "), "-I INPUT") {
			failOnce.Do(func() { failed = true })
		}
		return failed
	}
	ops, _, _ := runFaults(t, Config{Faults: []string{"partition"}, Seed: 3, Nodes: asNodes(fakes)}, 10)
	var failed *history.Op
	for i, op := range ops {
		if op.Error != "" {
			if failed != nil {
				t.Fatalf("more than one failed op: %v", op)
			}
			failed = &ops[i]
		}
		// Same faults on the same nodes, whatever failed.
		if op.Type == history.Invoke && !reflect.DeepEqual(op, withIndexTime(base[i], op)) {
			t.Errorf("op %d: %+v, want %+v", i, op, base[i])
		}
	}
	if failed == nil {
		t.Fatal("no op carries the injected failure")
	}
	if failed.F != "start-partition" || failed.Type != history.Info || !strings.Contains(failed.Error, "n1") {
		t.Errorf("failure recorded as %+v", failed)
	}
	if g := failed.Value.(Grudge); len(g["n1"]) > 0 {
		t.Errorf("grudge as applied %v still lists n1, which failed", g)
	}
	if !reflect.DeepEqual(failed.Failed, []string{"n1"}) {
		t.Errorf("failed nodes recorded as %v, want [n1]", failed.Failed)
	}
}

// A partition whose iptables fails on every node is recorded as taking
// effect nowhere, so the history's counts say the fault never held.
func TestFailedEverywhereCounted(t *testing.T) {
	fakes := fakeNodes(3)
	for _, f := range fakes {
		f.fail = func(argv []string) bool { return strings.Contains(strings.Join(argv, " "), "-I INPUT") }
	}
	ops, _, _ := runFaults(t, Config{Faults: []string{"partition"}, Seed: 3, Nodes: asNodes(fakes)}, 6)
	tallies := history.CountFaults(ops)
	if len(tallies) != 1 {
		t.Fatalf("tallies %+v, want one kind", tallies)
	}
	ft := tallies[0]
	if ft.Requested == 0 || ft.Failed != ft.Requested || ft.TookEffect() || !strings.Contains(ft.FirstError, "injected failure") {
		t.Errorf("tally %+v, want every start failed with the injected error", ft)
	}
}

func withIndexTime(op, from history.Op) history.Op {
	op.Index, op.Time = from.Index, from.Time
	return op
}

// Cancelling the run while a kill hangs must still restart the node, with a
// live context.
func TestHealAfterCancelDuringInjection(t *testing.T) {
	for _, fault := range []string{FaultKill, FaultPause} {
		t.Run(fault, func(t *testing.T) {
			target := newFakeTarget()
			target.block = true
			rec := &recorder{}
			ctx, cancel := context.WithCancel(context.Background())
			rec.hook = func(op history.Op) {
				if op.Type == history.Invoke && op.F == "start-"+fault {
					go cancel() // while the injection hangs
				}
			}
			var logs bytes.Buffer
			k, err := New(Config{
				Faults: []string{fault}, Seed: 1, Interval: time.Millisecond,
				Nodes: asNodes(fakeNodes(3)), Target: target, Record: rec.record,
				Logger: slog.New(slog.NewTextHandler(&logs, nil)),
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := k.Run(ctx); err != nil {
				t.Fatalf("Run: %v", err)
			}
			ops := rec.history()
			if len(ops) != 4 {
				t.Fatalf("ops: %+v", ops)
			}
			if ops[1].Error == "" || !strings.Contains(ops[1].Error, "context canceled") {
				t.Errorf("start completion error %q, want the cancellation", ops[1].Error)
			}
			if o := history.StartOutcome(ops[0], ops[1]); o != history.Unfinished {
				t.Errorf("a start cut short by the end of the run counts as %s, want unfinished (error %q)", o, ops[1].Error)
			}
			if ops[2].F != "stop-"+fault || ops[3].Error != "" {
				t.Errorf("stop not recorded cleanly: %+v %+v", ops[2], ops[3])
			}
			if len(target.healCtxErr) == 0 {
				t.Fatal("nothing restarted/resumed")
			}
			for _, err := range target.healCtxErr {
				if err != nil {
					t.Errorf("heal ran with a dead context: %v", err)
				}
			}
			if !strings.Contains(logs.String(), "fault stopped") {
				t.Errorf("no log of the stop: %s", logs.String())
			}
		})
	}
}

func TestHealAllConcurrentWithRun(t *testing.T) {
	fakes := fakeNodes(5)
	target := newFakeTarget()
	rec := &recorder{}
	k, err := New(Config{
		Faults: []string{"partition", "kill", "pause"}, Seed: 9, Interval: 50 * time.Millisecond,
		Nodes: asNodes(fakes), Target: target, Record: rec.record,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	// Heal in the middle of a fault window.
	deadline := time.Now().Add(10 * time.Second)
	for len(rec.history()) < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if err := k.HealAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !target.healthy() {
		t.Error("HealAll left the target unhealthy")
	}
	for _, f := range fakes {
		if d := f.dropping(); len(d) > 0 {
			t.Errorf("%s drops %v after HealAll", f.name, d)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The fault healed by HealAll is stopped once, not again by Run.
	ws := history.FaultWindows(rec.history())
	stops := 0
	for _, op := range rec.history() {
		if strings.HasPrefix(op.F, history.StopPrefix) && op.Type == history.Info {
			stops++
		}
	}
	if stops != len(ws) {
		t.Errorf("%d stops for %d windows", stops, len(ws))
	}
}

func TestHealAllWithNothingKnown(t *testing.T) {
	fakes := fakeNodes(3)
	rec := &recorder{}
	k, err := New(Config{Nodes: asNodes(fakes), Record: rec.record})
	if err != nil {
		t.Fatal(err)
	}
	if err := k.HealAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(rec.history()) != 0 {
		t.Errorf("recorded %v with nothing to heal", rec.history())
	}
	for _, f := range fakes {
		s := f.scripts()
		if len(s) != 2 || !strings.Contains(s[0], "-X "+Chain+"\n") || !strings.Contains(s[1], "-X "+PacketChain) {
			t.Errorf("%s: %q, want one removal of our chain, then of the packet faults", f.name, s)
			continue
		}
		checkConfined(t, s[0])
		checkPacketConfined(t, s[1])
	}
	// No faults at all: Run only waits.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := k.Run(ctx); err != nil {
		t.Fatal(err)
	}
}
