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
	_ io.Closer            = (*Target)(nil)
)
