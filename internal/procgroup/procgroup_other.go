//go:build !unix

package procgroup

import (
	"os"
	"os/exec"
)

func configure(cmd *exec.Cmd, sig os.Signal) {
	cmd.Cancel = func() error { return cmd.Process.Signal(sig) }
}

func killGroup(pgid int) {}
