package nuker

import (
	"context"

	"github.com/faultline/faultline/harness/node"
)

// pauseKind SIGSTOPs the target's process on some nodes and SIGCONTs it at
// the stop. Pausing all nodes would only stall the clients, so all is
// never drawn (a schedule may still pin it).
func pauseKind() Kind {
	return processKind{
		name:    FaultPause,
		summary: "SIGSTOP the target process on one node, a minority, a majority or the primaries, then SIGCONT it",
		act:     func(t Target) func(context.Context, node.Node) error { return t.Pause },
		undo:    func(t Target) func(context.Context, node.Node) error { return t.Resume },
	}
}
