// Command faultline runs Jepsen-style fault-injection tests against real
// distributed systems in Docker and checks the recorded histories.
//
// Exit codes: 0 valid, 1 invalid (anomaly found), 2 unknown, 3 the harness
// could not run the test (setup failure, Docker unreachable, interrupted),
// 64 bad usage.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
)

// Exit codes.
const (
	ExitValid   = 0
	ExitInvalid = 1
	ExitUnknown = 2
	ExitHarness = 3
	ExitUsage   = 64
)

// usageError marks errors in what the user asked for (exit 64).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usage(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// harnessError marks errors of the harness itself (exit 3). It is not a
// cli.ExitCoder on purpose: urfave/cli would call os.Exit for those, which
// skips deferred cleanup and kills in-process tests.
type harnessError struct{ err error }

func (e harnessError) Error() string { return e.err.Error() }
func (e harnessError) Unwrap() error { return e.err }

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// run executes the CLI and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	// The first Ctrl-C cancels ctx (the harness heals and cleans up); a
	// second one, after stop() restores default handling, kills us.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop()
	}()

	code := -1
	app := newApp(stdout, stderr, &code)
	err := app.RunContext(ctx, args)
	if err == nil {
		if code >= 0 {
			return code
		}
		return ExitValid
	}
	var ue usageError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "faultline:", err)
		return ExitUsage
	default:
		fmt.Fprintln(stderr, "faultline:", err)
		return ExitHarness
	}
}

func newApp(stdout, stderr io.Writer, code *int) *cli.App {
	onUsage := func(c *cli.Context, err error, isSubcommand bool) error { return usageError{err} }
	app := &cli.App{
		Name:  "faultline",
		Usage: "Jepsen-style fault-injection tests of real distributed systems in Docker",
		Description: `faultline starts a target system as a cluster of Docker containers, drives a
concurrent workload against it while injecting partitions, crashes and pauses,
records every operation, and checks the history against consistency models.

Exit codes: 0 valid, 1 invalid (anomaly found), 2 unknown,
3 the harness could not run the test, 64 bad usage.`,
		Writer:               stdout,
		ErrWriter:            stderr,
		EnableBashCompletion: true,
		HideHelpCommand:      true,
		OnUsageError:         onUsage,
		CommandNotFound: func(c *cli.Context, name string) {
			fmt.Fprintf(stderr, "faultline: unknown command %q (see faultline --help)\n", name)
			*code = ExitUsage
		},
		Commands: []*cli.Command{
			runCommand(code),
			suiteCommand(code),
			checkCommand(code),
			imagesCommand(),
			cleanCommand(),
			listCommand(),
		},
	}
	// Flag errors of a subcommand go to the subcommand's handler.
	for _, c := range app.Commands {
		c.OnUsageError = onUsage
	}
	return app
}

// progress returns a printer of timestamped progress lines to w, silent
// when quiet.
func progress(w io.Writer, quiet bool) func(string, ...any) {
	if quiet {
		return nil
	}
	start := time.Now()
	return func(format string, args ...any) {
		fmt.Fprintf(w, "[%6.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
}

// inCI reports whether we run under CI=true, where progress is sparser.
func inCI() bool { return os.Getenv("CI") == "true" }
