package fltest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/harness"
	"github.com/faultline/faultline/harness/docker/dockerenv"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/nuker"
	"github.com/faultline/faultline/targets"
	"github.com/faultline/faultline/targets/catalog"
	"github.com/faultline/faultline/workloads"
)

// StoreEnv names the environment variable that, when set, is the store
// directory for runs whose Test.Store is empty.
const StoreEnv = "FAULTLINE_STORE"

// maxAnomalies is how many anomalies a failure message lists; the report
// has them all.
const maxAnomalies = 10

// deadlineMargin is how long before the Go test's deadline a run is
// stopped, so faults are healed and the cluster removed before `go test`
// kills the binary.
const deadlineMargin = time.Minute

// Test describes one faultline test. Zero fields take the defaults of
// `faultline run` (harness.DefaultSpec): etcd, register, partition+kill+pause
// every 10 s, 5 nodes, 10 workers, 60 s.
type Test struct {
	// Name names the run in the store; default: the Go test's name, with
	// characters other than letters, digits, '.', '_', '+' and '-' replaced
	// by '-'.
	Name string
	// Target is the system under test as a value: a user's own type that
	// implements targets.Target runs exactly like a shipped one. When it is
	// nil, TargetName names a shipped system (see `faultline list`),
	// TargetVersion its release ("" = the target's default) and TargetOpts
	// its knobs, e.g. {"read": "serializable"} for etcd.
	Target        targets.Target
	TargetName    string
	TargetVersion string
	TargetOpts    map[string]string
	// Workload is the traffic driven against the target, as a value
	// (workloads.Register{}, ...); when nil, WorkloadName names one.
	Workload     workloads.Workload
	WorkloadName string
	// Nemesis lists the faults to draw from ("partition", "kill", "pause";
	// "all"). Nil or empty means the default set; []string{"none"} means no
	// faults.
	Nemesis []string
	// NemesisInterval is the time between a fault's start and its stop, and
	// between faults.
	NemesisInterval time.Duration
	// Schedule shapes the fault schedule as a value: lanes of faults mixed
	// by weight or in sequence, overlapping (see nuker.Plan and
	// docs/faults.md). Nil means one fault at a time from Nemesis; when
	// set, the run's faults are those its lanes use.
	Schedule *nuker.Plan
	// Nodes is the cluster size and Concurrency the number of client
	// workers; Rate limits the total ops/s (0 = unlimited).
	Nodes       int
	Concurrency int
	Rate        float64
	// TimeLimit is the length of the run phase.
	TimeLimit time.Duration
	// Seed seeds op and fault choices; 0 draws one, which is logged and
	// stored in spec.json.
	Seed int64
	// OpTimeout bounds one client operation (a timed-out op is
	// indeterminate), RecoveryWait is the pause between healing and the
	// final reads, CheckTimeout bounds each checker.
	OpTimeout    time.Duration
	RecoveryWait time.Duration
	CheckTimeout time.Duration
	// Store is the directory runs are stored in; default $FAULTLINE_STORE,
	// else a directory under t.TempDir().
	Store string
	// Expect is the verdict the test wants: "" or models.Valid, or
	// models.Invalid for a known weakness (the Go test then fails when the
	// run comes out valid).
	Expect models.Verdict
	// AllowUnknown accepts an unknown verdict (a checker gave up, or too
	// little happened) instead of failing the Go test.
	AllowUnknown bool
}

// Spec returns the harness.Spec stored with x's run: harness.DefaultSpec
// with the fields x sets. See HarnessTest.
func (x Test) Spec() (harness.Spec, error) {
	ht, err := x.HarnessTest()
	return ht.Spec, err
}

