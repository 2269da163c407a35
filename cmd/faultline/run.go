package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/faultline/faultline/harness"
	"github.com/faultline/faultline/harness/node"
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
in --store/<test>/<timestamp>/ and --store/latest points at it.

--slo sets service-level objectives, checked over the whole run and within
each fault kind's windows, e.g. --slo availability=99.5%,p99=250ms,p50=20ms
(availability: ok share of completed client ops; pNN: latency percentile of
ok and fail ops). results.json and the report carry them. A missed SLO
changes the exit code only with --fail-on-slo: then a run that is otherwise
valid exits 4.`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "target", Value: d.Target, Usage: "system under test: a name (see faultline list) or a target file `FILE.yaml` (docs/target-file.md)", EnvVars: []string{"FAULTLINE_TARGET"}},
			&cli.StringFlag{Name: "target-version", Usage: "release of the target (default: the target's default)", EnvVars: []string{"FAULTLINE_TARGET_VERSION"}},
			&cli.StringSliceFlag{Name: "target-opt", Usage: "target option `KEY=VALUE` (repeatable), e.g. read=serializable", EnvVars: []string{"FAULTLINE_TARGET_OPTS"}},
			&cli.StringFlag{Name: "workload", Aliases: []string{"w"}, Value: d.Workload, Usage: "workload (see faultline list)", EnvVars: []string{"FAULTLINE_WORKLOAD"}},
			&cli.StringFlag{Name: "nemesis", Aliases: []string{"faults"}, Value: strings.Join(d.Nemesis, ","), Usage: "comma-separated faults: partition, kill, pause, failover, clock, packet, delay, member, power, upgrade, disk-full, disk-error, slow-disk, corrupt; all for every fault the target supports but upgrade and the disk faults (power ... corrupt; docs/faults.md, docs/disk.md); none for no faults", EnvVars: []string{"FAULTLINE_NEMESIS"}},
			&cli.StringFlag{Name: "partitions", Usage: "comma-separated partition kinds the partition fault draws from (default: halves, one, majorities-ring, bridge, primaries)", EnvVars: []string{"FAULTLINE_PARTITIONS"}},
			&cli.StringFlag{Name: "schedule", Usage: "shape of the fault schedule: alternate (one fault at a time), overlap (one lane per fault, staggered), mix:partition=3,kill=1 (weights), seq:partition/primaries,kill/primaries (in order, overlapping); lanes joined by +, each with @interval=D,quiet=D,jitter=D,after=D (docs/faults.md)", EnvVars: []string{"FAULTLINE_SCHEDULE"}},
			&cli.DurationFlag{Name: "nemesis-interval", Value: d.NemesisInterval.D(), Usage: "time between a fault's start and stop, and between faults", EnvVars: []string{"FAULTLINE_NEMESIS_INTERVAL"}},
			&cli.DurationFlag{Name: "resource-interval", Value: time.Second, Usage: "how often each node's CPU, memory, network and block I/O are sampled for the report's resource charts (0: off)", EnvVars: []string{"FAULTLINE_RESOURCE_INTERVAL"}},
			&cli.IntFlag{Name: "nodes", Aliases: []string{"n"}, Value: d.Nodes, Usage: "cluster size", EnvVars: []string{"FAULTLINE_NODES"}},
			&cli.GenericFlag{Name: "concurrency", Aliases: []string{"c"}, Value: &concurrency{n: d.Concurrency}, Usage: "client workers, one op outstanding each; worker i talks to node i mod nodes; 2n: 2 per node", EnvVars: []string{"FAULTLINE_CONCURRENCY"}},
			&cli.Float64Flag{Name: "rate", Usage: "total ops/s limit (0: as fast as the system answers)", EnvVars: []string{"FAULTLINE_RATE"}},
			&cli.DurationFlag{Name: "time-limit", Aliases: []string{"t"}, Value: d.TimeLimit.D(), Usage: "length of the run phase (60 is 60s)", EnvVars: []string{"FAULTLINE_TIME_LIMIT"}},
			&cli.Int64Flag{Name: "seed", Usage: "seed for op and fault choices (0: pick one and record it)", EnvVars: []string{"FAULTLINE_SEED"}},
			&cli.DurationFlag{Name: "op-timeout", Value: d.OpTimeout.D(), Usage: "client op timeout; a timed-out op is indeterminate (info)", EnvVars: []string{"FAULTLINE_OP_TIMEOUT"}},
			&cli.DurationFlag{Name: "recovery-wait", Value: d.RecoveryWait.D(), Usage: "wait after healing before final reads", EnvVars: []string{"FAULTLINE_RECOVERY_WAIT"}},
			&cli.DurationFlag{Name: "check-timeout", Value: d.CheckTimeout.D(), Usage: "time limit per checker; past it the verdict is unknown", EnvVars: []string{"FAULTLINE_CHECK_TIMEOUT"}},
			&cli.IntFlag{Name: "ops-per-key", Usage: "ops on one key before its workers move to a fresh key (0: workload default)", EnvVars: []string{"FAULTLINE_OPS_PER_KEY"}},
			&cli.StringFlag{Name: "test-name", Usage: "name the run is stored under (default: target-workload-faults)", EnvVars: []string{"FAULTLINE_TEST_NAME"}},
			&cli.BoolFlag{Name: "disk-mount", Usage: "mount faultline's disk filesystem over the target's data directory even with no disk fault: it only passes through (to measure its cost, docs/disk.md)", EnvVars: []string{"FAULTLINE_DISK_MOUNT"}},
			&cli.StringFlag{Name: "store", Value: d.Store, Usage: "directory runs are stored in", EnvVars: []string{"FAULTLINE_STORE"}},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress lines", EnvVars: []string{"FAULTLINE_QUIET"}},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "also print the controller's log (always in faultline.log)", EnvVars: []string{"FAULTLINE_VERBOSE"}},
			&cli.IntFlag{Name: "test-count", Value: 1, Usage: "run the test N times, each after the first with a fresh seed", EnvVars: []string{"FAULTLINE_TEST_COUNT"}},
			&cli.BoolFlag{Name: "stop-on-failure", Usage: "with --test-count, stop at the first run that is not valid", EnvVars: []string{"FAULTLINE_STOP_ON_FAILURE"}},
			&cli.StringFlag{Name: "replay", Usage: "replay the stored run in `RUN_DIR`: same spec, seed and fault schedule (other flags are ignored)", EnvVars: []string{"FAULTLINE_REPLAY"}},
			&cli.StringFlag{Name: "junit", Usage: "also write JUnit XML to `FILE`", EnvVars: []string{"FAULTLINE_JUNIT"}},
			&cli.BoolFlag{Name: "json", Usage: "print the results as JSON on stdout (progress stays on stderr)", EnvVars: []string{"FAULTLINE_JSON"}},
			&cli.StringFlag{Name: "slo", Usage: "service-level objectives `LIST`, e.g. availability=99.5%,p99=250ms,p50=20ms", EnvVars: []string{"FAULTLINE_SLO"}},
			&cli.BoolFlag{Name: "fail-on-slo", Usage: "exit 4 when an SLO is missed (and the run is otherwise valid)", EnvVars: []string{"FAULTLINE_FAIL_ON_SLO"}},
			&cli.BoolFlag{Name: "leave-db-running", Usage: "keep the cluster up after the run, for debugging; faultline clean removes it", EnvVars: []string{"FAULTLINE_LEAVE_DB_RUNNING"}},
		}, runtimeFlags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usage("run takes no arguments, got %q", c.Args().Slice())
			}
			var spec harness.Spec
			var err error
			var errs []error // every problem is reported
			if dir := c.String("replay"); dir != "" {
				if spec, err = harness.ReplaySpec(dir); err != nil {
					return usageError{err}
				}
				spec.Store = c.String("store")
				errs = append(errs, harness.CheckSpec(&spec, targetResolver())) // a stored spec is input too
			} else if spec, err = specFromFlags(c); err != nil {
				errs = append(errs, err)
			}
			n := c.Int("test-count")
			errs = append(errs, checkTestCount(n), checkOutputFile("junit", c.String("junit")))
			sshrt, err := sshRuntime(c)
			errs = append(errs, err)
			var rt node.Runtime
			if sshrt != nil {
				defer sshrt.Close()
				rt, err = withRuntime(c, sshrt, &spec.Nodes)
				errs = append(errs, err)
				if cc := concurrencyOf(c); cc.perNode && c.String("replay") == "" {
					spec.Concurrency = cc.workers(spec.Nodes) // per machine
				}
			}
			leave := c.Bool("leave-db-running")
			if leave && n > 1 {
				errs = append(errs, fmt.Errorf("--leave-db-running keeps one run's cluster: use it with --test-count 1, not %d", n))
			}
			if err := errors.Join(errs...); err != nil {
				return usageError{err}
			}
			suite := &harness.Suite{Name: spec.Test, Tests: []harness.SuiteTest{{Spec: spec, Expect: models.Valid, Repeat: n}}}
			return runSuite(c, suite, code, harness.SuiteOptions{StopOnFailure: c.Bool("stop-on-failure"), Run: harness.Options{Runtime: rt, LeaveRunning: leave}})
		},
	}
}

// runSuite runs the suite's tests, prints each result (or JSON), writes
// JUnit XML when asked and sets the exit code.
func runSuite(c *cli.Context, suite *harness.Suite, code *int, sopt harness.SuiteOptions) error {
	sopt.Run = harness.Options{Progress: progress(c.App.ErrWriter, c.Bool("quiet")), Targets: targetResolver(),
		Runtime: sopt.Run.Runtime, LeaveRunning: sopt.Run.LeaveRunning}
	if inCI() {
		sopt.Run.ProgressEvery = 15 * time.Second
	}
	if c.Bool("verbose") {
		sopt.Run.Log = c.App.ErrWriter
	}
	sopt.OnDone = func(r harness.SuiteRun) {
		if !c.Bool("json") {
			printRun(c.App.Writer, r)
			if sopt.Run.LeaveRunning && r.Results.Run.ID != "" {
				fmt.Fprintf(c.App.Writer, "  cluster left running (--leave-db-running; how to reach it: faultline.log): faultline clean --run %s removes it\n", r.Results.Run.ID)
			}
		}
	}
	runs := harness.RunSuite(c.Context, suite, sopt)
	// Bad input the harness found (not a harness failure) is a usage error.
	for _, r := range runs {
		if r.Err != nil && !errors.Is(r.Err, harness.ErrHarness) && !r.Skipped {
			return usageError{r.Err}
		}
	}
	if c.Bool("json") {
		if err := printJSON(c.App.Writer, runs); err != nil {
			return harnessError{err}
		}
	}
	if len(runs) > 1 && !c.Bool("json") {
		printSummary(c.App.Writer, suite.Name, runs)
	}
	if path := c.String("junit"); path != "" {
		cases := make([]reports.Case, len(runs))
		for i, r := range runs {
			cases[i] = r.JUnitCase(suite.Name)
		}
		if err := reports.WriteJUnit(path, suite.Name, cases); err != nil {
			return harnessError{err}
		}
	}
	*code = sloExitCode(harness.SuiteExitCode(runs), runs, c.Bool("fail-on-slo"))
	if *code == ExitHarness {
		for _, r := range runs {
			if r.Err != nil {
				msg := r.Err.Error()
				if r.Dir != "" {
					msg += "\n  the history recorded so far is kept: faultline check " + r.Dir
				}
				fmt.Fprintln(c.App.ErrWriter, "faultline:", msg)
			}
		}
	}
	return nil
}

// printRun prints one run's summary, or why it did not run.
func printRun(w io.Writer, r harness.SuiteRun) {
	if r.Skipped {
		fmt.Fprintf(w, "\n%s: NOT RUN (%v)\n", r.Test.Spec.Test, r.Err)
		return
	}
	if r.Results.Format != "" {
		printResults(w, r.Dir, r.Results)
	}
	if r.Err != nil {
		fmt.Fprintf(w, "  could not run: %v\n", r.Err)
	}
	if r.Test.Expect != models.Valid {
		fmt.Fprintf(w, "  expected %s: %s\n", r.Test.Expect, map[bool]string{true: "as expected", false: "NOT as expected"}[r.Passed()])
	}
}

// printSummary prints one line per run.
func printSummary(w io.Writer, name string, runs []harness.SuiteRun) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "\nSUITE %s\nTEST\tVERDICT\tEXPECTED\tOPS\tSEED\tTOOK\tREPORT\n", name)
	for _, r := range runs {
		verdict := string(r.Results.Verdict)
		switch {
		case r.Skipped:
			verdict = "not run"
		case r.Err != nil:
			verdict = "could not run"
		}
		report := "-"
		if r.Dir != "" {
			report = filepath.Join(r.Dir, harness.ReportFile)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", r.JUnitCase(name).Name, verdict, r.Test.Expect,
			r.Results.Stats.Ops, r.Results.Run.Seed, r.Duration.Round(time.Second), report)
	}
	tw.Flush()
}

// jsonRun is one run in `--json` output.
type jsonRun struct {
	Test     string          `json:"test"`
	Dir      string          `json:"dir,omitempty"`
	Expected models.Verdict  `json:"expected"`
	Passed   bool            `json:"passed"`
	Error    string          `json:"error,omitempty"`
	Results  harness.Results `json:"results"`
}

func printJSON(w io.Writer, runs []harness.SuiteRun) error {
	out := make([]jsonRun, len(runs))
	for i, r := range runs {
		out[i] = jsonRun{Test: r.JUnitCase("").Name, Dir: r.Dir, Expected: r.Test.Expect, Passed: r.Passed(), Results: r.Results}
		if r.Err != nil {
			out[i].Error = r.Err.Error()
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if len(out) == 1 {
		return enc.Encode(out[0])
	}
	return enc.Encode(out)
}

func specFromFlags(c *cli.Context) (harness.Spec, error) {
	spec := harness.DefaultSpec()
	spec.Target = absTarget(c.String("target"))
	spec.TargetVersion = c.String("target-version")
	spec.Workload = c.String("workload")
	var errs []error // every problem is reported, one line each
	faults, err := nuker.ParseFaults(c.String("nemesis"))
	if err != nil {
		errs = append(errs, err)
	}
	spec.Nemesis = faults
	if slices.Contains(strings.Split(strings.ReplaceAll(c.String("nemesis"), " ", ""), ","), "all") {
		spec.Nemesis = []string{"all"} // every fault the target supports, resolved by the harness
	}
	spec.NemesisInterval = harness.Duration(c.Duration("nemesis-interval"))
	spec.DiskMount = c.Bool("disk-mount")
	spec.FaultSchedule = c.String("schedule")
	if spec.FaultSchedule != "" {
		if err := scheduleFitsFaults(spec, c.IsSet("nemesis")); err != nil {
			errs = append(errs, err)
		}
	}
	for _, p := range strings.Split(c.String("partitions"), ",") {
		if p = strings.TrimSpace(p); p != "" {
			spec.Partitions = append(spec.Partitions, p)
		}
	}
	spec.Nodes = c.Int("nodes")
	spec.Concurrency = concurrencyOf(c).workers(spec.Nodes)
	spec.Rate = c.Float64("rate")
	spec.TimeLimit = harness.Duration(c.Duration("time-limit"))
	spec.Seed = c.Int64("seed")
	spec.OpTimeout = harness.Duration(c.Duration("op-timeout"))
	spec.RecoveryWait = harness.Duration(c.Duration("recovery-wait"))
	spec.CheckTimeout = harness.Duration(c.Duration("check-timeout"))
	spec.OpsPerKey = c.Int("ops-per-key")
	spec.ResourceInterval = harness.Duration(c.Duration("resource-interval"))
	spec.NoResources = spec.ResourceInterval == 0
	spec.Test = c.String("test-name")
	spec.Store = c.String("store")
	spec.SLO = c.String("slo")
	if _, err := reports.ParseSLOs(spec.SLO); err != nil {
		errs = append(errs, fmt.Errorf("--slo: %v", err))
		spec.SLO = "" // reported once
	}
	for _, kv := range c.StringSlice("target-opt") {
		for _, kv := range strings.Split(kv, ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
			if !ok || k == "" {
				errs = append(errs, fmt.Errorf("--target-opt %q: want KEY=VALUE", kv))
				continue
			}
			if spec.TargetOpts == nil {
				spec.TargetOpts = map[string]string{}
			}
			spec.TargetOpts[k] = v
		}
	}
	// The spec and the catalogs (target, options, workload, faults), all
	// before Docker is touched.
	if err := harness.CheckSpec(&spec, targetResolver()); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return spec, usageError{err}
	}
	return spec, nil
}

// sloExitCode maps a missed SLO to ExitSLO when failOnSLO is set and the
// runs otherwise passed (code is ExitValid); other codes take precedence,
// and without failOnSLO code is returned unchanged.
func sloExitCode(code int, runs []harness.SuiteRun, failOnSLO bool) int {
	if !failOnSLO || code != ExitValid {
		return code
	}
	for _, r := range runs {
		if !reports.SLOsMet(r.Results.SLOs) {
			return ExitSLO
		}
	}
	return code
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
	if res.History != nil {
		for _, warn := range res.History.Warnings {
			fmt.Fprintf(w, "  warning: %s\n", warn)
		}
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
	if l := harness.FaultsLine(res.Faults); l != "" {
		fmt.Fprintln(w, "  "+l)
	}
	if res.CAPProfile.Line != "" {
		fmt.Fprintln(w, "  "+res.CAPProfile.Line)
	}
	for _, slo := range res.SLOs {
		verdict := "met"
		if !slo.Met {
			verdict = "MISSED"
		}
		fmt.Fprintf(w, "  SLO %s %s: %s (overall %s", slo.Name, slo.Target, verdict, slo.Overall.Measured)
		for _, f := range slo.Faults {
			fmt.Fprintf(w, ", %s %s", f.Phase, f.Measured)
		}
		fmt.Fprintln(w, ")")
	}
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
		Description: `With a run directory (e.g. store/latest) the run's own checkers (or --model)
