package nuker

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/harness/docker/dockerenv"
	"github.com/faultline/faultline/harness/node"
)

// pingStats pings to from from count times, 10 ms apart, and returns the
// replies received and the duplicates ping reports.
func pingStats(ctx context.Context, t *testing.T, from, to *containerNode, count int) (received, dups int) {
	t.Helper()
	// ping exits 1 when replies are missing: the summary is what counts.
	res, _ := from.Exec(ctx, "ping", "-n", "-q", "-c", strconv.Itoa(count), "-i", "0.01", "-W", "1", to.addr.String())
	out := string(res.Stdout)
	m := regexp.MustCompile(`(\d+) received(, \+(\d+) duplicates)?`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("ping %s -> %s: no summary in %q", from.name, to.name, out)
	}
	received, _ = strconv.Atoi(m[1])
	if m[3] != "" {
		dups, _ = strconv.Atoi(m[3])
	}
	return received, dups
}

// transferMillis sends size bytes over TCP from one node to another and
// returns how long the transfer took, until the receiver had all of it.
func transferMillis(ctx context.Context, t *testing.T, from, to *containerNode, size int) int {
	t.Helper()
	const port = "7002"
	if err := to.ExecDetached(ctx, "sh", "-c", "nc -l "+port+" >/dev/null"); err != nil {
		t.Fatal(err)
	}
	if _, err := to.Exec(ctx, "sh", "-c", "for i in $(seq 50); do ss -ltn | grep -q ':"+port+" ' && exit 0; sleep 0.1; done; exit 1"); err != nil {
		t.Fatalf("%s: no listener on %s: %v", to.name, port, err)
	}
	script := fmt.Sprintf(`s=$(date +%%s%%N); head -c %d /dev/zero | nc -N %s %s; e=$(date +%%s%%N); echo $(( (e - s) / 1000000 ))`, size, to.addr, port)
	res, err := from.Exec(ctx, "sh", "-c", script)
	if err != nil {
		t.Fatalf("transfer %s -> %s: %v", from.name, to.name, err)
	}
	ms, err := strconv.Atoi(strings.TrimSpace(string(res.Stdout)))
	if err != nil {
		t.Fatalf("transfer time %q: %v", res.Stdout, err)
	}
	return ms
}

// leftovers returns what of faultline's packet faults is on n.
func leftovers(ctx context.Context, t *testing.T, n node.Node) string {
	t.Helper()
	res, err := n.Exec(ctx, "sh", "-c", "iptables -w -S; iptables -w -t mangle -S; iptables -w -t raw -S; tc qdisc show")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(res.Stdout), "\n") {
		if strings.Contains(l, PacketChain) || strings.Contains(l, "tbf") {
			out = append(out, l)
		}
	}
	return strings.Join(out, " | ")
}

