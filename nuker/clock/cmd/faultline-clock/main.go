// Command faultline-clock is the clock injector on its own (package
// nuker/clock/injectcmd documents its commands). The faultline binary
// carries the same injector, so this command is only needed where a
// smaller, separate binary is wanted ($FAULTLINE_CLOCK_INJECTOR).
package main

import (
	"os"

	"github.com/faultline/faultline/nuker/clock/injectcmd"
)

func main() {
	os.Exit(injectcmd.Main(os.Args[1:], os.Stdout, os.Stderr))
}
