package maelstrom

import (
	"io"

	"github.com/faultline/faultline/targets"
)

// The capabilities this target offers, checked at compile time.
var (
	_ targets.Target       = (*Target)(nil)
	_ targets.FaultLimiter = (*Target)(nil)
	_ targets.NodeChecker  = (*Target)(nil)
	// Its shims count messages (Maelstrom's network statistics).
	_ targets.MessageCounter = (*Target)(nil)
	_ io.Closer              = (*Target)(nil)
	// A node program that exits by itself ends the run.
	_ targets.CrashWatcher = (*Target)(nil)
)