judge its history again. A check never erases the run's verdict: the run's
record (results.json and report.html at the top of the directory) stays, and
the check is written beside it, to checks/<UTC time>[-models]/ (with
"-interrupted" when Ctrl-C or a deadline stopped it). Only a run that has no
record (its controller was killed) gets one from a complete check with its own
checkers. The check prints where it wrote. Everything it reads and writes
stays inside the directory: links and non-regular files there are refused.

A run whose history has no end record never finished (its controller was
killed): its verdict is unknown unless --prefix asks to judge what it recorded.

With a history file, --model says what to check against. Formats: faultline
(history.jsonl), jepsen-edn (Jepsen's history.edn) and jepsen-log (jepsen.util
log lines); auto detects them.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Value: "auto", Usage: "history format: auto, faultline, jepsen-edn, jepsen-log"},
			&cli.StringFlag{Name: "workload", Usage: "check a history file as a run of this workload is checked: its models, configured as in a run (e.g. an export of a bank run)"},
			&cli.StringSliceFlag{Name: "model", Usage: "model to check against (repeatable; see faultline list); required for a history file"},
			&cli.DurationFlag{Name: "timeout", Usage: "time limit per checker (default: the run's, or 5m)"},
			&cli.StringFlag{Name: "out", Usage: "directory for checker artifacts (linearizability.html) when checking a history file"},
			&cli.BoolFlag{Name: "prefix", Usage: "judge a run that never finished (its history has no end record) on the prefix it recorded, instead of unknown"},
			&cli.BoolFlag{Name: "json", Usage: "print the results as JSON on stdout, in the shape of run --json (progress stays on stderr)", EnvVars: []string{"FAULTLINE_JSON"}},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usage("check takes one RUN_DIR or HISTORY_FILE, got %d arguments", c.NArg())
			}
			path := c.Args().First()
			fi, err := os.Stat(path)
			if ferr := checkFlags(c, err != nil || fi.IsDir()); err != nil || ferr != nil {
				return usageError{errors.Join(err, ferr)}
			}
			prog := progress(c.App.ErrWriter, false)
			if fi.IsDir() {
				check := harness.Check
				if c.Bool("prefix") {
					check = harness.CheckPrefix
				}
				res, err := check(c.Context, path, c.StringSlice("model"), c.Duration("timeout"), prog)
				if err := interrupted(c.Context, err); err != nil {
					return err
				}
				if err != nil {
					return checkError(err)
				}
				out := path
				if res.Check != nil && res.Check.Dir != "" {
					out = filepath.Join(path, filepath.FromSlash(res.Check.Dir))
				}
				*code = verdictCode(res.Verdict)
				if c.Bool("json") {
					return printCheckJSON(c.App.Writer, out, res)
				}
				printResults(c.App.Writer, out, res)
				if out != path {
					fmt.Fprintf(c.App.Writer, "  the run's own record is unchanged: %s\n", filepath.Join(path, harness.ResultsFile))
				}
				fmt.Fprintf(c.App.Writer, "  wrote %s\n", filepath.Join(out, harness.ResultsFile))
				return nil
			}
			if c.Bool("prefix") {
				return usage("--prefix judges a run directory's history; a history file is judged as it is")
			}
			format := c.String("format")
			if format == "auto" {
				format = ""
			}
			if wl := c.String("workload"); wl != "" {
				return checkAsWorkload(c, code, path, format, wl)
			}
			models := c.StringSlice("model")
			timeout := c.Duration("timeout")
			if timeout <= 0 {
				timeout = harness.DefaultSpec().CheckTimeout.D()
			}
			res, err := harness.CheckHistory(c.Context, path, format, models, timeout, c.String("out"))
			if err := interrupted(c.Context, err); err != nil {
				return err
			}
			if err != nil {
				return checkError(err)
			}
			*code = verdictCode(res.Verdict)
			if c.Bool("json") {
				return printCheckJSON(c.App.Writer, c.String("out"), res)
			}
			printResults(c.App.Writer, "", res)
			return nil
		},
	}
}

