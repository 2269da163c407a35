package nuker

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"os/exec"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/faultline/faultline/models/history"
)

// checkPacketConfined fails t when an iptables command of script touches
// anything but faultline's packet chain and its jumps.
func checkPacketConfined(t *testing.T, script string) {
	t.Helper()
	allowed := regexp.MustCompile(`^-t (filter|mangle|raw) (` +
		`(-N|-F|-X|-n -L) ` + PacketChain +
		`|(-C|-D|-I) (INPUT|POSTROUTING|OUTPUT)( 1)? -j ` + PacketChain +
		`|(-A|-C|-D) ` + PacketChain + ` -d [0-9.]+ -j NFQUEUE --queue-num [0-9]+ --queue-bypass` +
		`|(-A|-C|-D) ` + PacketChain + ` -[sd] [0-9.]+ -m statistic --mode random --probability [0-9.]+ -j (DROP|TEE --gateway [0-9.]+))$`)
	checkIptables(t, script, allowed)
}

func TestDrawPacket(t *testing.T) {
	nodes := []string{"n1", "n2", "n3", "n4", "n5"}
	seen := map[string]bool{}
	for seed := range uint64(200) {
		for _, mode := range []string{"", PacketLoss, PacketDuplicate, PacketRate} {
			s := drawPacket(rand.New(rand.NewPCG(seed, 0)), mode, nodes)
			again := drawPacket(rand.New(rand.NewPCG(seed, 0)), mode, nodes)
			if !reflect.DeepEqual(s, again) {
				t.Fatalf("seed %d: two draws differ: %+v, %+v", seed, s, again)
			}
			p := s.Packet
			if mode != "" && p.Mode != mode {
				t.Fatalf("pinned %s, drew %s", mode, p.Mode)
			}
			if err := p.check(); err != nil {
				t.Fatalf("seed %d drew a bad plan %+v: %v", seed, p, err)
			}
			if len(s.Nodes) == 0 || !slices.IsSorted(s.Nodes) {
				t.Fatalf("seed %d: nodes %v", seed, s.Nodes)
			}
			seen[p.Mode+"/"+p.Scope+"/"+p.Direction] = true
			if p.Mode == PacketRate {
				if len(s.Nodes) > 3 {
					t.Errorf("rate on %v: more than a majority of 5", s.Nodes)
				}
				continue
			}
			checkLinkCount(t, p)
		}
	}
	checkDrawn(t, seen, "loss/link/one", "loss/node/both", "duplicate/link/both", "duplicate/node/one", "rate//")
}

// checkLinkCount fails t when p's links among 5 nodes do not match its
// scope and direction.
func checkLinkCount(t *testing.T, p *PacketPlan) {
	t.Helper()
	links := 0
	for _, ss := range p.Links {
		links += len(ss)
	}
	want := map[string]int{"link/one": 1, "link/both": 2, "node/one": 4, "node/both": 8}[p.Scope+"/"+p.Direction]
	if links != want {
		t.Errorf("%s/%s: %d links %v, want %d", p.Scope, p.Direction, links, p.Links, want)
	}
}

// checkDrawn fails t for each mode/scope/direction in want that seen lacks.
func checkDrawn(t *testing.T, seen map[string]bool, want ...string) {
	t.Helper()
	for _, m := range want {
		if !seen[m] {
			t.Errorf("the seeds never drew %s (drew %v)", m, seen)
		}
	}
}

