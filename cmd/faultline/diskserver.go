package main

import (
	"path/filepath"

	"github.com/faultline/faultline/nuker/disk/diskcmd"
)

// diskArgs says whether faultline was invoked as the disk-fault filesystem's
// command and with which arguments for it: under the name faultline-disk
// (how a disk helper container runs its copy), or as "faultline __disk ARGS".
func diskArgs(args []string) ([]string, bool) {
	switch {
	case len(args) == 0:
		return nil, false
	case filepath.Base(args[0]) == diskcmd.Name:
		return args[1:], true
	case len(args) > 1 && args[1] == diskcmd.Subcommand:
		return args[2:], true
	}
	return nil, false
}
