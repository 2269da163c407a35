package node

import (
	"context"
	"errors"
	"time"
)

// Clock is a Node whose target processes can be shown a skewed wall clock
// without touching the machine's own clock (the clock fault). It is
// optional: the nuker says so when a node does not implement it.
//
// The offset applies to the node's daemons (see Daemon) and to the
// processes they fork afterwards. A daemon started later sees the true
// clock until SetClockOffset is called again: after a restart, call it
// with the same offset.
type Clock interface {
	// SetClockOffset makes every daemon on the node see the wall clock
	// (CLOCK_REALTIME, gettimeofday, time) moved by d; monotonic clocks stay
	// true. Zero gives them back the true clock. It returns ErrNoDaemon when
	// no daemon is running.
	SetClockOffset(ctx context.Context, d time.Duration) error
	// ClockOffset reads the offset the node's daemons see now, against the
	// machine's clock; ErrNoDaemon when no daemon is running.
	ClockOffset(ctx context.Context) (time.Duration, error)
}

// ErrNoDaemon says that no daemon was running on the node.
var ErrNoDaemon = errors.New("no daemon running")

// ClockStrober is a Clock that can flip the offset faster than a caller of
// SetClockOffset could (the strobe clock fault): the flipping runs on the
// node's side.
type ClockStrober interface {
	Clock
	// StrobeClock starts flipping the daemons' offset between a and b every
	// period, for d, after which they are left at a. It returns once the
	// strobe has started; a SetClockOffset ends it early.
	StrobeClock(ctx context.Context, a, b, period, d time.Duration) error
}