// HarnessTest returns x as the harness runs it: its target and workload
// values (names resolved through the shipped catalogs) and
// harness.DefaultSpec with the fields x sets. It checks what can be
// checked without Docker (the spec's fields, the target, its options, the
// workload and the faults), so a mistake fails the Go test even on a
// machine that would skip the run.
func (x Test) HarnessTest() (harness.Test, error) {
	s := harness.DefaultSpec()
	s.Test = x.Name
	target, wl := x.Target, x.Workload
	switch {
	case target != nil && x.TargetName != "":
		return harness.Test{}, fmt.Errorf("set Target or TargetName, not both (Target is %s, TargetName %s)", target.Name(), x.TargetName)
	case target != nil && (x.TargetVersion != "" || len(x.TargetOpts) > 0):
		return harness.Test{}, errors.New("TargetVersion and TargetOpts go with TargetName; a Target value carries its own")
	case target != nil:
		s.Target = target.Name()
	default:
		setString(&s.Target, x.TargetName)
		s.TargetVersion = x.TargetVersion
		if len(x.TargetOpts) > 0 {
			s.TargetOpts = make(map[string]string, len(x.TargetOpts))
			for k, v := range x.TargetOpts {
				s.TargetOpts[k] = v
			}
		}
	}
	switch {
	case wl != nil && x.WorkloadName != "":
		return harness.Test{}, fmt.Errorf("set Workload or WorkloadName, not both (Workload is %s, WorkloadName %s)", wl.Name(), x.WorkloadName)
	case wl != nil:
		s.Workload = wl.Name()
	default:
		setString(&s.Workload, x.WorkloadName)
	}
	if len(x.Nemesis) > 0 {
		faults, err := nuker.ParseFaults(strings.Join(x.Nemesis, ","))
		if err != nil {
			return harness.Test{Spec: s}, fmt.Errorf("nemesis: %w", err)
		}
		s.Nemesis = faults
	}
	setDuration(&s.NemesisInterval, x.NemesisInterval)
	if x.Schedule != nil {
		if err := x.Schedule.Validate(); err != nil {
			return harness.Test{Spec: s}, fmt.Errorf("schedule: %w", err)
		}
		s.FaultSchedule = x.Schedule.String()
	}
	setInt(&s.Nodes, x.Nodes)
	setInt(&s.Concurrency, x.Concurrency)
	s.Rate = x.Rate
	setDuration(&s.TimeLimit, x.TimeLimit)
	s.Seed = x.Seed
	setDuration(&s.OpTimeout, x.OpTimeout)
	setDuration(&s.RecoveryWait, x.RecoveryWait)
	setDuration(&s.CheckTimeout, x.CheckTimeout)
	setString(&s.Store, x.Store)
	switch x.Expect {
	case "", models.Valid, models.Invalid, models.Unknown:
	default:
		return harness.Test{Spec: s}, fmt.Errorf("expect %q: want %s, %s or %s", x.Expect, models.Valid, models.Invalid, models.Unknown)
	}
	if err := s.Validate(); err != nil {
		return harness.Test{Spec: s}, err
	}
	if target == nil {
		t, err := catalog.Default().NewTarget(s.Target, s.TargetVersion, s.TargetOpts)
		if err != nil {
			return harness.Test{Spec: s}, err
		}
		target = t
	}
	if wl == nil {
		w, err := workloads.Default().Lookup(s.Workload)
		if err != nil {
			return harness.Test{Spec: s}, err
		}
		wl = w
	}
	return harness.Test{Spec: s, Target: target, Workload: wl}, nil
}

func setString(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

func setInt(dst *int, v int) {
	if v != 0 {
		*dst = v
	}
}

func setDuration(dst *harness.Duration, v time.Duration) {
	if v != 0 {
		*dst = harness.Duration(v)
	}
}

// Run runs the faultline test x as part of the Go test t and returns its
// results for further assertions. It skips t without Docker (fails it
// under CI=true; see NeedDocker) and with -short outside CI. It fails t with
// t.Errorf when the verdict is not the expected one, naming the anomalies
// and the report, and with t.Fatalf when x is malformed or the harness could
// not run the test.
func Run(t testing.TB, x Test) harness.Results {
	t.Helper()
	if x.Name == "" {
		x.Name = testName(t.Name())
	}
	if x.Store == "" {
		x.Store = os.Getenv(StoreEnv)
	}
	tempStore := x.Store == ""
	if tempStore {
		x.Store = filepath.Join(t.TempDir(), "store")
	}
	ht, err := x.HarnessTest()
	spec := ht.Spec
	if err != nil {
		t.Fatalf("fltest: test %s is malformed: %v", x.Name, err)
		return harness.Results{}
	}
	if !dockerReady(t) {
		return harness.Results{}
	}
	if testenv.Short() {
		t.Skipf("SKIPPING FAULTLINE TEST %s with -short: it runs a %d-node %s cluster for %s",
			spec.Test, spec.Nodes, spec.Target, spec.TimeLimit.D())
		return harness.Results{}
	}

	ctx, cancel, err := runContext(t)
	if err != nil {
		t.Fatalf("fltest: %s: %v", spec.Test, err)
		return harness.Results{}
	}
	defer cancel()
	start := time.Now()
	progress := func(format string, args ...any) {
		t.Logf("[%6.1fs] "+format, append([]any{time.Since(start).Seconds()}, args...)...)
	}
	out, err := harness.RunTest(ctx, ht, harness.Options{Progress: progress})
	if err != nil {
		if out == nil {
			t.Fatalf("fltest: %s: %v", spec.Test, err)
			return harness.Results{}
		}
		msg := fmt.Sprintf("fltest: %s: %v", spec.Test, err)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			msg += fmt.Sprintf("\n  stopped %s before the go test deadline so the cluster could be torn down; raise go test -timeout", deadlineMargin)
		}
		msg += "\n  the history recorded so far is kept: " + out.Dir
		if tempStore {
			msg += " (removed when the test ends; set " + StoreEnv + "=DIR to keep runs)"
		}
		t.Fatalf("%s", msg)
		return out.Results
	}
	judge(t, x, out.Dir, out.Results, tempStore)
	return out.Results
}

