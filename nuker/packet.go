package nuker

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/nuker/delay"
)

// PacketChain is the iptables chain packet faults own, in the filter table
// (jumped to from INPUT: loss) and in the mangle table (jumped to from
// POSTROUTING: duplication), and in the raw table (jumped to from OUTPUT:
// NFQUEUE to a delayer, for delay and reorder). It is apart from the partition's Chain, so a
// partition's heal and a packet fault's stop never undo each other.
const PacketChain = "FAULTLINE-PKT"

// packetHandle is the handle of the tbf qdisc a rate fault installs: the
// heal deletes a root qdisc only when it is ours, so a machine's own
// queueing discipline is never touched.
const packetHandle = "fa17:"

// Packet fault modes: the packet kind's variants.
const (
	PacketLoss      = "loss"
	PacketDuplicate = "duplicate"
	PacketRate      = "rate"
)

// Delay fault modes (the delay kind's, which shares PacketPlan and the
// packet chain): packets held in a user-space delayer (package nuker/delay)
// that an NFQUEUE rule hands them to.
const (
	PacketDelay   = "delay"
	PacketReorder = "reorder"
)

// PacketModes lists the packet fault modes, in draw order.
func PacketModes() []string { return []string{PacketLoss, PacketDuplicate, PacketRate} }

// delayed reports whether mode holds packets in a delayer.
func delayed(mode string) bool { return mode == PacketDelay || mode == PacketReorder }

// PacketPlan is what a packet step does, as its start invocation records
// it.
type PacketPlan struct {
	// Mode is loss, duplicate or rate.
	Mode string `json:"mode"`
	// Scope is "link" (between two nodes) or "node" (a node and all its
	// peers), for loss and duplicate.
	Scope string `json:"scope,omitempty"`
	// Direction is "both" or "one" (only toward Links' receivers from
	// the node the scope names), for loss and duplicate.
	Direction string `json:"direction,omitempty"`
	// Links maps a receiving node to the senders whose packets to it are
	// dropped or duplicated: loss acts at the receiver (INPUT), duplication
	// at the sender (POSTROUTING), so both see only traffic between nodes,
	// never the clients'.
	Links Grudge `json:"links,omitempty"`
	// Percent is the share of those packets dropped or duplicated.
	Percent int `json:"percent,omitempty"`
	// RateKbit caps the egress of the step's nodes, in kbit/s (rate).
	RateKbit int `json:"rate_kbit,omitempty"`
	// DelayMs and JitterMs are the delayer's hold: DelayMs plus a uniform
	// draw from [-JitterMs, +JitterMs] (delay, reorder). For reorder,
	// Percent is the share of packets sent on at once, unheld.
	DelayMs  int `json:"delay_ms,omitempty"`
	JitterMs int `json:"jitter_ms,omitempty"`
	// Queue is the nfnetlink queue number the step's rules and delayers
	// use (delay, reorder): each step its own, so steps can overlap.
	Queue uint16 `json:"queue,omitempty"`
}

