package node

import (
	"context"
	"fmt"
)

// Daemons is a target's database process on each node, by node name. Its
// methods are the process half of a target (what the nuker's kill and
// pause faults call), the same for every target that runs one such
// process per node; a target embeds it and fills it in Setup.
type Daemons struct {
	// System names the target in errors, e.g. "etcd".
	System string
	// ByNode maps a node's name to its process.
	ByNode map[string]Daemon
}

// Of returns the process on n.
func (s Daemons) Of(n Node) (Daemon, error) {
	d, ok := s.ByNode[n.Name()]
	if !ok {
		return d, fmt.Errorf("%s: node %s is not part of this cluster", s.System, n.Name())
	}
	return d, nil
}

// Start starts (or restarts) the process on n with its existing data. It
// is a no-op when the process runs already: the nuker restarts every node
// it tried to kill, killed or not.
func (s Daemons) Start(ctx context.Context, n Node) error {
	d, err := s.Of(n)
	if err != nil {
		return err
	}
	if up, err := d.Running(ctx, n); err != nil {
		return err
	} else if up {
		return nil
	}
	return d.Start(ctx, n)
}

// Kill kills the process on n with SIGKILL.
func (s Daemons) Kill(ctx context.Context, n Node) error {
	d, err := s.Of(n)
	if err != nil {
		return err
	}
	return d.Kill(ctx, n)
}

// Pause stops the process on n with SIGSTOP.
func (s Daemons) Pause(ctx context.Context, n Node) error {
	d, err := s.Of(n)
	if err != nil {
		return err
	}
	return d.Signal(ctx, n, "STOP")
}

// Resume continues the process on n with SIGCONT.
func (s Daemons) Resume(ctx context.Context, n Node) error {
	d, err := s.Of(n)
	if err != nil {
		return err
	}
	return d.Signal(ctx, n, "CONT")
}