// Check checks the stored run in dir again, without Docker, as `faultline
// check DIR` does (results.json and report.html are rewritten), and fails t
// unless the history is valid. It returns the new results.
func Check(t testing.TB, dir string) harness.Results {
	t.Helper()
	res, err := harness.Check(t.Context(), dir, nil, 0, func(format string, args ...any) { t.Logf(format, args...) })
	if err != nil {
		t.Fatalf("fltest: check %s: %v", dir, err)
		return res
	}
	judge(t, Test{Name: res.Test}, dir, res, false)
	return res
}

// runContext is t's context, cancelled deadlineMargin before the Go test's
// deadline and on the first SIGINT or SIGTERM (after which those signals
// act as usual again, so a second Ctrl-C kills the binary).
func runContext(t testing.TB) (context.Context, context.CancelFunc, error) {
	ctx, cancel := context.WithCancel(t.Context())
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if deadline, ok := d.Deadline(); ok {
			if left := time.Until(deadline); left <= deadlineMargin {
				cancel()
				return nil, nil, fmt.Errorf("the go test deadline is %s away: too close to start a run (raise -timeout)", left.Round(time.Second))
			}
			cancel()
			ctx, cancel = context.WithDeadline(t.Context(), deadline.Add(-deadlineMargin))
		}
	}
	sctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sctx.Done()
		stop()
	}()
	return sctx, func() { stop(); cancel() }, nil
}

// judge fails t unless res has the verdict x expects, and logs a summary.
// tempStore says dir is under t.TempDir(), so the failure message says how
// to keep the report.
func judge(t testing.TB, x Test, dir string, res harness.Results, tempStore bool) {
	t.Helper()
	want := x.Expect
	if want == "" {
		want = models.Valid
	}
	note := ""
	if tempStore && dir != "" {
		note = " (removed when the test ends; set " + StoreEnv + "=DIR to keep runs)"
	}
	got := res.Verdict
	if got == want || (got == models.Unknown && x.AllowUnknown) {
		t.Logf("%s%s", summary(dir, res), note)
		return
	}
	t.Errorf("fltest: %s%s", failure(want, dir, res), note)
}

// failure is the message for a verdict that was not the one wanted.
func failure(want models.Verdict, dir string, res harness.Results) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s, want %s", res.Test, strings.ToUpper(string(res.Verdict)), want)
	switch res.Verdict {
	case models.Invalid:
		as := Anomalies(res)
		fmt.Fprintf(&b, ": %d anomal%s", len(as), plural(len(as), "y", "ies"))
		for i, a := range as {
			if i == maxAnomalies {
				fmt.Fprintf(&b, "\n  ... and %d more in the report", len(as)-maxAnomalies)
				break
			}
			fmt.Fprintf(&b, "\n  %s", a)
		}
		if len(as) == 0 && res.Reason != "" {
			fmt.Fprintf(&b, "\n  %s", res.Reason)
		}
	case models.Unknown:
		reason := res.Reason
		if reason == "" {
			reason = "no reason given"
		}
		fmt.Fprintf(&b, ": %s (set AllowUnknown to accept an unknown verdict)", reason)
	case models.Valid:
		fmt.Fprintf(&b, ": the history is consistent, so the expected weakness did not show in this run")
	}
	fmt.Fprintf(&b, "\n  %s", statsLine(res))
	if seed, ok := storedSeed(dir); ok {
		fmt.Fprintf(&b, "\n  seed %d: Test{Seed: %d} makes the same random choices of ops and faults again (the system's answers may differ)", seed, seed)
	}
	return b.String() + reportLine(dir)
}

