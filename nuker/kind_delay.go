package nuker

import (
	"context"
	"math/rand/v2"

	"github.com/faultline/faultline/harness/node"
)

// FaultDelay holds packets between nodes in a user-space delayer: delay
// with jitter, or reordering (see PacketPlan, packet.go and nuker/delay).
const FaultDelay = "delay"

// Delay kind variants: delay/jitter holds every packet DelayMs±JitterMs;
// delay/reorder sends a share of packets on at once and holds the rest.
const (
	DelayJitter  = "jitter"
	DelayReorder = "reorder"
)

// The delay kind's defaults: 200 ms ± 100 ms, and for reorder 200 ms with
// 25% or 50% of the packets overtaking the held ones.
const (
	delayDefaultMs  = 200
	jitterDefaultMs = 100
)

// delayKind delays or reorders packets between nodes: iptables NFQUEUE
// rules (--queue-bypass) in the packet chain hand the chosen traffic to
// a delayer in a helper sharing the sender's network namespace. It is a
// kind of its own, after packet in Kinds, so seeded schedules of the
// packet kind draw as before.
type delayKind struct{ packetKind }

func (delayKind) Name() string { return FaultDelay }

func (delayKind) Summary() string {
	return "hold packets between nodes in a user-space delayer (iptables NFQUEUE, no netem needed): jitter (200ms±100ms uniform), reorder (25% or 50% sent at once, the rest held 200ms); per link or per node, one way or both"
}

func (delayKind) Variants() []string { return []string{DelayJitter, DelayReorder} }

func (delayKind) Needs() node.Needs { return node.Needs{Iptables: true, Delay: true} }

func (delayKind) draw(k *Nuker, r *rand.Rand, variant string) Step {
	return drawDelay(r, variant, k.names)
}

// drawDelay draws a delay step on nodes (sorted) from r alone.
func drawDelay(r *rand.Rand, variant string, nodes []string) Step {
	if variant == "" {
		variant = []string{DelayJitter, DelayReorder}[r.IntN(2)]
	}
	p := &PacketPlan{Mode: PacketDelay, DelayMs: delayDefaultMs, JitterMs: jitterDefaultMs}
	if variant == DelayReorder {
		p.Mode, p.JitterMs = PacketReorder, 0
		p.Percent = []int{25, 50}[r.IntN(2)]
	}
	// Queue numbers from 1000 up leave the low ones to the machine's own.
	p.Queue = uint16(1000 + r.IntN(60000))
	s := Step{Fault: FaultDelay, Packet: p}
	s.Nodes = drawLinks(r, p, nodes)
	return s
}

// finalHeal does nothing: the packet kind's, asked at every final heal
// whatever the fault set, removes the packet chains and every delayer.
func (delayKind) finalHeal(context.Context, *Nuker) error { return nil }
