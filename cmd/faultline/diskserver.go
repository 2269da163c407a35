package main

import "github.com/faultline/faultline/nuker/disk/diskcmd"

// diskArgs says whether faultline was invoked as the disk-fault filesystem's
// command and with which arguments for it: under the name faultline-disk
// (how a disk helper container runs its copy), or as "faultline __disk ARGS".
func diskArgs(args []string) ([]string, bool) {
	return helperArgs(args, diskcmd.Name, diskcmd.Subcommand)
}
