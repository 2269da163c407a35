// Command faultline runs Jepsen-style fault-injection tests against real
// distributed systems in Docker and checks the recorded histories.
//
// Exit codes: 0 valid, 1 invalid (anomaly found), 2 unknown, 3 the harness
// could not run the test (setup failure, Docker unreachable, interrupted),
// 4 an SLO was missed (only with run --fail-on-slo), 64 bad usage.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/faultline/faultline/internal/buildinfo"
	"github.com/faultline/faultline/internal/termsafe"
	"github.com/faultline/faultline/nuker/clock/injectcmd"
	"github.com/faultline/faultline/nuker/delay"
	"github.com/faultline/faultline/nuker/disk/diskcmd"
)

// Exit codes.
const (
	ExitValid   = 0
	ExitInvalid = 1
	ExitUnknown = 2
	ExitHarness = 3
	ExitSLO     = 4
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
	// The packet delayer runs in a helper container (harness/docker), from
	// the same copy as the clock injector: its subcommand wins over the
	// injector's name.
	if len(os.Args) > 1 && os.Args[1] == delay.Subcommand {
		os.Exit(delay.Main(os.Args[2:], os.Stdout, os.Stderr))
	}
	if args, ok := injectorArgs(os.Args); ok {
		os.Exit(injectcmd.Main(args, os.Stdout, os.Stderr))
	}
	if args, ok := diskArgs(os.Args); ok {
		os.Exit(diskcmd.Main(args, os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// run executes the CLI and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	// Keys, values, test names and errors come from histories and run
	// directories made elsewhere: no control sequence of theirs reaches
	// the terminal raw.
	stdout, stderr = termsafe.NewWriter(stdout), termsafe.NewWriter(stderr)
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
	err := app.RunContext(ctx, flagsFirst(app.Commands, args))
	if err == nil {
		if code >= 0 {
			return code
		}
		return ExitValid
	}
	// One line per problem, each with the prefix; a mistyped name gets
	// the closest known one.
	for _, line := range strings.Split(suggestNames(err.Error()), "\n") {
		fmt.Fprintln(stderr, "faultline:", line)
	}
	var ue usageError
	if errors.As(err, &ue) {
		return ExitUsage
	}
	return ExitHarness
}

func newApp(stdout, stderr io.Writer, code *int) *cli.App {
	app := &cli.App{
		Name:  "faultline",
		Usage: "Jepsen-style fault-injection tests of real distributed systems in Docker",
		Description: `faultline starts a target system as a cluster of Docker containers, drives a
concurrent workload against it while injecting partitions, crashes and pauses,
records every operation, and checks the history against consistency models.

Exit codes: 0 valid, 1 invalid (anomaly found), 2 unknown,
3 the harness could not run the test, 4 an SLO was missed (only with
run --fail-on-slo), 64 bad usage.`,
		Version:              buildinfo.Get().String(),
		Writer:               stdout,
		ErrWriter:            stderr,
		EnableBashCompletion: true,
		HideHelpCommand:      true, // ours (helpCommand) is a usage error when it names no command
		CommandNotFound: func(c *cli.Context, name string) {
			msg := fmt.Sprintf("unknown command %q", name)
			if s, ok := closest(name, commandNames(c.App.Commands)); ok {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			fmt.Fprintf(stderr, "faultline: %s (see faultline --help)\n", msg)
			*code = ExitUsage
		},
		Commands: []*cli.Command{
			runCommand(code),
			suiteCommand(code),
			checkCommand(code),
			exportCommand(),
			imagesCommand(),
			cleanCommand(),
			listCommand(),
			serveCommand(),
			versionCommand(),
			completionCommand(),
			helpCommand(),
		},
	}
	// Flag errors are usage errors, one line on stderr, with the closest
	// flag of the command they were given to; subcommands too (images
	// save), which urfave/cli would otherwise report on stdout as well.
	app.OnUsageError = onUsage(append(slices.Clone(app.Flags), cli.HelpFlag, cli.VersionFlag))
	var setUsage func(cmds []*cli.Command)
	setUsage = func(cmds []*cli.Command) {
		for _, c := range cmds {
			c.OnUsageError = onUsage(append(slices.Clone(c.Flags), cli.HelpFlag))
			setUsage(c.Subcommands)
		}
	}
	setUsage(app.Commands)
	return app
}

// onUsage makes a flag error a usage error, suggesting the closest of
// flags for an unknown one.
func onUsage(flags []cli.Flag) cli.OnUsageErrorFunc {
	return func(c *cli.Context, err error, isSubcommand bool) error {
		return usageError{suggestFlag(err, flags)}
	}
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

// flagsFirst moves a command's flags before its arguments, so that
// `faultline suite nightly.yaml --junit out.xml` works: urfave/cli, like
// the flag package, stops parsing flags at the first argument.
func flagsFirst(cmds []*cli.Command, args []string) []string {
	if len(args) < 2 {
		return args
	}
	// The program name and global flags stay in place.
	i := 1
	for i < len(args) && strings.HasPrefix(args[i], "-") {
		i++
	}
	if i == len(args) {
		return args
	}
	for _, c := range cmds {
		if c.HasName(args[i]) {
			return append(slices.Clone(args[:i+1]), reorder(c, args[i+1:])...)
		}
	}
	return args
}

// reorder puts cmd's flags (with their values) before its arguments,
// descending into a subcommand named by the first argument. A bare number
// given to a duration flag is seconds (forgiving.go).
func reorder(cmd *cli.Command, rest []string) []string {
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			takesValue[n] = !isBool
		}
	}
	isDuration := durationFlags(cmd)
	var flags, pos []string
	for j := 0; j < len(rest); j++ {
		a := rest[j]
		switch {
		case a == "--":
			return append(append(flags, pos...), rest[j:]...)
		case strings.HasPrefix(a, "-") && len(a) > 1:
			name := strings.TrimLeft(a, "-")
			if n, v, ok := strings.Cut(name, "="); ok && isDuration[n] {
				a = a[:len(a)-len(v)] + seconds(v)
			}
			flags = append(flags, a)
			if !strings.Contains(name, "=") && takesValue[name] && j+1 < len(rest) {
				v := rest[j+1]
				if isDuration[name] {
					v = seconds(v)
				}
				flags = append(flags, v)
				j++
			}
		case len(pos) == 0 && cmd.Command(a) != nil:
			return append(append(flags, a), reorder(cmd.Command(a), rest[j+1:])...)
		default:
			pos = append(pos, a)
		}
	}
	return append(flags, pos...)
}