// Nodes are the nodes a plan acts on, sorted: for loss the receivers, for
// duplication the senders; rate acts on the step's own nodes.
func (p *PacketPlan) Nodes() []string {
	var out []string
	switch p.Mode {
	case PacketLoss:
		for r, ss := range p.Links {
			if len(ss) > 0 {
				out = append(out, r)
			}
		}
	case PacketDuplicate, PacketDelay, PacketReorder:
		for _, ss := range p.Links {
			out = append(out, ss...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Describe says in a few words what the plan does on nodes (the rate
// fault's nodes; the others name theirs in Links), for the report's fault
// table: "loss 20% n1->n2, n2->n1", "rate 1024 kbit/s on n1".
func (p *PacketPlan) Describe(nodes []string) string {
	if p.Mode == PacketRate {
		return fmt.Sprintf("rate %d kbit/s on %s", p.RateKbit, strings.Join(nodes, ","))
	}
	var links []string
	for _, r := range slices.Sorted(maps.Keys(p.Links)) {
		for _, s := range p.Links[r] {
			links = append(links, s+"->"+r)
		}
	}
	slices.Sort(links)
	switch p.Mode {
	case PacketDelay:
		return fmt.Sprintf("delay %dms±%dms %s", p.DelayMs, p.JitterMs, strings.Join(links, ", "))
	case PacketReorder:
		return fmt.Sprintf("reorder %d%% (others %dms±%dms) %s", p.Percent, p.DelayMs, p.JitterMs, strings.Join(links, ", "))
	}
	return fmt.Sprintf("%s %d%% %s", p.Mode, p.Percent, strings.Join(links, ", "))
}

// check refuses a plan that cannot be applied.
func (p *PacketPlan) check() error {
	switch p.Mode {
	case PacketLoss, PacketDuplicate, PacketDelay, PacketReorder:
		if p.Mode != PacketDelay && (p.Percent < 1 || p.Percent > 100) {
			return fmt.Errorf("packet %s: percent %d is not in 1..100", p.Mode, p.Percent)
		}
		if delayed(p.Mode) {
			if err := p.delayConfig().Check(); err != nil {
				return fmt.Errorf("packet %s: %w", p.Mode, err)
			}
			if p.Queue == 0 {
				return fmt.Errorf("packet %s: no queue number", p.Mode)
			}
		}
		if len(p.Nodes()) == 0 {
			return fmt.Errorf("packet %s: no links", p.Mode)
		}
		for r, ss := range p.Links {
			if slices.Contains(ss, r) {
				return fmt.Errorf("packet %s: node %s linked to itself", p.Mode, r)
			}
		}
	case PacketRate:
		if p.RateKbit < 8 {
			return fmt.Errorf("packet rate: %d kbit/s is too low", p.RateKbit)
		}
	default:
		return fmt.Errorf("unknown packet mode %q (known: %v)", p.Mode, append(PacketModes(), PacketDelay, PacketReorder))
	}
	return nil
}

// delayConfig is what the plan's delayers do.
func (p *PacketPlan) delayConfig() delay.Config {
	c := delay.Config{Delay: time.Duration(p.DelayMs) * time.Millisecond, Jitter: time.Duration(p.JitterMs) * time.Millisecond}
	if p.Mode == PacketReorder {
		c.Reorder = p.Percent
	}
	return c
}

// delayerArgs are the delayer's run flags for the plan.
func (p *PacketPlan) delayerArgs() []string {
	c := p.delayConfig()
	return []string{"--delay", c.Delay.String(), "--jitter", c.Jitter.String(), "--reorder", strconv.Itoa(c.Reorder)}
}

// ApplyPacket starts plan on the nodes it names (for rate: on names) and
// returns the sorted names where it took effect and the errors of the
// others, joined. Each step adds rules of its own (and StopPacket deletes
// exactly those), so overlapping packet steps of several lanes coexist.
func ApplyPacket(ctx context.Context, nodes []node.Node, plan *PacketPlan, names []string) ([]string, error) {
	return packetOnEach(ctx, nodes, plan, names, true)
}

// StopPacket undoes what ApplyPacket did with plan: it deletes the plan's
// rules, or the rate fault's qdisc, where they are. Missing rules are
// no error: the start may have failed there.
func StopPacket(ctx context.Context, nodes []node.Node, plan *PacketPlan, names []string) ([]string, error) {
	return packetOnEach(ctx, nodes, plan, names, false)
}

// packetOnEach runs plan's start (add) or stop script on its nodes in
// parallel.
func packetOnEach(ctx context.Context, nodes []node.Node, plan *PacketPlan, names []string, add bool) ([]string, error) {
	if err := plan.check(); err != nil {
		return nil, err
	}
	byName := map[string]node.Node{}
	for _, n := range nodes {
		byName[n.Name()] = n
	}
	if plan.Mode != PacketRate {
		names = plan.Nodes()
	}
	var on []node.Node
	for _, name := range names {
		n, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("packet %s: unknown node %q", plan.Mode, name)
		}
		on = append(on, n)
	}
	for _, ss := range plan.Links {
		for _, s := range ss {
			if _, ok := byName[s]; !ok {
				return nil, fmt.Errorf("packet %s: unknown node %q", plan.Mode, s)
			}
		}
	}
	verb := "stop"
	if add {
		verb = "start"
	}
	return onEach(ctx, on, func(ctx context.Context, n node.Node) error {
		d, ok := n.(node.Delayer)
		if delayed(plan.Mode) && !ok {
			return fmt.Errorf("%s packet %s on %s: this runtime cannot run a packet delayer", verb, plan.Mode, n.Name())
		}
		// The delayer binds its queue before any rule sends packets to it,
		// and goes after the rules (--queue-bypass covers the gaps).
		if delayed(plan.Mode) && add {
			if err := d.StartDelayer(ctx, plan.Queue, plan.delayerArgs()); err != nil {
				return fmt.Errorf("start packet %s on %s: %w", plan.Mode, n.Name(), err)
			}
		}
		script := packetScript(plan, n, byName, add)
		if _, err := node.ToolsOf(n).Exec(ctx, "sh", "-c", script); err != nil {
			return fmt.Errorf("%s packet %s on %s: %w", verb, plan.Mode, n.Name(), err)
		}
		if delayed(plan.Mode) && !add {
			if err := d.StopDelayer(ctx, plan.Queue); err != nil {
				return fmt.Errorf("stop packet %s on %s: %w", plan.Mode, n.Name(), err)
			}
		}
		return nil
	})
}

// packetScript is the shell script that adds (or deletes) plan's part on n.
func packetScript(plan *PacketPlan, n node.Node, byName map[string]node.Node, add bool) string {
	var sb strings.Builder
	sb.WriteString("set -e\n")
	if plan.Mode == PacketRate {
		if add {
			fmt.Fprintf(&sb, "%s\ntc qdisc replace dev \"$dev\" root handle %s %s\n", findDev(n.Addr().Unmap()), packetHandle, tbfArgs(plan.RateKbit))
		} else {
			fmt.Fprintf(&sb, "%s\n%s\n", findDev(n.Addr().Unmap()), delOurQdisc())
		}
		return sb.String()
	}
	prob := strconv.FormatFloat(float64(plan.Percent)/100, 'f', -1, 64)
	stat := "-m statistic --mode random --probability " + prob
	// rule is one rule's table, hook and spec on n, for each peer.
	type rule struct {
		tool, table, hook, spec string
	}
	var rules []rule
	switch plan.Mode {
	case PacketLoss:
		for _, s := range plan.Links[n.Name()] {
			a := byName[s].Addr().Unmap()
			rules = append(rules, rule{iptables(a), "filter", "INPUT", fmt.Sprintf("-s %s %s -j DROP", a, stat)})
		}
	case PacketDuplicate, PacketDelay, PacketReorder:
		for _, r := range slices.Sorted(maps.Keys(plan.Links)) {
			if !slices.Contains(plan.Links[r], n.Name()) {
				continue
			}
			a := byName[r].Addr().Unmap()
			if plan.Mode == PacketDuplicate {
				// The clone goes to the receiver itself as its next hop: on
				// one link layer it arrives there as a second copy.
				rules = append(rules, rule{iptables(a), "mangle", "POSTROUTING", fmt.Sprintf("-d %s %s -j TEE --gateway %s", a, stat, a)})
				continue
			}
			// Queued in raw OUTPUT, before connection tracking: a packet held
			// later, with its conntrack entry not yet confirmed, makes the
			// next packets of its flow clash with that entry and be dropped
			// (measured: pings 2 to 5 lost behind a held first one).
			rules = append(rules, rule{iptables(a), "raw", "OUTPUT", fmt.Sprintf("-d %s -j NFQUEUE --queue-num %d --queue-bypass", a, plan.Queue)})
		}
	}
	for _, r := range rules {
		t := fmt.Sprintf("%s -t %s", r.tool, r.table)
		if add {
			// -N fails when the chain exists; the jump is added once.
			fmt.Fprintf(&sb, "%s -N %s 2>/dev/null || true\n", t, PacketChain)
			fmt.Fprintf(&sb, "%s -C %s -j %s 2>/dev/null || %s -I %s 1 -j %s\n", t, r.hook, PacketChain, t, r.hook, PacketChain)
			fmt.Fprintf(&sb, "%s -A %s %s\n", t, PacketChain, r.spec)
		} else {
			fmt.Fprintf(&sb, "if %s -C %s %s 2>/dev/null; then %s -D %s %s; fi\n", t, PacketChain, r.spec, t, PacketChain, r.spec)
		}
	}
	return sb.String()
}

// findDev sets $dev to the interface that holds addr, so rate faults work
// whatever the runtime names it (eth0 in Docker), and fails without one.
func findDev(addr netip.Addr) string {
	return devOf(addr) + fmt.Sprintf(`
[ -n "$dev" ] || { echo "no interface holds %s" >&2; exit 1; }`, addr)
}

// devOf sets $dev to the interface that holds addr, or to "".
func devOf(addr netip.Addr) string {
	bits := 32
	if addr.Is6() {
		bits = 128
	}
	return fmt.Sprintf(`dev=$(ip -o addr show to %s/%d | awk '{print $2; exit}')`, addr, bits)
}

// tbfArgs caps egress at kbit kbit/s. The bucket holds a few full frames
// (less would drop every large packet) and packets wait at most 200 ms in
// the queue before they are dropped.
func tbfArgs(kbit int) string {
	return fmt.Sprintf("tbf rate %dkbit burst 16kb latency 200ms", kbit)
}

// delOurQdisc deletes the root qdisc of $dev when it is faultline's tbf.
func delOurQdisc() string {
	return fmt.Sprintf("if tc qdisc show dev \"$dev\" root | grep -q ' %s '; then tc qdisc del dev \"$dev\" root; fi", packetHandle)
}

// RemovePackets removes every packet fault from every node, knowing
// nothing of what was applied: faultline's packet chains in both tables
// and families, and faultline's tbf qdisc. A node without iptables or tc
// has nothing of ours to remove.
func RemovePackets(ctx context.Context, nodes []node.Node) error {
	_, err := onEach(ctx, nodes, func(ctx context.Context, n node.Node) error {
		if _, err := node.ToolsOf(n).Exec(ctx, "sh", "-c", removePacketScript(n.Addr().Unmap())); err != nil {
			return fmt.Errorf("remove packet faults on %s: %w", n.Name(), err)
		}
		if d, ok := n.(node.Delayer); ok {
			return d.StopDelayers(ctx)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("packet: %w", err)
	}
	return nil
}

// removePacketScript deletes our chains and jumps and our qdisc.
func removePacketScript(addr netip.Addr) string {
	var sb strings.Builder
	sb.WriteString("set -e\n")
	for _, tool := range []string{"iptables", "ip6tables"} {
		for _, th := range [][2]string{{"filter", "INPUT"}, {"mangle", "POSTROUTING"}, {"raw", "OUTPUT"}} {
			t := fmt.Sprintf("%s -w -t %s", tool, th[0])
			fmt.Fprintf(&sb, "if command -v %s >/dev/null && %s -n -L %s >/dev/null 2>&1; then\n", tool, t, PacketChain)
			fmt.Fprintf(&sb, "  %s -F %s\n", t, PacketChain)
			fmt.Fprintf(&sb, "  while %s -D %s -j %s 2>/dev/null; do :; done\n", t, th[1], PacketChain)
			fmt.Fprintf(&sb, "  %s -X %s\n", t, PacketChain)
			sb.WriteString("fi\n")
		}
	}
	// A rate fault fails where no interface holds the node's address (a
	// machine behind NAT), so no qdisc of ours can be there: no error.
	fmt.Fprintf(&sb, "if command -v tc >/dev/null && command -v ip >/dev/null; then\n%s\nif [ -n \"$dev\" ]; then %s; fi\nfi\n", devOf(addr), delOurQdisc())
	return sb.String()
}
