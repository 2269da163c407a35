package nuker

import (
	"context"
	"fmt"

	"github.com/faultline/faultline/harness/node"
)

// dataDirer is targets.DataDirer, which this package cannot import.
type dataDirer interface{ DataDirs() []string }

// powerKind cuts the power of some nodes: it SIGKILLs the target's process,
// has the node's disk filesystem drop everything not yet durable, and
// restarts the process at the stop. It also hits all nodes (a data-centre
// power failure).
func powerKind() Kind {
	return processKind{
		name:    FaultPower,
		summary: "power failure on one node, a minority, a majority, all or the primaries: SIGKILL the target process, drop its unfsynced writes, restart it",
		drawAll: true,
		actNuker: func(k *Nuker) func(context.Context, node.Node) error {
			return func(ctx context.Context, n node.Node) error { return powerFail(ctx, k, n) }
		},
		undo:    func(t Target) func(context.Context, node.Node) error { return t.Start },
		reclock: true,
		needs:   node.Needs{Disk: true},
		need:    "DataDirer (its data directories declared)",
		can: func(t any) bool {
			d, ok := t.(dataDirer)
			return ok && len(d.DataDirs()) > 0
		},
	}
}

// powerFail kills the target's process on n, then drops what its disk had
// not made durable. The kill comes first: no write may land after the drop.
func powerFail(ctx context.Context, k *Nuker, n node.Node) error {
	d, ok := n.(node.Disker)
	if !ok {
		return fmt.Errorf("%s: this runtime cannot fail a node's disk", n.Name())
	}
	if err := k.target.Kill(ctx, n); err != nil {
		return err
	}
	dropped, err := d.Disk(ctx, "power-fail")
	if err != nil {
		return fmt.Errorf("%s: power failure: %w", n.Name(), err)
	}
	k.log.Info("nuker: power failure dropped unsynced data", "node", n.Name(), "dropped", dropped)
	return nil
}