func TestPacketPlanCheck(t *testing.T) {
	tests := []struct {
		name string
		p    PacketPlan
		ok   bool
	}{
		{"loss", PacketPlan{Mode: PacketLoss, Percent: 20, Links: Grudge{"n2": {"n1"}}}, true},
		{"loss without links", PacketPlan{Mode: PacketLoss, Percent: 20}, false},
		{"loss of 0%", PacketPlan{Mode: PacketLoss, Links: Grudge{"n2": {"n1"}}}, false},
		{"loss of 101%", PacketPlan{Mode: PacketLoss, Percent: 101, Links: Grudge{"n2": {"n1"}}}, false},
		{"duplicate to itself", PacketPlan{Mode: PacketDuplicate, Percent: 5, Links: Grudge{"n1": {"n1"}}}, false},
		{"rate", PacketPlan{Mode: PacketRate, RateKbit: 1024}, true},
		{"rate of 0", PacketPlan{Mode: PacketRate}, false},
		{"delay without a hold", PacketPlan{Mode: PacketDelay, Queue: 1000, Links: Grudge{"n2": {"n1"}}}, false},
		{"delay", PacketPlan{Mode: PacketDelay, DelayMs: 200, JitterMs: 100, Queue: 1000, Links: Grudge{"n2": {"n1"}}}, true},
		{"delay without a queue", PacketPlan{Mode: PacketDelay, DelayMs: 200, Links: Grudge{"n2": {"n1"}}}, false},
		{"delay without links", PacketPlan{Mode: PacketDelay, DelayMs: 200, Queue: 1000}, false},
		{"reorder", PacketPlan{Mode: PacketReorder, DelayMs: 200, Percent: 25, Queue: 1000, Links: Grudge{"n2": {"n1"}}}, true},
		{"reorder of 0%", PacketPlan{Mode: PacketReorder, DelayMs: 200, Queue: 1000, Links: Grudge{"n2": {"n1"}}}, false},
		{"delay mode unknown", PacketPlan{Mode: "latency"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.p.check(); (err == nil) != tt.ok {
				t.Errorf("check = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

// TestPacketStartStop: loss rules land on the receivers, duplication on the
// senders, and the stop deletes exactly the rules the start added.
func TestPacketStartStop(t *testing.T) {
	tests := []struct {
		name  string
		plan  PacketPlan
		nodes []string // rate only
		want  map[string]string
	}{
		{"loss one way", PacketPlan{Mode: PacketLoss, Percent: 20, Links: Grudge{"n2": {"n1"}}}, nil,
			map[string]string{"n2": "-t filter -A FAULTLINE-PKT -s 10.0.0.1 -m statistic --mode random --probability 0.2 -j DROP"}},
		{"duplicate both ways", PacketPlan{Mode: PacketDuplicate, Percent: 50, Links: Grudge{"n2": {"n1"}, "n1": {"n2"}}}, nil,
			map[string]string{
				"n1": "-t mangle -A FAULTLINE-PKT -d 10.0.0.2 -m statistic --mode random --probability 0.5 -j TEE --gateway 10.0.0.2",
				"n2": "-t mangle -A FAULTLINE-PKT -d 10.0.0.1 -m statistic --mode random --probability 0.5 -j TEE --gateway 10.0.0.1",
			}},
		{"rate", PacketPlan{Mode: PacketRate, RateKbit: 1024}, []string{"n3"},
			map[string]string{"n3": "root handle fa17: tbf rate 1024kbit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fakes := fakeNodes(3)
			done, err := ApplyPacket(context.Background(), asNodes(fakes), &tt.plan, tt.nodes)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for n := range tt.want {
				want = append(want, n)
			}
			slices.Sort(want)
			if !reflect.DeepEqual(done, want) {
				t.Errorf("applied on %v, want %v", done, want)
			}
			if _, err := StopPacket(context.Background(), asNodes(fakes), &tt.plan, tt.nodes); err != nil {
				t.Fatal(err)
			}
			for _, f := range fakes {
				s := f.scripts()
				w, ok := tt.want[f.name]
				if !ok {
					if len(s) != 0 {
						t.Errorf("%s: touched: %q", f.name, s)
					}
					continue
				}
				if len(s) != 2 || !strings.Contains(s[0], w) {
					t.Fatalf("%s: scripts %q, want a start with %q and a stop", f.name, s, w)
				}
				checkPacketConfined(t, s[0])
				checkPacketConfined(t, s[1])
				if tt.plan.Mode == PacketRate {
					if !strings.Contains(s[1], "tc qdisc del") || !strings.Contains(s[1], "fa17:") {
						t.Errorf("%s: stop %q does not delete our qdisc", f.name, s[1])
					}
					continue
				}
				del := strings.Replace(w, " -A ", " -D ", 1)
				if !strings.Contains(s[1], del) {
					t.Errorf("%s: stop %q lacks %q", f.name, s[1], del)
				}
			}
		})
	}
}

// TestReplayPacket: packet and delay steps read back from a history
// replay exactly, plans (delay's queue number too) included.
func TestReplayPacket(t *testing.T) {
	for _, fault := range []string{FaultPacket, FaultDelay} {
		t.Run(fault, func(t *testing.T) {
			faults := []string{fault}
			orig, _, _ := runFaults(t, Config{Faults: faults, Seed: 3}, 8)
			sched := scheduleThroughFile(t, orig)
			replayed, _, _ := runFaults(t, Config{Faults: faults, Seed: 42, Schedule: sched}, 8)
			want, got := startValues(t, orig), startValues(t, replayed)
			if !reflect.DeepEqual(want, got) {
				t.Errorf("replay differs:\n got %v\nwant %v", got, want)
			}
			other, _, _ := runFaults(t, Config{Faults: faults, Seed: 42}, 8)
			if reflect.DeepEqual(want, startValues(t, other)) {
				t.Errorf("seeds 3 and 42 drew the same %s schedule", fault)
			}
			for _, op := range orig {
				if op.F == history.StartPrefix+fault && op.Type == history.Info && op.Error != "" {
					t.Errorf("start failed on fake nodes: %s", op.Error)
				}
			}
		})
	}
}

func TestPacketDescribe(t *testing.T) {
	tests := []struct {
		p     PacketPlan
		nodes []string
		want  string
	}{
		{PacketPlan{Mode: PacketLoss, Percent: 20, Links: Grudge{"n2": {"n1"}, "n1": {"n2"}}}, []string{"n1", "n2"}, "loss 20% n1->n2, n2->n1"},
		{PacketPlan{Mode: PacketDuplicate, Percent: 5, Links: Grudge{"n1": {"n3", "n2"}}}, []string{"n2", "n3"}, "duplicate 5% n2->n1, n3->n1"},
		{PacketPlan{Mode: PacketRate, RateKbit: 256}, []string{"n1", "n3"}, "rate 256 kbit/s on n1,n3"},
		{PacketPlan{Mode: PacketDelay, DelayMs: 200, JitterMs: 100, Links: Grudge{"n2": {"n1"}}}, []string{"n1"}, "delay 200ms±100ms n1->n2"},
		{PacketPlan{Mode: PacketReorder, Percent: 25, DelayMs: 200, Links: Grudge{"n2": {"n1"}, "n1": {"n2"}}}, []string{"n1", "n2"}, "reorder 25% (others 200ms±0ms) n1->n2, n2->n1"},
	}
	for _, tt := range tests {
		if got := tt.p.Describe(tt.nodes); got != tt.want {
			t.Errorf("Describe = %q, want %q", got, tt.want)
		}
	}
}

// TestRemovePacketScriptTolerant: the final heal runs on every node of
// every run, so a node whose address no interface holds (behind NAT) must
// not fail it; a rate fault there must.
func TestRemovePacketScriptTolerant(t *testing.T) {
	addr := netip.MustParseAddr("192.0.2.7")
	rm := removePacketScript(addr)
	if strings.Contains(rm, "exit 1") || !strings.Contains(rm, `if [ -n "$dev" ]`) {
		t.Errorf("removal fails without an interface:\n%s", rm)
	}
	if !strings.Contains(findDev(addr), "exit 1") {
		t.Error("a rate fault without an interface does not fail")
	}
	for _, s := range []string{rm, findDev(addr)} {
		if out, err := exec.Command("sh", "-n", "-c", s).CombinedOutput(); err != nil {
			t.Errorf("sh -n: %v %s\n%s", err, out, s)
		}
	}
}
