// Package procgroup stops a command together with the processes it starts.
// exec.CommandContext signals only the command itself, but go (compile,
// link) and mmdebstrap (apt, dpkg, tar) do their work in children that
// would outlive it.
package procgroup

import (
	"os"
	"os/exec"
	"time"
)

// Configure makes cmd, which must come from exec.CommandContext and not be
// started yet, the leader of a new process group. When the context is done
// the whole group gets sig (as a terminal's Ctrl-C would send SIGINT to it),
// and the leader is killed if it has not exited grace later. Call Kill after
// cmd.Wait to remove whatever the group left behind.
//
// Where process groups do not exist, only the command is signalled.
func Configure(cmd *exec.Cmd, sig os.Signal, grace time.Duration) {
	configure(cmd, sig)
	cmd.WaitDelay = grace
}

// Kill sends SIGKILL to what is left of cmd's process group, once cmd.Wait
// has returned. It does nothing when the group is empty.
func Kill(cmd *exec.Cmd) {
	if cmd.Process != nil {
		killGroup(cmd.Process.Pid)
	}
}
