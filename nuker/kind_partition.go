package nuker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/faultline/faultline/harness/node"
)

// partitionKind cuts the network between nodes with iptables in each
// node's namespace (see Grudge and ApplyGrudge). Its variants are the
// partition kinds (halves, one, primaries, ...).
type partitionKind struct{}

func (partitionKind) Name() string { return FaultPartition }

func (partitionKind) Summary() string {
	return "network partition by iptables in each node's namespace; the variants are the partition kinds (see PARTITIONS)"
}

func (partitionKind) Variants() []string {
	var out []string
	for _, d := range KnownPartitions() {
		out = append(out, d.Name)
	}
	return out
}

func (partitionKind) Needs() node.Needs { return node.Needs{Iptables: true} }

func (partitionKind) prepare(k *Nuker, cfg Config) error {
	var err error
	k.partitions, err = k.choosePartitions(cfg.Partitions)
	return err
}

func (partitionKind) draw(k *Nuker, r *rand.Rand, variant string) Step {
	s := Step{Fault: FaultPartition, Partition: variant}
	if s.Partition == "" {
		s.Partition = k.partitions[r.IntN(len(k.partitions))]
	}
	if s.Partition == PartitionPrimaries {
		return s // drawn at start: who is primary is known only then
	}
	g, err := MakeGrudge(s.Partition, r, k.names)
	if err != nil {
		// A pinned variant the cluster cannot make was refused by the
		// plan's check; a drawn one was validated by prepare.
		panic("nuker: partitions were validated: " + err.Error())
	}
	s.Grudge = g
	s.Nodes = g.Nodes()
	return s
}

func (partitionKind) checkPin(variant string, target Target, nodes []string) error {
	if variant == PartitionPrimaries {
		return needPrimaries(target)
	}
	_, err := MakeGrudge(variant, rand.New(rand.NewPCG(0, 0)), nodes)
	return err
}

// needPrimaries refuses a target that cannot name its primaries.
func needPrimaries(target Target) error {
	if _, ok := target.(PrimaryLister); !ok {
		return errors.New("the target cannot name its primaries")
	}
	return nil
}

// resolve draws a primaries partition: who is primary is known only now.
func (partitionKind) resolve(ctx context.Context, k *Nuker, s *Step) error {
	if s.Grudge != nil {
		return nil
	}
	return k.resolvePrimaries(ctx, s)
}

func (partitionKind) start(ctx context.Context, k *Nuker, s *Step) (any, []string, error) {
	applied, err := ApplyGrudge(ctx, k.nodes, s.Grudge)
	return s.Grudge.only(applied), missing(k.names, applied), err
}

func (partitionKind) stop(ctx context.Context, k *Nuker, s *Step) (any, error) {
	// Flush on every node, not only the grudge's: cheap, idempotent, and it
	// also clears what a partly failed injection left.
	healed, err := HealPartition(ctx, k.nodes)
	return nonNil(healed), err
}

func (partitionKind) describe(s *Step) map[string]any {
	return map[string]any{"partition": s.Partition, "grudge": s.Grudge}
}

func (partitionKind) about(s *Step) any { return s.Grudge }

func (partitionKind) restore(s *Step, _ []string) error {
	if s.Grudge == nil && s.Partition != PartitionPrimaries {
		return errors.New("partition without a grudge")
	}
	s.Nodes = s.Grudge.Nodes()
	return nil
}

// finalHeal removes faultline's partition chain from every node whether
// or not anything is known to be there (leftovers of an earlier
// controller).
func (partitionKind) finalHeal(ctx context.Context, k *Nuker) error {
	if len(k.nodes) == 0 {
		return nil
	}
	return RemovePartitions(ctx, k.nodes)
}

// resolvePrimaries fills in the grudge of a "primaries" partition: the
// target's current primaries cut off from every other node. With no
// primary known, the grudge stays empty and the error says why.
func (k *Nuker) resolvePrimaries(ctx context.Context, s *Step) error {
	prim, err := k.primaries(ctx)
	if err != nil {
		return err
	}
	var in, out []string
	for _, n := range k.names {
		if slices.Contains(prim, n) {
			in = append(in, n)
		} else {
			out = append(out, n)
		}
	}
	if len(in) == 0 || len(out) == 0 {
		return fmt.Errorf("no partition to make: primaries %v of nodes %v", prim, k.names)
	}
	s.Grudge = Complete(in, out)
	s.Nodes = s.Grudge.Nodes()
	return nil
}

// primaries asks the target for its current primaries.
func (k *Nuker) primaries(ctx context.Context) ([]string, error) {
	pl, ok := k.target.(PrimaryLister)
	if !ok {
		return nil, errors.New("the target cannot name its primaries")
	}
	prim, err := pl.Primaries(ctx)
	if err != nil {
		return nil, fmt.Errorf("finding the primaries: %w", err)
	}
	return prim, nil
}

// choosePartitions validates the requested partition kinds against the
// cluster size, or picks the applicable defaults.
func (k *Nuker) choosePartitions(want []string) ([]string, error) {
	n := len(k.nodes)
	if n < 2 {
		return nil, fmt.Errorf("nuker: a partition needs at least 2 nodes, have %d", n)
	}
	explicit := len(want) > 0
	if !explicit {
		want = DefaultPartitions()
	}
	var out []string
	for _, kind := range grudgeKinds() {
		if !slices.Contains(want, kind.Name) {
			continue
		}
		if kind.Name == PartitionPrimaries {
			if _, ok := k.target.(PrimaryLister); !ok {
				if explicit {
					return nil, fmt.Errorf("nuker: partition %q: the target cannot name its primaries", kind.Name)
				}
				continue
			}
		}
		if n < kind.minNodes {
			if explicit {
				return nil, fmt.Errorf("nuker: partition %q needs at least %d nodes, have %d", kind.Name, kind.minNodes, n)
			}
			continue
		}
		out = append(out, kind.Name)
	}
	for _, w := range want {
		if !known(KnownPartitions(), w) {
			return nil, fmt.Errorf("nuker: unknown partition %q (known: %s)", w, names(KnownPartitions()))
		}
	}
	return out, nil
}

// only returns the part of g whose dropping nodes are among names.
func (g Grudge) only(names []string) Grudge {
	out := Grudge{}
	for a, bs := range g {
		if slices.Contains(names, a) {
			out[a] = slices.Clone(bs)
		}
	}
	return out
}
