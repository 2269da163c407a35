package nuker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/faultline/faultline/harness/docker"
	"github.com/faultline/faultline/harness/docker/dockerenv"
	"github.com/faultline/faultline/harness/node"
)

// rttStats pings to's address from from count times, 20 ms apart, and
// returns the round trips in milliseconds and the echo sequence numbers,
// both in the order the replies arrived.
func rttStats(ctx context.Context, t *testing.T, from node.Node, to string, count int) (rtts []float64, seqs []int) {
	t.Helper()
	res, _ := from.Exec(ctx, "ping", "-n", "-c", strconv.Itoa(count), "-i", "0.02", "-W", "2", to)
	for _, m := range regexp.MustCompile(`icmp_seq=(\d+) ttl=\d+ time=([\d.]+) ms`).FindAllStringSubmatch(string(res.Stdout), -1) {
		seq, _ := strconv.Atoi(m[1])
		rtt, _ := strconv.ParseFloat(m[2], 64)
		seqs = append(seqs, seq)
		rtts = append(rtts, rtt)
	}
	if len(rtts) < count*9/10 {
		t.Fatalf("ping %s -> %s: %d of %d replies: %s", from.Name(), to, len(rtts), count, res.Stdout)
	}
	return rtts, seqs
}

// summary is the minimum, median, maximum and standard deviation of xs.
func summary(xs []float64) (lo, med, hi, sd float64) {
	s := slices.Sorted(slices.Values(xs))
	var sum, sq float64
	for _, x := range s {
		sum += x
	}
	mean := sum / float64(len(s))
	for _, x := range s {
		sq += (x - mean) * (x - mean)
	}
	return s[0], s[len(s)/2], s[len(s)-1], math.Sqrt(sq / float64(len(s)))
}

// outOfOrder counts replies that arrived after one with a higher sequence
// number.
func outOfOrder(seqs []int) int {
	n, top := 0, -1
	for _, s := range seqs {
		if s < top {
			n++
		}
		top = max(top, s)
	}
	return n
}

// delayHelpers lists the delay helpers of run.
func delayHelpers(ctx context.Context, t *testing.T, cli *client.Client, run string) []string {
	t.Helper()
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", docker.LabelRun+"="+run), filters.Arg("label", docker.LabelRole+"=delay-helper"))})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range cs {
		out = append(out, strings.Join(c.Names, ","))
	}
	return out
}

