package nuker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/faultline/faultline/harness/node"
)

// FaultPacket degrades the network between nodes without cutting it: packet
// loss, duplication and bandwidth caps (see PacketPlan and packet.go).
const FaultPacket = "packet"

// Packet step scopes and directions (PacketPlan.Scope, .Direction).
const (
	PacketScopeLink = "link"
	PacketScopeNode = "node"
	PacketBoth      = "both"
	PacketOneWay    = "one"
)

// packetKind loses, duplicates or throttles packets between nodes with
// mechanisms this kernel has without netem: iptables' statistic match
// with DROP (loss) or TEE (duplication), and a tbf qdisc (rate). Its
// variants are the modes.
type packetKind struct{}

func (packetKind) Name() string { return FaultPacket }

func (packetKind) Summary() string {
	return "degrade the network between nodes: loss (iptables statistic + DROP), duplicate (statistic + TEE), rate (tbf egress cap); per link or per node, one way or both; needs no netem"
}

func (packetKind) Variants() []string { return PacketModes() }

func (packetKind) Needs() node.Needs { return node.Needs{Iptables: true, Packet: true} }

func (packetKind) prepare(k *Nuker, _ Config) error {
	if len(k.names) < 2 {
		return fmt.Errorf("nuker: a packet fault needs at least 2 nodes, have %d", len(k.names))
	}
	return nil
}

func (packetKind) draw(k *Nuker, r *rand.Rand, variant string) Step {
	return drawPacket(r, variant, k.names)
}

// drawPacket draws a packet step on nodes (sorted) from r alone.
func drawPacket(r *rand.Rand, mode string, nodes []string) Step {
	if mode == "" {
		mode = PacketModes()[r.IntN(len(PacketModes()))]
	}
	s := Step{Fault: FaultPacket}
	p := &PacketPlan{Mode: mode}
	s.Packet = p
	if mode == PacketRate {
		rates := []int{256, 1024, 8192} // kbit/s
		p.RateKbit = rates[r.IntN(len(rates))]
		choices := subsetChoices(len(nodes), false)
		c := choices[r.IntN(len(choices))]
		s.Targets = c.name
		s.Nodes = shuffled(r, nodes)[:c.size]
		sort.Strings(s.Nodes)
		return s
	}
	percents := []int{5, 20, 50}
	p.Percent = percents[r.IntN(len(percents))]
	s.Nodes = drawLinks(r, p, nodes)
	return s
}

// drawLinks draws p's scope, direction and links among nodes from r, and
// returns the nodes p acts on.
func drawLinks(r *rand.Rand, p *PacketPlan, nodes []string) []string {
	p.Scope = []string{PacketScopeLink, PacketScopeNode}[r.IntN(2)]
	p.Direction = []string{PacketBoth, PacketOneWay}[r.IntN(2)]
	order := shuffled(r, nodes)
	a := order[0]
	peers := order[1:]
	if p.Scope == PacketScopeLink {
		peers = peers[:1]
	}
	slices.Sort(peers)
	// One way is the traffic from a to its peers; both adds the way back.
	p.Links = Grudge{}
	for _, b := range peers {
		p.Links[b] = append(p.Links[b], a)
		if p.Direction == PacketBoth {
			p.Links[a] = append(p.Links[a], b)
		}
	}
	return p.Nodes()
}

func (packetKind) start(ctx context.Context, k *Nuker, s *Step) (any, []string, error) {
	want := s.Nodes
	done, err := ApplyPacket(ctx, k.nodes, s.Packet, want)
	// The plan in words: the op's nodes and failed nodes say where.
	return s.Packet.Describe(s.Nodes), missing(want, done), err
}

func (packetKind) stop(ctx context.Context, k *Nuker, s *Step) (any, error) {
	done, err := StopPacket(ctx, k.nodes, s.Packet, s.Nodes)
	return nonNil(done), err
}

func (packetKind) describe(s *Step) map[string]any {
	v := map[string]any{"packet": s.Packet, "nodes": nonNil(s.Nodes)}
	if s.Targets != "" {
		v["targets"] = s.Targets
	}
	return v
}

func (packetKind) about(s *Step) any { return s.Packet }

func (packetKind) restore(s *Step, opNodes []string) error {
	if s.Packet == nil {
		return errors.New("packet fault without its plan")
	}
	if err := s.Packet.check(); err != nil {
		return err
	}
	if s.Packet.Mode != PacketRate {
		s.Nodes = s.Packet.Nodes()
	} else if len(s.Nodes) == 0 {
		s.Nodes = slices.Clone(opNodes)
	}
	if len(s.Nodes) == 0 {
		return errors.New("packet fault without nodes")
	}
	return nil
}

// finalHeal removes faultline's packet chains and qdisc from every node,
// whatever is known to be there.
func (packetKind) finalHeal(ctx context.Context, k *Nuker) error {
	if len(k.nodes) == 0 {
		return nil
	}
	return RemovePackets(ctx, k.nodes)
}
