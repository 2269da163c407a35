package nuker

import (
	"context"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestApplyGrudge(t *testing.T) {
	tests := []struct {
		name   string
		grudge Grudge
		// want is, per node, the addresses it must drop.
		want map[string][]string
	}{
		{"isolate n1", Complete([]string{"n1"}, []string{"n2", "n3", "n4"}), map[string][]string{
			"n1": {"10.0.0.2", "10.0.0.3", "10.0.0.4"}, "n2": {"10.0.0.1"}, "n3": {"10.0.0.1"}, "n4": {"10.0.0.1"},
		}},
		{"one-way", Grudge{"n2": {"n1"}}, map[string][]string{"n2": {"10.0.0.1"}}},
		{"empty heals", Grudge{}, map[string][]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fakes := fakeNodes(4)
			applied, err := ApplyGrudge(context.Background(), asNodes(fakes), tt.grudge)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(applied, nodeNames(4)) {
				t.Errorf("applied on %v, want all nodes", applied)
			}
			for _, f := range fakes {
				if got := f.dropping(); !reflect.DeepEqual(got, tt.want[f.name]) {
					t.Errorf("%s drops %v, want %v", f.name, got, tt.want[f.name])
				}
				scripts := f.scripts()
				if len(scripts) != 1 {
					t.Fatalf("%s: %d commands, want 1", f.name, len(scripts))
				}
				if checkConfined(t, scripts[0]) == 0 {
					t.Errorf("%s: no iptables commands in %q", f.name, scripts[0])
				}
				if !strings.Contains(scripts[0], "iptables -w -I INPUT 1 -j "+Chain) {
					t.Errorf("%s: chain not hooked into INPUT: %q", f.name, scripts[0])
				}
				if strings.Contains(scripts[0], "ip6tables") {
					t.Errorf("%s: ip6tables used in an IPv4 cluster", f.name)
				}
			}
		})
	}
}

func TestApplyGrudgeIPv6(t *testing.T) {
	fakes := fakeNodes(2)
	fakes[1].addr = netip.MustParseAddr("fd00::2")
	if _, err := ApplyGrudge(context.Background(), asNodes(fakes), Grudge{"n1": {"n2"}}); err != nil {
		t.Fatal(err)
	}
	s := fakes[0].scripts()[0]
	if !strings.Contains(s, "ip6tables -w -A "+Chain+" -s fd00::2 -j DROP") {
		t.Errorf("IPv6 peer not dropped by ip6tables: %q", s)
	}
	checkConfined(t, s)
}

func TestApplyGrudgeRejects(t *testing.T) {
	for name, g := range map[string]Grudge{
		"unknown dropper": {"n9": {"n1"}},
		"unknown dropped": {"n1": {"n9"}},
		"self":            {"n1": {"n1"}},
	} {
		t.Run(name, func(t *testing.T) {
			fakes := fakeNodes(3)
			if _, err := ApplyGrudge(context.Background(), asNodes(fakes), g); err == nil {
				t.Error("want an error")
			}
			for _, f := range fakes {
				if len(f.scripts()) > 0 {
					t.Errorf("%s: ran commands for an invalid grudge", f.name)
				}
			}
		})
	}
}

func TestApplyGrudgePartialFailure(t *testing.T) {
	fakes := fakeNodes(3)
	fakes[1].fail = func([]string) bool { return true }
	applied, err := ApplyGrudge(context.Background(), asNodes(fakes), Complete([]string{"n1"}, []string{"n2", "n3"}))
	if err == nil || !strings.Contains(err.Error(), "partition n2") || !strings.Contains(err.Error(), "injected failure") {
		t.Errorf("want n2's failure with its stderr, got %v", err)
	}
	if !reflect.DeepEqual(applied, []string{"n1", "n3"}) {
		t.Errorf("applied on %v, want n1 n3", applied)
	}
}

// Healing must touch nothing but faultline's chain: no flush of INPUT or of
// the whole table, and a node without the chain is already healed.
func TestHealTouchesOnlyOurChain(t *testing.T) {
	tests := []struct {
		name    string
		heal    func(context.Context, []*fakeNode) error
		deletes bool // the chain itself goes away
	}{
		{"HealPartition", func(ctx context.Context, f []*fakeNode) error {
			_, err := HealPartition(ctx, asNodes(f))
			return err
		}, false},
		{"RemovePartitions", func(ctx context.Context, f []*fakeNode) error {
			return RemovePartitions(ctx, asNodes(f))
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fakes := fakeNodes(3)
			ctx := context.Background()
			if _, err := ApplyGrudge(ctx, asNodes(fakes), Halves(newRand(1), nodeNames(3))); err != nil {
				t.Fatal(err)
			}
			for range 2 { // idempotent
				if err := tt.heal(ctx, fakes); err != nil {
					t.Fatal(err)
				}
			}
			for _, f := range fakes {
				if d := f.dropping(); len(d) > 0 {
					t.Errorf("%s still drops %v", f.name, d)
				}
				scripts := f.scripts()
				for _, s := range scripts[1:] {
					checkConfined(t, s)
					if !strings.Contains(s, "-F "+Chain) {
						t.Errorf("heal does not flush our chain: %q", s)
					}
					if strings.Contains(s, "-X "+Chain) != tt.deletes {
						t.Errorf("chain deletion = %v, want %v: %q", !tt.deletes, tt.deletes, s)
					}
					// Each change is guarded by the chain's existence.
					if !strings.Contains(s, "if iptables -w -n -L "+Chain) {
						t.Errorf("heal not guarded by the chain's existence: %q", s)
					}
				}
			}
		})
	}
}

func TestScriptsConfined(t *testing.T) {
	for name, s := range map[string]string{
		"apply":  applyScript([]netip.Addr{netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("fd00::1")}, true),
		"heal":   healScript(),
		"remove": removeScript(),
	} {
		t.Run(name, func(t *testing.T) {
			if n := checkConfined(t, s); n < 2 {
				t.Errorf("only %d iptables commands in %q", n, s)
			}
			if slices.ContainsFunc(strings.Fields(s), func(w string) bool { return w == "--flush" || w == "-t" }) {
				t.Errorf("touches other tables or flushes broadly: %q", s)
			}
		})
	}
}
