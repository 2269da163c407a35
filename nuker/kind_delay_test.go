package nuker

import (
	"context"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestDrawDelay(t *testing.T) {
	nodes := []string{"n1", "n2", "n3", "n4", "n5"}
	seen := map[string]bool{}
	for seed := range uint64(100) {
		for _, v := range []string{"", DelayJitter, DelayReorder} {
			s := drawDelay(rand.New(rand.NewPCG(seed, 0)), v, nodes)
			if again := drawDelay(rand.New(rand.NewPCG(seed, 0)), v, nodes); !reflect.DeepEqual(s, again) {
				t.Fatalf("seed %d: two draws differ: %+v, %+v", seed, s, again)
			}
			p := s.Packet
			if err := p.check(); err != nil {
				t.Fatalf("seed %d drew a bad plan %+v: %v", seed, p, err)
			}
			if s.Fault != FaultDelay || !slices.Equal(s.Nodes, p.Nodes()) || len(s.Nodes) == 0 {
				t.Fatalf("seed %d: step %+v", seed, s)
			}
			want := map[string]string{DelayJitter: PacketDelay, DelayReorder: PacketReorder}[v]
			if v != "" && p.Mode != want {
				t.Fatalf("pinned %s, drew mode %s", v, p.Mode)
			}
			if p.Mode == PacketDelay && (p.DelayMs != 200 || p.JitterMs != 100) {
				t.Errorf("delay %dms±%dms, want the default 200ms±100ms", p.DelayMs, p.JitterMs)
			}
			if p.Queue < 1000 {
				t.Errorf("queue %d among the machine's own", p.Queue)
			}
			seen[p.Mode+"/"+p.Scope+"/"+p.Direction] = true
			checkLinkCount(t, p)
		}
	}
	checkDrawn(t, seen, "delay/link/one", "delay/node/both", "reorder/link/both", "reorder/node/one")
}

// TestDelayStartStop: the delayer starts on each sender before its
// NFQUEUE rule and stops after the rule is gone.
func TestDelayStartStop(t *testing.T) {
	tests := []struct {
		name string
		plan PacketPlan
		want map[string]string // sender: its rule
		args string
	}{
		{"delay one way", PacketPlan{Mode: PacketDelay, DelayMs: 200, JitterMs: 100, Queue: 1201, Links: Grudge{"n2": {"n1"}}},
			map[string]string{"n1": "-t raw -A FAULTLINE-PKT -d 10.0.0.2 -j NFQUEUE --queue-num 1201 --queue-bypass"},
			"start 1201 --delay 200ms --jitter 100ms --reorder 0"},
		{"reorder both ways", PacketPlan{Mode: PacketReorder, DelayMs: 200, Percent: 25, Queue: 1202, Links: Grudge{"n2": {"n1"}, "n1": {"n2"}}},
			map[string]string{
				"n1": "-t raw -A FAULTLINE-PKT -d 10.0.0.2 -j NFQUEUE --queue-num 1202 --queue-bypass",
				"n2": "-t raw -A FAULTLINE-PKT -d 10.0.0.1 -j NFQUEUE --queue-num 1202 --queue-bypass",
			},
			"start 1202 --delay 200ms --jitter 0s --reorder 25"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fakes := fakeNodes(3)
			done, err := ApplyPacket(context.Background(), asNodes(fakes), &tt.plan, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := StopPacket(context.Background(), asNodes(fakes), &tt.plan, nil); err != nil {
				t.Fatal(err)
			}
			var senders []string
			for _, f := range fakes {
				rule, ok := tt.want[f.name]
				if !ok {
					if len(f.execs) != 0 {
						t.Errorf("%s: touched: %q", f.name, f.execs)
					}
					continue
				}
				senders = append(senders, f.name)
				var order []string
				for _, e := range f.execs {
					order = append(order, e[0])
				}
				if !slices.Equal(order, []string{"delayer", "sh", "sh", "delayer"}) {
					t.Fatalf("%s: calls %q, want delayer, rules, rules gone, delayer gone", f.name, f.execs)
				}
				s := f.scripts()
				if !strings.Contains(s[0], rule) || !strings.Contains(s[1], strings.Replace(rule, " -A ", " -D ", 1)) {
					t.Errorf("%s: start %q stop %q, want the rule %q added and deleted", f.name, s[0], s[1], rule)
				}
				checkPacketConfined(t, s[0])
				checkPacketConfined(t, s[1])
				if want := []string{tt.args, "stop " + tt.args[6:10]}; !slices.Equal(f.delays, want) {
					t.Errorf("%s: delayer calls %q, want %q", f.name, f.delays, want)
				}
			}
			if !slices.Equal(done, senders) {
				t.Errorf("applied on %v, want the senders %v", done, senders)
			}
		})
	}
}