// TestDelayDocker measures delay with jitter and reordering between two
// containers through the NFQUEUE delayer, the undo, the traffic's path
// when a delayer dies, and the final heal.
func TestDelayDocker(t *testing.T) {
	cli := dockerenv.NeedDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ref, err := docker.BaseImage(ctx, cli, nil, func(format string, args ...any) { t.Logf("image: "+format, args...) })
	if err != nil {
		t.Fatalf("base image: %v", err)
	}
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	run := "test-delay-" + hex.EncodeToString(suffix[:])
	cl, err := docker.StartCluster(ctx, cli, docker.ClusterSpec{RunID: run, Image: ref, Nodes: 2})
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	t.Cleanup(func() {
		if err := cl.Remove(context.Background()); err != nil {
			t.Errorf("remove cluster: %v", err)
		}
		if h := delayHelpers(context.Background(), t, cli, run); len(h) > 0 {
			t.Errorf("delay helpers left after the cluster: %v", h)
		}
	})
	nodes := cl.Nodes()
	n1, n2 := nodes[0], nodes[1]
	to := n2.Addr().String()
	const pings = 100

	rtts, _ := rttStats(ctx, t, n1, to, 20)
	_, baseMed, _, _ := summary(rtts)
	t.Logf("before: median RTT %.2f ms", baseMed)

	cases := []struct {
		name string
		plan *PacketPlan
		// The one-way hold is uniform on [min, max] ms, or 0 for the
		// reorder share; the way back is not delayed.
		minMs, maxMs float64
		sdMin, sdMax float64
		reorderMin   int
	}{
		{"delay 200ms±100ms", &PacketPlan{Mode: PacketDelay, DelayMs: 200, JitterMs: 100, Queue: 1201, Links: Grudge{"n2": {"n1"}}},
			// Uniform on [100, 300]: standard deviation 200/√12 ≈ 58 ms.
			100, 300, 40, 75, 10},
		{"delay 100ms", &PacketPlan{Mode: PacketDelay, DelayMs: 100, Queue: 1202, Links: Grudge{"n2": {"n1"}}},
			100, 100, 0, 10, 0},
		{"reorder 50%", &PacketPlan{Mode: PacketReorder, Percent: 50, DelayMs: 200, Queue: 1203, Links: Grudge{"n2": {"n1"}}},
			// Half the packets at once, half held 200 ms: sd ≈ 100 ms.
			0, 200, 80, 120, 20},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			done, err := ApplyPacket(ctx, nodes, c.plan, nil)
			if err != nil || !slices.Equal(done, []string{"n1"}) {
				t.Fatalf("ApplyPacket: %v (on %v, want the sender n1)", err, done)
			}
			if h := delayHelpers(ctx, t, cli, run); len(h) != 1 {
				t.Errorf("delay helpers while delayed: %v", h)
			}
			rtts, seqs := rttStats(ctx, t, n1, to, pings)
			lo, med, hi, sd := summary(rtts)
			ooo := outOfOrder(seqs)
			var missing []int
			for i := 1; i <= pings; i++ {
				if !slices.Contains(seqs, i) {
					missing = append(missing, i)
				}
			}
			// The delayer holds packets, it never loses them.
			if len(missing) > 0 {
				t.Errorf("no reply to echo requests %v", missing)
			}
			t.Logf("%s n1 -> n2: %d replies, RTT min %.1f median %.1f max %.1f sd %.1f ms, %d replies out of order",
				c.name, len(rtts), lo, med, hi, sd, ooo)
			// A few ms of slack for the helper's timers and a loaded machine.
			if lo < c.minMs-1 || hi > c.maxMs+40 {
				t.Errorf("RTT range %.1f..%.1f ms, want within %.0f..%.0f", lo, hi, c.minMs, c.maxMs)
			}
			if sd < c.sdMin || sd > c.sdMax {
				t.Errorf("RTT standard deviation %.1f ms, want %.0f..%.0f", sd, c.sdMin, c.sdMax)
			}
			if ooo < c.reorderMin {
				t.Errorf("%d replies out of order, want at least %d", ooo, c.reorderMin)
			}
			if c.reorderMin == 0 && ooo != 0 {
				t.Errorf("a constant delay reordered %d replies", ooo)
			}
			if _, err := StopPacket(ctx, nodes, c.plan, nil); err != nil {
				t.Fatal(err)
			}
			rtts, _ = rttStats(ctx, t, n1, to, 20)
			_, med, _, _ = summary(rtts)
			t.Logf("after stop: median RTT %.2f ms", med)
			if med > baseMed+5 {
				t.Errorf("after stop: median RTT %.2f ms (before %.2f)", med, baseMed)
			}
			if l := leftovers(ctx, t, n1); strings.Contains(l, "NFQUEUE") {
				t.Errorf("rules after stop: %s", l)
			}
			if h := delayHelpers(ctx, t, cli, run); len(h) != 0 {
				t.Errorf("delay helpers after stop: %v", h)
			}
		})
	}

	t.Run("delayer dies", func(t *testing.T) {
		plan := &PacketPlan{Mode: PacketDelay, DelayMs: 200, Queue: 1204, Links: Grudge{"n2": {"n1"}}}
		if _, err := ApplyPacket(ctx, nodes, plan, nil); err != nil {
			t.Fatal(err)
		}
		h := delayHelpers(ctx, t, cli, run)
		if len(h) != 1 {
			t.Fatalf("delay helpers: %v", h)
		}
		if err := cli.ContainerKill(ctx, strings.TrimPrefix(h[0], "/"), "KILL"); err != nil {
			t.Fatal(err)
		}
		// The rule is still there: --queue-bypass lets traffic through.
		if l := leftovers(ctx, t, n1); !strings.Contains(l, "NFQUEUE") {
			t.Fatalf("rule gone with the delayer: %q", l)
		}
		rtts, _ := rttStats(ctx, t, n1, to, 20)
		_, med, _, _ := summary(rtts)
		t.Logf("delayer killed, rule in place: %d of 20 replies, median RTT %.2f ms", len(rtts), med)
		if med > baseMed+5 {
			t.Errorf("with the delayer dead: median RTT %.2f ms", med)
		}
		// The final heal removes the rule and the dead helper.
		if err := RemovePackets(ctx, nodes); err != nil {
			t.Fatal(err)
		}
		if l := leftovers(ctx, t, n1); l != "" {
			t.Errorf("rules after the final heal: %s", l)
		}
		if h := delayHelpers(ctx, t, cli, run); len(h) != 0 {
			t.Errorf("delay helpers after the final heal: %v", h)
		}
	})
}
