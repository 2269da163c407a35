package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/faultline/faultline/internal/buildinfo"
)

// versionCommand prints what --version prints: the version, the commit
// and the Go toolchain faultline was built from (results.json records the
// same under run.provenance).
func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print faultline's version, VCS revision and Go version",
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return usage("version takes no arguments")
			}
			fmt.Fprintf(c.App.Writer, "%s version %s\n", c.App.Name, buildinfo.Get())
			return nil
		},
	}
}
