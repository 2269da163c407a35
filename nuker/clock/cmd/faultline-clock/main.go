// Command faultline-clock is the clock injector on its own (package
// nuker/clock/injectcmd documents its commands). The faultline binary
// carries the same injector, so this command is only needed where a
// smaller, separate binary is wanted ($FAULTLINE_CLOCK_INJECTOR). Like
// faultline, it also carries the packet delayer (package nuker/delay) as
// "faultline-clock __packet-delayer": the Docker runtime copies one binary
// into both kinds of helper.
package main

import (
	"os"

	"github.com/faultline/faultline/nuker/clock/injectcmd"
	"github.com/faultline/faultline/nuker/delay"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == delay.Subcommand {
		os.Exit(delay.Main(os.Args[2:], os.Stdout, os.Stderr))
	}
	os.Exit(injectcmd.Main(os.Args[1:], os.Stdout, os.Stderr))
}
