package node

import "context"

// Delayer is a node that can run faultline's packet delayer (package
// nuker/delay) in its network namespace: a helper process bound to an
// nfnetlink queue, to which the packet fault's iptables rules send the
// packets to hold.
type Delayer interface {
	// StartDelayer starts a delayer bound to queue with the delayer's run
	// flags args, and returns once the queue is bound.
	StartDelayer(ctx context.Context, queue uint16, args []string) error
	// StopDelayer stops the delayer of queue, which first lets every
	// packet it holds go; a delayer that is not there is no error.
	StopDelayer(ctx context.Context, queue uint16) error
	// StopDelayers stops every delayer of the node.
	StopDelayers(ctx context.Context) error
}