// storedSeed reads the seed from the run's spec.json.
func storedSeed(dir string) (int64, bool) {
	if dir == "" {
		return 0, false
	}
	b, err := os.ReadFile(filepath.Join(dir, harness.SpecFile))
	if err != nil {
		return 0, false
	}
	var spec harness.Spec
	if err := json.Unmarshal(b, &spec); err != nil || spec.Seed == 0 {
		return 0, false
	}
	return spec.Seed, true
}

// summary is the few lines logged for a run that came out as expected: the
// verdict, each checker's verdict, op counts and the report path.
func summary(dir string, res harness.Results) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", res.Test, strings.ToUpper(string(res.Verdict)))
	if res.Reason != "" {
		fmt.Fprintf(&b, " (%s)", res.Reason)
	}
	for _, r := range res.Results {
		fmt.Fprintf(&b, "\n  %s: %s", r.Checker, r.Verdict)
		if r.Model != "" {
			fmt.Fprintf(&b, " (model %s)", r.Model)
		}
		if n := len(r.Anomalies); n > 0 {
			fmt.Fprintf(&b, ", %d anomal%s, first: %s", n, plural(n, "y", "ies"), Anomaly{Checker: r.Checker, Anomaly: r.Anomalies[0]})
		}
	}
	fmt.Fprintf(&b, "\n  %s", statsLine(res))
	return b.String() + reportLine(dir)
}

// Anomaly is one anomaly with the checker that found it.
type Anomaly struct {
	Checker string
	models.Anomaly
}

// String is "checker: kind on key K: explanation".
func (a Anomaly) String() string {
	s := a.Checker + ": " + a.Kind
	if a.Key != "" {
		s += " on key " + a.Key
	}
	if a.Explanation != "" {
		s += ": " + a.Explanation
	}
	return s
}

// Anomalies lists every anomaly of every checker in res, in checker order.
func Anomalies(res harness.Results) []Anomaly {
	var out []Anomaly
	for _, r := range res.Results {
		for _, a := range r.Anomalies {
			out = append(out, Anomaly{Checker: r.Checker, Anomaly: a})
		}
	}
	return out
}

func statsLine(res harness.Results) string {
	s := res.Stats
	line := fmt.Sprintf("%d ops: ok %d, fail %d, info %d", s.Ops, s.Outcomes.OK, s.Outcomes.Fail, s.Outcomes.Info)
	if s.Outcomes.Pending > 0 {
		line += fmt.Sprintf(", pending %d", s.Outcomes.Pending)
	}
	if d := res.Run.Duration.D(); d > 0 {
		line += fmt.Sprintf("; run took %s", d.Round(100*time.Millisecond))
	}
	return line
}

func reportLine(dir string) string {
	if dir == "" {
		return ""
	}
	return "\n  report: " + filepath.Join(dir, harness.ReportFile)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// testName turns a Go test name such as "TestStore/partition_5s" into a
// faultline test name ("TestStore-partition_5s"): characters other than
// letters, digits, '.', '_', '+' and '-' become '-', and it starts with a
// letter or digit.
func testName(goName string) string {
	b := []byte(goName)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '+' || c == '-') {
			b[i] = '-'
		}
	}
	name := strings.TrimLeft(string(b), "._+-")
	if name == "" {
		return "fltest"
	}
	return name
}

// NeedDocker skips t with a loud message when no Docker engine is
// reachable, or fails it when the environment variable CI is "true": in CI
// a Docker-backed test must run. Run calls it; other Docker-backed tests
// can call it too.
func NeedDocker(t testing.TB) {
	t.Helper()
	dockerReady(t)
}

// dockerReady is NeedDocker that also reports whether Docker is there, for
// callers whose t does not stop the test in Skipf or Fatalf.
func dockerReady(t testing.TB) bool {
	t.Helper()
	return dockerenv.NeedDocker(t) != nil
}