// printCheckJSON prints a check's results as run --json prints a run's:
// a check expects valid, as a run does.
func printCheckJSON(w io.Writer, dir string, res harness.Results) error {
	out := jsonRun{Test: res.Test, Dir: dir, Expected: models.Valid, Passed: res.Verdict == models.Valid, Results: res}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return harnessError{fmt.Errorf("write JSON: %w", err)}
	}
	return nil
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

func suiteCommand(code *int) *cli.Command {
	return &cli.Command{
		Name:      "suite",
		Usage:     "run a suite file: a list or matrix of tests, with a summary and JUnit XML",
		ArgsUsage: "SUITE.yaml",
		Description: `A suite file lists tests (target, options, workload, faults, time limit,
repeat, expected verdict) and matrices of them; see docs/nightly.yaml. The file
is checked whole before anything runs. Exit code as Jepsen's test-all: 0 all
as expected, 1 any unexpected anomaly, 2 any unknown, 3 any could not run.
With --runtime ssh the tests run one at a time on the listed machines.`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "junit", Usage: "write JUnit XML to `FILE`", EnvVars: []string{"FAULTLINE_JUNIT"}},
			&cli.BoolFlag{Name: "json", Usage: "print the results as JSON on stdout"},
			&cli.IntFlag{Name: "parallel", Value: 1, Usage: "tests to run at once (each starts its own cluster)"},
			&cli.BoolFlag{Name: "stop-on-failure", Usage: "start no test after one that did not pass"},
			&cli.StringFlag{Name: "store", Value: harness.DefaultSpec().Store, Usage: "directory runs are stored in", EnvVars: []string{"FAULTLINE_STORE"}},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress lines"},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "also print the controller's log"},
			&cli.BoolFlag{Name: "check-only", Usage: "only check the suite file and list its tests"},
		}, runtimeFlags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usage("suite takes one SUITE.yaml, got %d arguments", c.NArg())
			}
			base := harness.DefaultSpec()
			base.Store = c.String("store")
			suite, err := harness.LoadSuite(c.Args().First(), base, targetResolver())
			if c.Int("parallel") < 1 {
				err = errors.Join(err, errors.New("--parallel must be at least 1"))
			}
			sshrt, rerr := sshRuntime(c)
			err = errors.Join(err, rerr, checkOutputFile("junit", c.String("junit")))
			var rt node.Runtime
			if sshrt != nil {
				defer sshrt.Close()
				rt = sshrt
				err = errors.Join(err, fitMachines(suite, sshrt.Machines(), c.Int("parallel")))
			}
			if err != nil {
				return usageError{err}
			}
			if c.Bool("check-only") {
				for _, t := range suite.Tests {
					fmt.Fprintf(c.App.Writer, "%s (line %d): %s %s, %s, faults %v, %s x%d, expect %s\n", t.Spec.Test, t.Line,
						t.Spec.Target, t.Spec.TargetOpts, t.Spec.Workload, t.Spec.Nemesis, t.Spec.TimeLimit.D(), t.Repeat, t.Expect)
				}
				return nil
			}
			return runSuite(c, suite, code, harness.SuiteOptions{
				Parallel: c.Int("parallel"), StopOnFailure: c.Bool("stop-on-failure"), Run: harness.Options{Runtime: rt},
			})
		},
	}
}

// scheduleFitsFaults refuses a schedule that names a fault the --faults
// given leave out. Without --faults, the run's faults are the schedule's.
func scheduleFitsFaults(spec harness.Spec, faultsSet bool) error {
	plan, err := nuker.ParsePlan(spec.FaultSchedule, nil, spec.NemesisInterval.D())
	if err != nil || !faultsSet {
		return nil // a schedule that does not parse is reported by the spec's check
	}
	if slices.Contains(spec.Nemesis, "all") {
		return nil
	}
	for _, f := range plan.Faults() {
		if !slices.Contains(spec.Nemesis, f) {
			return fmt.Errorf("--schedule %q uses %s, which --faults %s leaves out", spec.FaultSchedule, f, strings.Join(spec.Nemesis, ","))
		}
	}
	return nil
}
