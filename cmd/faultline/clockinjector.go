package main

import (
	"path/filepath"

	"github.com/faultline/faultline/nuker/clock/injectcmd"
)

// injectorArgs says whether faultline was invoked as the clock injector
// and with which arguments for it: under the name faultline-clock (how the
// Docker runtime runs its copy in a clock helper container), or as
// "faultline __clock-injector ARGS". Carrying the injector lets an
// installed or copied faultline binary inject clock faults with no source
// tree at hand.
func injectorArgs(args []string) ([]string, bool) {
	return helperArgs(args, injectcmd.Name, injectcmd.Subcommand)
}

// helperArgs says whether faultline runs as the helper program name: under
// that name (argv[0]) or as "faultline SUBCOMMAND ARGS"; and with which
// arguments for it.
func helperArgs(args []string, name, subcommand string) ([]string, bool) {
	switch {
	case len(args) == 0:
		return nil, false
	case filepath.Base(args[0]) == name:
		return args[1:], true
	case len(args) > 1 && args[1] == subcommand:
		return args[2:], true
	}
	return nil, false
}
