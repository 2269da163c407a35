package nuker

import (
	"context"

	"github.com/faultline/faultline/harness/node"
)

// killKind SIGKILLs the target's process on some nodes and restarts it at
// the stop. It also hits all nodes (recovery from a full crash).
func killKind() Kind {
	return processKind{
		name:    FaultKill,
		summary: "SIGKILL the target process on one node, a minority, a majority, all or the primaries, then restart it",
		drawAll: true,
		act:     func(t Target) func(context.Context, node.Node) error { return t.Kill },
		undo:    func(t Target) func(context.Context, node.Node) error { return t.Start },
		// A restarted process has a fresh vDSO: skew it again.
		reclock: true,
	}
}
