// Command faultline-disk is the disk-fault filesystem's server and control
// client on its own (package nuker/disk/diskcmd documents its commands). The
// faultline binary carries the same command; this one is the smaller binary
// built for helper containers when faultline itself cannot run there.
package main

import (
	"os"

	"github.com/faultline/faultline/nuker/disk/diskcmd"
)

func main() {
	os.Exit(diskcmd.Main(os.Args[1:], os.Stdout, os.Stderr))
}
