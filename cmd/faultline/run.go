package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/faultline/faultline/harness"
	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/nuker"
	"github.com/faultline/faultline/reports"
)

func runCommand(code *int) *cli.Command {
	d := harness.DefaultSpec()
	return &cli.Command{
		Name:  "run",
		Usage: "run a test: start the target in Docker, drive the workload under faults, check, report",
		Description: `Without flags this is the default test: a 5-node etcd cluster, the register
workload with 10 workers, partitions, kills and pauses every 10 s, for 60 s.
Images are built first when missing (see faultline images). The run is stored
in --store/<test>/<timestamp>/ and --store/latest points at it.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "target", Value: d.Target, Usage: "system under test (see faultline list)", EnvVars: []string{"FAULTLINE_TARGET"}},
			&cli.StringFlag{Name: "target-version", Usage: "release of the target (default: the target's default)", EnvVars: []string{"FAULTLINE_TARGET_VERSION"}},
			&cli.StringSliceFlag{Name: "target-opt", Usage: "target option `KEY=VALUE` (repeatable), e.g. read=serializable", EnvVars: []string{"FAULTLINE_TARGET_OPTS"}},
			&cli.StringFlag{Name: "workload", Aliases: []string{"w"}, Value: d.Workload, Usage: "workload (see faultline list)", EnvVars: []string{"FAULTLINE_WORKLOAD"}},
			&cli.StringFlag{Name: "nemesis", Value: strings.Join(d.Nemesis, ","), Usage: "comma-separated faults: partition, kill, pause; none for no faults", EnvVars: []string{"FAULTLINE_NEMESIS"}},
			&cli.DurationFlag{Name: "nemesis-interval", Value: d.NemesisInterval.D(), Usage: "time between a fault's start and stop, and between faults", EnvVars: []string{"FAULTLINE_NEMESIS_INTERVAL"}},
			&cli.IntFlag{Name: "nodes", Aliases: []string{"n"}, Value: d.Nodes, Usage: "cluster size", EnvVars: []string{"FAULTLINE_NODES"}},
			&cli.IntFlag{Name: "concurrency", Aliases: []string{"c"}, Value: d.Concurrency, Usage: "client workers, one op outstanding each; worker i talks to node i mod nodes", EnvVars: []string{"FAULTLINE_CONCURRENCY"}},
			&cli.Float64Flag{Name: "rate", Usage: "total ops/s limit (0: as fast as the system answers)", EnvVars: []string{"FAULTLINE_RATE"}},
			&cli.DurationFlag{Name: "time-limit", Aliases: []string{"t"}, Value: d.TimeLimit.D(), Usage: "length of the run phase", EnvVars: []string{"FAULTLINE_TIME_LIMIT"}},
			&cli.Int64Flag{Name: "seed", Usage: "seed for op and fault choices (0: pick one and record it)", EnvVars: []string{"FAULTLINE_SEED"}},
			&cli.DurationFlag{Name: "op-timeout", Value: d.OpTimeout.D(), Usage: "client op timeout; a timed-out op is indeterminate (info)", EnvVars: []string{"FAULTLINE_OP_TIMEOUT"}},
			&cli.DurationFlag{Name: "recovery-wait", Value: d.RecoveryWait.D(), Usage: "wait after healing before final reads", EnvVars: []string{"FAULTLINE_RECOVERY_WAIT"}},
			&cli.DurationFlag{Name: "check-timeout", Value: d.CheckTimeout.D(), Usage: "time limit per checker; past it the verdict is unknown", EnvVars: []string{"FAULTLINE_CHECK_TIMEOUT"}},
			&cli.IntFlag{Name: "ops-per-key", Usage: "ops on one key before its workers move to a fresh key (0: workload default)", EnvVars: []string{"FAULTLINE_OPS_PER_KEY"}},
			&cli.StringFlag{Name: "test-name", Usage: "name the run is stored under (default: target-workload-faults)", EnvVars: []string{"FAULTLINE_TEST_NAME"}},
			&cli.StringFlag{Name: "store", Value: d.Store, Usage: "directory runs are stored in", EnvVars: []string{"FAULTLINE_STORE"}},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress lines", EnvVars: []string{"FAULTLINE_QUIET"}},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "also print the controller's log (always in faultline.log)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usage("run takes no arguments, got %q", c.Args().Slice())
			}
			spec, err := specFromFlags(c)
			if err != nil {
				return err
			}
			opt := harness.Options{Progress: progress(c.App.ErrWriter, c.Bool("quiet"))}
			if inCI() {
				opt.ProgressEvery = 15 * time.Second
			}
			if c.Bool("verbose") {
				opt.Log = c.App.ErrWriter
			}
			out, err := harness.Run(c.Context, spec, opt)
			if out != nil {
				printResults(c.App.Writer, out.Dir, out.Results)
			}
			if err != nil {
				if errors.Is(err, harness.ErrHarness) {
					if out != nil {
						err = fmt.Errorf("%w\n  the history recorded so far is kept: faultline check %s", err, out.Dir)
					}
					return harnessError{err}
				}
				return usageError{err}
			}
			*code = verdictCode(out.Results.Verdict)
			return nil
		},
	}
}

func specFromFlags(c *cli.Context) (harness.Spec, error) {
	spec := harness.DefaultSpec()
	spec.Target = c.String("target")
	spec.TargetVersion = c.String("target-version")
	spec.Workload = c.String("workload")
	faults, err := nuker.ParseFaults(c.String("nemesis"))
	if err != nil {
		return spec, usageError{err}
	}
	spec.Nemesis = faults
	spec.NemesisInterval = harness.Duration(c.Duration("nemesis-interval"))
	spec.Nodes = c.Int("nodes")
	spec.Concurrency = c.Int("concurrency")
	spec.Rate = c.Float64("rate")
	spec.TimeLimit = harness.Duration(c.Duration("time-limit"))
	spec.Seed = c.Int64("seed")
	spec.OpTimeout = harness.Duration(c.Duration("op-timeout"))
	spec.RecoveryWait = harness.Duration(c.Duration("recovery-wait"))
	spec.CheckTimeout = harness.Duration(c.Duration("check-timeout"))
	spec.OpsPerKey = c.Int("ops-per-key")
	spec.Test = c.String("test-name")
	spec.Store = c.String("store")
	for _, kv := range c.StringSlice("target-opt") {
		for _, kv := range strings.Split(kv, ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
			if !ok || k == "" {
				return spec, usage("--target-opt %q: want KEY=VALUE", kv)
			}
			if spec.TargetOpts == nil {
				spec.TargetOpts = map[string]string{}
			}
			spec.TargetOpts[k] = v
		}
	}
	if err := spec.Validate(); err != nil {
		return spec, usageError{err}
	}
	return spec, nil
}

func verdictCode(v models.Verdict) int {
	switch v {
	case models.Valid:
		return ExitValid
	case models.Invalid:
		return ExitInvalid
	}
	return ExitUnknown
}

// printResults prints the one-screen summary of a run or check.
func printResults(w io.Writer, dir string, res harness.Results) {
	s := res.Stats
	fmt.Fprintf(w, "\n%s: %s\n", res.Test, strings.ToUpper(string(res.Verdict)))
	if res.Reason != "" {
		fmt.Fprintf(w, "  %s\n", res.Reason)
	}
	for _, r := range res.Results {
		fmt.Fprintf(w, "  %-14s %-8s %s", r.Checker, r.Verdict, time.Duration(r.DurationNS).Round(time.Millisecond))
		if r.Model != "" {
			fmt.Fprintf(w, "  model %s", r.Model)
		}
		fmt.Fprintln(w)
		for i, a := range r.Anomalies {
			if i == 5 {
				fmt.Fprintf(w, "      ... %d more anomalies in the report\n", len(r.Anomalies)-5)
				break
			}
			fmt.Fprintf(w, "      %s: %s\n", a.Kind, a.Explanation)
		}
	}
	fmt.Fprintln(w, "  "+oneLine(s))
	if res.Run.FirstOpAfter > 0 {
		fmt.Fprintf(w, "  first op %s after start; run took %s\n", res.Run.FirstOpAfter.D().Round(100*time.Millisecond), res.Run.Duration.D().Round(100*time.Millisecond))
	}
	if dir != "" {
		fmt.Fprintf(w, "  report: %s\n", filepath.Join(dir, harness.ReportFile))
	}
}

func checkCommand(code *int) *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     "check a stored run directory or a history file again (no Docker needed)",
		ArgsUsage: "RUN_DIR | HISTORY_FILE",
		Description: `With a run directory (e.g. store/latest) the run's own checkers judge its
history again and results.json and report.html are rewritten.

With a history file, --model says what to check against. Formats: faultline
(history.jsonl), jepsen-edn (Jepsen's history.edn) and jepsen-log (jepsen.util
log lines); auto detects them.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Value: "auto", Usage: "history format: auto, faultline, jepsen-edn, jepsen-log"},
			&cli.StringSliceFlag{Name: "model", Usage: "model to check against (repeatable; see faultline list); required for a history file"},
			&cli.DurationFlag{Name: "timeout", Usage: "time limit per checker (default: the run's, or 5m)"},
			&cli.StringFlag{Name: "out", Usage: "directory for checker artifacts (linearizability.html) when checking a history file"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usage("check takes one RUN_DIR or HISTORY_FILE, got %d arguments", c.NArg())
			}
			path := c.Args().First()
			fi, err := os.Stat(path)
			if err != nil {
				return usage("%v", err)
			}
			prog := progress(c.App.ErrWriter, false)
			if fi.IsDir() {
				res, err := harness.Check(c.Context, path, c.StringSlice("model"), c.Duration("timeout"), prog)
				if err != nil {
					return usageError{err}
				}
				printResults(c.App.Writer, path, res)
				*code = verdictCode(res.Verdict)
				return nil
			}
			format := c.String("format")
			if format == "auto" {
				format = ""
			}
			models := c.StringSlice("model")
			if len(models) == 0 {
				return usage("checking a history file needs --model (e.g. --model cas-register)")
			}
			timeout := c.Duration("timeout")
			if timeout <= 0 {
				timeout = harness.DefaultSpec().CheckTimeout.D()
			}
			res, err := harness.CheckHistory(c.Context, path, format, models, timeout, c.String("out"))
			if err != nil {
				return usageError{err}
			}
			printResults(c.App.Writer, "", res)
			*code = verdictCode(res.Verdict)
			return nil
		},
	}
}

// oneLine is the op summary line: counts, throughput and latency.
func oneLine(s reports.Summary) string {
	o := s.Overall
	line := fmt.Sprintf("%d ops: ok %d, fail %d, info %d", s.Ops, s.Outcomes.OK, s.Outcomes.Fail, s.Outcomes.Info)
	if s.Outcomes.Pending > 0 {
		line += fmt.Sprintf(", pending %d", s.Outcomes.Pending)
	}
	if o.Time > 0 {
		line += fmt.Sprintf("; %.0f ops/s; latency p50 %s p95 %s p99 %s", o.Throughput,
			o.Latency.P50.Round(10*time.Microsecond), o.Latency.P95.Round(10*time.Microsecond), o.Latency.P99.Round(10*time.Microsecond))
	}
	return line
}