// TestPacketDocker measures each packet fault between two containers,
// then its undo, and that the final heal leaves nothing behind.
func TestPacketDocker(t *testing.T) {
	cli := dockerenv.NeedDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cn := startCluster(ctx, t, cli, 2)
	nodes := []node.Node{cn[0], cn[1]}
	n1, n2 := cn[0], cn[1]
	t.Cleanup(func() { _ = RemovePackets(context.Background(), nodes) })
	if err := RemovePackets(ctx, nodes); err != nil {
		t.Fatalf("RemovePackets on fresh nodes: %v", err)
	}
	const pings = 400

	t.Run("loss", func(t *testing.T) {
		if got, _ := pingStats(ctx, t, n1, n2, pings); got < pings-2 {
			t.Fatalf("before: %d of %d replies", got, pings)
		}
		for _, pct := range []int{20, 50} {
			plan := &PacketPlan{Mode: PacketLoss, Percent: pct, Scope: PacketScopeLink, Direction: PacketOneWay, Links: Grudge{"n2": {"n1"}}}
			if done, err := ApplyPacket(ctx, nodes, plan, nil); err != nil || len(done) != 1 {
				t.Fatalf("ApplyPacket: %v (on %v)", err, done)
			}
			got, _ := pingStats(ctx, t, n1, n2, pings)
			lost := 100 * float64(pings-got) / pings
			t.Logf("loss %d%% n1 -> n2: %d of %d echo requests answered, %.1f%% lost", pct, got, pings, lost)
			// 400 draws: the standard deviation of the share is at most 2.5
			// points; allow four of them.
			if lost < float64(pct)-10 || lost > float64(pct)+10 {
				t.Errorf("loss %d%%: measured %.1f%%", pct, lost)
			}
			if _, err := StopPacket(ctx, nodes, plan, nil); err != nil {
				t.Fatal(err)
			}
			got, _ = pingStats(ctx, t, n1, n2, pings)
			t.Logf("after stop: %d of %d answered", got, pings)
			if got < pings-2 {
				t.Errorf("after stop: %d of %d replies", got, pings)
			}
		}
	})

	t.Run("duplicate", func(t *testing.T) {
		plan := &PacketPlan{Mode: PacketDuplicate, Percent: 50, Scope: PacketScopeLink, Direction: PacketOneWay, Links: Grudge{"n2": {"n1"}}}
		if done, err := ApplyPacket(ctx, nodes, plan, nil); err != nil || len(done) != 1 || done[0] != "n1" {
			t.Fatalf("ApplyPacket: %v (on %v, want the sender n1)", err, done)
		}
		got, dups := pingStats(ctx, t, n1, n2, pings)
		t.Logf("duplicate 50%% n1 -> n2: %d replies, +%d duplicates of %d", got, dups, pings)
		if got < pings-2 || dups < pings*35/100 || dups > pings*65/100 {
			t.Errorf("duplicate 50%%: %d replies and %d duplicates of %d pings", got, dups, pings)
		}
		if _, err := StopPacket(ctx, nodes, plan, nil); err != nil {
			t.Fatal(err)
		}
		got, dups = pingStats(ctx, t, n1, n2, pings)
		t.Logf("after stop: %d replies, +%d duplicates", got, dups)
		if dups != 0 {
			t.Errorf("after stop: %d duplicates", dups)
		}
	})

	t.Run("rate", func(t *testing.T) {
		const size = 256 << 10
		before := transferMillis(ctx, t, n1, n2, size)
		plan := &PacketPlan{Mode: PacketRate, RateKbit: 1024}
		if done, err := ApplyPacket(ctx, nodes, plan, []string{"n1"}); err != nil || len(done) != 1 {
			t.Fatalf("ApplyPacket: %v (on %v)", err, done)
		}
		res, err := n1.Exec(ctx, "tc", "qdisc", "show")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("n1 qdiscs: %s", strings.Join(strings.Fields(string(res.Stdout)), " "))
		capped := transferMillis(ctx, t, n1, n2, size)
		back := transferMillis(ctx, t, n2, n1, size)
		kbit := func(ms int) float64 { return float64(size*8) / float64(max(ms, 1)) } // bit/ms = kbit/s
		t.Logf("256 KiB n1 -> n2: %d ms (%.0f kbit/s) before, %d ms (%.0f kbit/s) under a 1024 kbit/s cap; n2 -> n1 meanwhile %d ms",
			before, kbit(before), capped, kbit(capped), back)
		// 2 Mbit at 1 Mbit/s is 2 s; the bucket lets 16 KiB through at once.
		if r := kbit(capped); r < 700 || r > 1300 {
			t.Errorf("under a 1024 kbit/s cap: %.0f kbit/s", r)
		}
		if kbit(back) < 5000 || kbit(before) < 5000 {
			t.Errorf("uncapped transfers should be fast: before %d ms, n2 -> n1 %d ms", before, back)
		}
		if _, err := StopPacket(ctx, nodes, plan, []string{"n1"}); err != nil {
			t.Fatal(err)
		}
		after := transferMillis(ctx, t, n1, n2, size)
		t.Logf("after stop: %d ms (%.0f kbit/s)", after, kbit(after))
		if kbit(after) < 5000 {
			t.Errorf("after stop: %d ms", after)
		}
	})

	t.Run("final heal", func(t *testing.T) {
		// Everything at once, then only the final heal.
		plans := []struct {
			p     *PacketPlan
			nodes []string
		}{
			{&PacketPlan{Mode: PacketLoss, Percent: 50, Links: Grudge{"n1": {"n2"}, "n2": {"n1"}}}, nil},
			{&PacketPlan{Mode: PacketDuplicate, Percent: 50, Links: Grudge{"n1": {"n2"}, "n2": {"n1"}}}, nil},
			{&PacketPlan{Mode: PacketRate, RateKbit: 256}, []string{"n1", "n2"}},
		}
		for _, p := range plans {
			if _, err := ApplyPacket(ctx, nodes, p.p, p.nodes); err != nil {
				t.Fatal(err)
			}
		}
		if l := leftovers(ctx, t, n1); !strings.Contains(l, "tbf") || !strings.Contains(l, "TEE") || !strings.Contains(l, "DROP") {
			t.Fatalf("n1 before the heal: %s", l)
		}
		if err := RemovePackets(ctx, nodes); err != nil {
			t.Fatal(err)
		}
		for _, n := range cn {
			if l := leftovers(ctx, t, n); l != "" {
				t.Errorf("%s after RemovePackets: %s", n.name, l)
			}
		}
		if got, dups := pingStats(ctx, t, n1, n2, 100); got != 100 || dups != 0 {
			t.Errorf("after the heal: %d of 100 replies, %d duplicates", got, dups)
		}
	})
}
