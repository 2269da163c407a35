//go:build unix

package procgroup

import (
	"os"
	"os/exec"
	"syscall"
)

func configure(cmd *exec.Cmd, sig os.Signal) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.Cancel = func() error {
		s, ok := sig.(syscall.Signal)
		if !ok {
			s = syscall.SIGKILL
		}
		return syscall.Kill(-cmd.Process.Pid, s)
	}
}

func killGroup(pgid int) { syscall.Kill(-pgid, syscall.SIGKILL) }
