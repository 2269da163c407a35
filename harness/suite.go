package harness

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/nuker"
	"github.com/faultline/faultline/reports"
	"github.com/faultline/faultline/targets"
	"github.com/faultline/faultline/workloads"
)

// Suite is a list or matrix of tests run from one file:
//
//	name: nightly
//	budget: 45m
//	defaults: {time-limit: 60s, nodes: 5}
//	tests:
//	  - {name: etcd-linearizable, target: etcd, nemesis: [partition, kill]}
//	  - {name: etcd-serializable, target: etcd, target-opts: {read: serializable}, expect: invalid}
//	matrix:
//	  - {name: "etcd-{nemesis}", target: etcd, nemesis: [[partition], [kill]], repeat: 2}
//
// In a matrix entry, a field given a list of values (a list of lists for
// the list-valued nemesis, a list of maps for target-opts) is an axis; the
// cross product of the axes becomes tests, named by the template.
type Suite struct {
	Name   string
	Budget time.Duration
	Tests  []SuiteTest
}

// SuiteTest is one test of a suite, with the line it came from.
type SuiteTest struct {
	Spec Spec
	// Expect is the verdict the test should have; a known weakness is
	// expected invalid.
	Expect models.Verdict
	// Repeat is how many times to run it, each with a fresh seed.
	Repeat int
	Line   int
}

// testFields are the keys a test, a default or a matrix entry may carry.
type testFields struct {
	Name            *string           `yaml:"name"`
	Target          *string           `yaml:"target"`
	TargetVersion   *string           `yaml:"target-version"`
	TargetOpts      map[string]string `yaml:"target-opts"`
	Workload        *string           `yaml:"workload"`
	Nemesis         *[]string         `yaml:"nemesis"`
	NemesisInterval *time.Duration    `yaml:"nemesis-interval"`
	Schedule        *string           `yaml:"schedule"`
	Nodes           *int              `yaml:"nodes"`
	Concurrency     *int              `yaml:"concurrency"`
	Rate            *float64          `yaml:"rate"`
	TimeLimit       *time.Duration    `yaml:"time-limit"`
	Seed            *int64            `yaml:"seed"`
	OpTimeout       *time.Duration    `yaml:"op-timeout"`
	RecoveryWait    *time.Duration    `yaml:"recovery-wait"`
	CheckTimeout    *time.Duration    `yaml:"check-timeout"`
	OpsPerKey       *int              `yaml:"ops-per-key"`
	Expect          *string           `yaml:"expect"`
	Repeat          *int              `yaml:"repeat"`
}

func (f testFields) apply(s *Spec) {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&s.Test, f.Name)
	set(&s.Target, f.Target)
	set(&s.TargetVersion, f.TargetVersion)
	set(&s.Workload, f.Workload)
	set(&s.FaultSchedule, f.Schedule)
	if f.TargetOpts != nil {
		s.TargetOpts = map[string]string{}
		for k, v := range f.TargetOpts {
			s.TargetOpts[k] = v
		}
	}
	if f.Nemesis != nil {
		s.Nemesis = slices.Clone(*f.Nemesis)
	}
	dur := func(dst *Duration, v *time.Duration) {
		if v != nil {
			*dst = Duration(*v)
		}
	}
	dur(&s.NemesisInterval, f.NemesisInterval)
	dur(&s.TimeLimit, f.TimeLimit)
	dur(&s.OpTimeout, f.OpTimeout)
	dur(&s.RecoveryWait, f.RecoveryWait)
	dur(&s.CheckTimeout, f.CheckTimeout)
	if f.Nodes != nil {
		s.Nodes = *f.Nodes
	}
	if f.Concurrency != nil {
		s.Concurrency = *f.Concurrency
	}
	if f.Rate != nil {
		s.Rate = *f.Rate
	}
	if f.Seed != nil {
		s.Seed = *f.Seed
	}
	if f.OpsPerKey != nil {
		s.OpsPerKey = *f.OpsPerKey
	}
}

// suiteKeys are the keys of a suite file; keys starting with "x-" are
// ignored, a place for anchors that tests then alias or merge (<<).
var suiteKeys = map[string]bool{"name": true, "budget": true, "defaults": true, "tests": true, "matrix": true}

// lineError is an error at a line of the suite file.
func lineError(path string, line int, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", path, line, fmt.Sprintf(format, args...))
}

// LoadSuite reads and validates a suite file. Nothing runs: every test is
// checked against the target, workload and fault catalogs first, and each
// mistake is reported with its line. The file's size, the expansion of
// its aliases and the size of its matrices are checked before anything is
// built from them.
func LoadSuite(path string, base Spec, r targets.Resolver) (*Suite, error) {
	root, err := readSuiteDoc(path)
	if err != nil {
		return nil, err
	}
	var (
		name, budget    string
		defaultsN       *yaml.Node
		testsN, matrixN []*yaml.Node
		seen            = map[string]int{}
	)
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind == yaml.ScalarNode && strings.HasPrefix(k.Value, "x-") {
			continue
		}
		if k.Kind != yaml.ScalarNode || !suiteKeys[k.Value] {
			return nil, lineError(path, k.Line, "unknown key %s (a suite has name, budget, defaults, tests, matrix and x-...)", quoteKey(k))
		}
		if l, dup := seen[k.Value]; dup {
			return nil, lineError(path, k.Line, "mapping key %q already defined at line %d", k.Value, l)
		}
		seen[k.Value] = k.Line
		switch k.Value {
		case "name", "budget":
			if v.Kind != yaml.ScalarNode {
				return nil, lineError(path, v.Line, "%s must be a string", k.Value)
			}
			if k.Value == "name" {
				name = v.Value
			} else {
				budget = v.Value
			}
		case "defaults":
			if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!null" {
				defaultsN = v
			}
		case "tests", "matrix":
			if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null" {
				continue
			}
			if v.Kind != yaml.SequenceNode {
				return nil, lineError(path, v.Line, "%s must be a list", k.Value)
			}
			if k.Value == "tests" {
				testsN = v.Content
			} else {
				matrixN = v.Content
			}
		}
	}
	s := &Suite{Name: name}
	if s.Name == "" {
		s.Name = strings.TrimSuffix(strings.TrimSuffix(baseName(path), ".yaml"), ".yml")
	}
	if budget != "" {
		if s.Budget, err = time.ParseDuration(budget); err != nil || s.Budget <= 0 {
			return nil, fmt.Errorf("%s: budget %q: want a duration like 45m", path, budget)
		}
	}
	var defaults testFields
	if defaultsN != nil {
		if err := decodeStrict(path, defaultsN, "defaults", &defaults); err != nil {
			return nil, err
		}
	}
	base.Test = ""
	defaults.apply(&base)
	if len(testsN) > MaxSuiteTests {
		return nil, fmt.Errorf("%s: %d tests; a suite may have at most %d", path, len(testsN), MaxSuiteTests)
	}
	var errs []error
	var size suiteSize
	for _, n := range testsN {
		var tf testFields
		if err := decodeStrict(path, n, "a test", &tf); err != nil {
			errs = append(errs, err)
			continue
		}
		t, terrs := suiteTest(path, n.Line, base, defaults, tf, r)
		if err := size.add(path, n, 1, false, t.Repeat); err != nil {
			return nil, err
		}
		errs = append(errs, terrs...)
		s.Tests = append(s.Tests, t)
	}
	for _, n := range matrixN {
		ts, merrs := expandMatrix(path, n, base, defaults, &size, r)
		errs = append(errs, merrs...)
		s.Tests = append(s.Tests, ts...)
	}
	if len(errs) == 0 && len(s.Tests) == 0 {
		return nil, fmt.Errorf("%s: no tests (give tests: or matrix:)", path)
	}
	names := map[string]int{}
	for _, t := range s.Tests {
		if l, dup := names[t.Spec.Test]; dup {
			errs = append(errs, lineError(path, t.Line, "test name %q already used at line %d", t.Spec.Test, l))
			continue
		}
		names[t.Spec.Test] = t.Line
	}
	if len(errs) > 0 {
		return nil, joinCapped(errs)
	}
	return s, nil
}

func baseName(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}

// suiteTest builds and validates one test; it returns every problem
// found, each on its own line.
func suiteTest(path string, line int, base Spec, defaults, tf testFields, r targets.Resolver) (SuiteTest, []error) {
	spec := base
	tf.apply(&spec)
	t := SuiteTest{Spec: spec, Expect: models.Valid, Repeat: 1, Line: line}
	for _, f := range []testFields{defaults, tf} {
		if f.Expect != nil {
			t.Expect = models.Verdict(*f.Expect)
		}
		if f.Repeat != nil {
			t.Repeat = *f.Repeat
		}
	}
	if tf.Name == nil {
		return t, []error{lineError(path, line, "test has no name")}
	}
	var errs []error
	switch t.Expect {
	case models.Valid, models.Invalid, models.Unknown:
	default:
		errs = append(errs, lineError(path, line, "expect %q: want valid, invalid or unknown", t.Expect))
	}
	if t.Repeat < 1 || t.Repeat > MaxRepeat {
		errs = append(errs, lineError(path, line, "repeat %d: want 1..%d", t.Repeat, MaxRepeat))
	}
	// A target file named in a suite is found beside the suite, wherever
	// faultline runs from, and stored by its absolute path.
	if isTargetPath(t.Spec.Target) && !filepath.IsAbs(t.Spec.Target) {
		if abs, err := filepath.Abs(filepath.Join(filepath.Dir(path), t.Spec.Target)); err == nil {
			t.Spec.Target = abs
		}
	}
	for _, err := range splitErrors(CheckSpec(&t.Spec, r)) {
		errs = append(errs, lineError(path, line, "test %s: %v", t.Spec.Test, err))
	}
	return t, errs
}

// CheckSpec validates a spec against the catalogs, as Run would, without
// running anything; it reports every problem it finds (errors.Join, one
// per line). It resolves s.Nemesis to the nuker's canonical list and
// fills a default test name.
func CheckSpec(s *Spec, r targets.Resolver) error {
	var errs []error
	_, ferr := nuker.ParseFaults(strings.Join(s.Nemesis, ","))
	if ferr != nil {
		errs = append(errs, ferr)
	}
	if err := s.Validate(); err != nil {
		errs = append(errs, splitErrors(err)...)
	}
	var (
		t    targets.Target
		terr = fmt.Errorf("no target resolver to find target %q", s.Target)
	)
	if r != nil {
		t, terr = r.NewTarget(s.Target, s.TargetVersion, s.TargetOpts)
	}
	if terr != nil && s.Target != "" {
		errs = append(errs, terr)
	}
	wl, werr := workloads.Default().Lookup(s.Workload)
	if werr != nil && s.Workload != "" {
		errs = append(errs, werr)
	}
	if len(errs) == 0 && terr == nil && werr == nil {
		if err := fitTarget(t, wl.Name(), s); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// fitTarget refuses, in one line, a spec target t cannot run: a workload
// it does not serve, a cluster size it cannot form, a fault it does not
// support. It resolves s.Nemesis to the nuker's canonical list.
func fitTarget(t targets.Target, workload string, s *Spec) error {
	if wf, ok := t.(targets.WorkloadFitter); ok {
		if err := wf.FitWorkload(workload); err != nil {
			return err
		}
	}
	if !slices.Contains(t.Workloads(), workload) {
		return fmt.Errorf("target %s does not serve workload %s (it serves %v)", t.Name(), workload, t.Workloads())
	}
	if nc, ok := t.(targets.NodeChecker); ok {
		if err := nc.CheckNodes(s.Nodes); err != nil {
			return err
		}
	}
	if _, ok := t.(nuker.PrimaryLister); !ok && slices.Contains(s.Partitions, nuker.PartitionPrimaries) {
		return fmt.Errorf("target %s names no primaries (it has no leader): the %s partition cannot be made", t.Name(), nuker.PartitionPrimaries)
	}
	var err error
	if s.Nemesis, err = resolveFaults(t, s.Nemesis); err != nil || s.FaultSchedule == "" {
		return err
	}
	// The run's fault set is what the schedule's lanes use; it is stored
	// spelled out, so a replay runs the same lanes.
	plan, err := s.plan()
	if err != nil {
		return err
	}
	if err := plan.Check(t, s.Nodes); err != nil {
		return fmt.Errorf("target %s: fault schedule: %w", t.Name(), err)
	}
	if s.Nemesis, err = resolveFaults(t, plan.Faults()); err != nil {
		return err
	}
	s.FaultSchedule = plan.String()
	return nil
}

// resolveFaults turns the asked-for faults into the nuker's canonical list,
// "all" meaning every fault target t supports, and refuses any it does not.
func resolveFaults(t targets.Target, asked []string) ([]string, error) {
	if slices.Contains(asked, "all") {
		asked = targets.SupportedFaults(t)
	}
	faults, err := nuker.ParseFaults(strings.Join(asked, ","))
	if err != nil {
		return nil, err
	}
	if err := targets.CheckFaults(t, faults); err != nil {
		return nil, err
	}
	return faults, nil
}

// expandMatrix turns one matrix entry into tests: list-valued fields are
// axes, and the name template's {field} placeholders take each value. Its
// keys and the number of tests and runs it makes are checked before any
// test is built.
func expandMatrix(path string, n *yaml.Node, base Spec, defaults testFields, size *suiteSize, r targets.Resolver) ([]SuiteTest, []error) {
	if err := checkKeys(path, n, "a matrix entry", testKeys); err != nil {
		return nil, []error{err}
	}
	type axis struct {
		key    string
		values []*yaml.Node
	}
	var axes []axis
	var sizes []int
	fixed := &yaml.Node{Kind: yaml.MappingNode, Line: n.Line}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		isAxis := false
		if v.Kind == yaml.SequenceNode && len(v.Content) > 0 {
			switch k.Value {
			case "nemesis":
				isAxis = v.Content[0].Kind == yaml.SequenceNode
			case "target-opts":
				isAxis = true
			default:
				isAxis = v.Content[0].Kind == yaml.ScalarNode
			}
		}
		if isAxis {
			axes = append(axes, axis{k.Value, v.Content})
			sizes = append(sizes, len(v.Content))
		} else {
			fixed.Content = append(fixed.Content, k, v)
		}
	}
	var ftf testFields
	if err := decodeStrict(path, fixed, "a matrix entry", &ftf); err != nil {
		return nil, []error{err}
	}
	repeat := 1
	for _, f := range []testFields{defaults, ftf} {
		if f.Repeat != nil {
			repeat = *f.Repeat
		}
	}
	for _, a := range axes {
		if a.key == "repeat" {
			repeat = maxRepeat(a.values)
		}
	}
	count, overflow := countTests(sizes)
	if err := size.add(path, n, count, overflow, repeat); err != nil {
		return nil, []error{err}
	}
	combos := [][]*yaml.Node{{}}
	for _, a := range axes {
		next := make([][]*yaml.Node, 0, len(combos)*len(a.values))
		for _, c := range combos {
			for _, v := range a.values {
				next = append(next, append(slices.Clone(c), v))
			}
		}
		combos = next
	}
	var out []SuiteTest
	var errs []error
	for _, c := range combos {
		m := &yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Content: slices.Clone(fixed.Content)}
		var label []string
		for i, a := range axes {
			m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: a.key, Line: n.Line}, c[i])
			label = append(label, a.key+"-"+nodeLabel(c[i]))
		}
		var tf testFields
		if err := decodeStrict(path, m, "a matrix entry", &tf); err != nil {
			return out, append(errs, err)
		}
		name := "matrix"
		if tf.Name != nil {
			name = *tf.Name
		}
		for i, a := range axes {
			name = strings.ReplaceAll(name, "{"+a.key+"}", nodeLabel(c[i]))
		}
		if tf.Name == nil || !strings.Contains(*tf.Name, "{") && len(axes) > 0 {
			name += "-" + strings.Join(label, "-")
		}
		tf.Name = &name
		t, terrs := suiteTest(path, n.Line, base, defaults, tf, r)
		errs = append(errs, terrs...)
		out = append(out, t)
	}
	return out, errs
}

// nodeLabel renders a value for a test name: "partition+kill", "read-serializable".
func nodeLabel(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		var parts []string
		for _, c := range n.Content {
			parts = append(parts, nodeLabel(c))
		}
		return strings.Join(parts, "+")
	case yaml.MappingNode:
		var parts []string
		for i := 0; i+1 < len(n.Content); i += 2 {
			parts = append(parts, n.Content[i].Value+"-"+nodeLabel(n.Content[i+1]))
		}
		return strings.Join(parts, ",")
	}
	// A schedule ("seq:partition/primaries,kill") has characters a test
	// name may not.
	return strings.Map(func(r rune) rune {
		if r == '.' || r == '_' || r == '-' || r == '+' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' {
			return r
		}
		return '-'
	}, n.Value)
}

// SuiteRun is the outcome of one run of a suite test.
type SuiteRun struct {
	Test     SuiteTest
	Attempt  int
	Dir      string
	Results  Results
	Err      error
	Skipped  bool // not run: the budget was used up
	Duration time.Duration
}

// Passed reports whether the run had the verdict the suite expected.
func (r SuiteRun) Passed() bool {
	return r.Err == nil && !r.Skipped && r.Results.Verdict == r.Test.Expect
}

// SuiteOptions tunes RunSuite.
type SuiteOptions struct {
	// Parallel is how many tests run at once (default 1).
	Parallel int
	// StopOnFailure stops starting tests after the first that did not pass.
	StopOnFailure bool
	// Progress and Run options for each run.
	Run Options
	// OnDone is called after each run (for progress lines); may be nil.
	OnDone func(SuiteRun)
}

// RunSuite runs every test (each Repeat times, with fresh seeds after the
// first) one after another or Parallel at once, within the suite's budget.
// Tests that the budget or StopOnFailure left unstarted are returned as
// skipped. Cancelling ctx stops it like a Ctrl-C of each run.
func RunSuite(ctx context.Context, s *Suite, opt SuiteOptions) []SuiteRun {
	var jobs []SuiteRun
	for _, t := range s.Tests {
		for a := 1; a <= t.Repeat; a++ {
			jobs = append(jobs, SuiteRun{Test: t, Attempt: a})
		}
	}
	par := max(opt.Parallel, 1)
	start := time.Now()
	var (
		mu      sync.Mutex
		stopped bool
		wg      sync.WaitGroup
		sem     = make(chan struct{}, par)
	)
	for i := range jobs {
		sem <- struct{}{}
		mu.Lock()
		over := s.Budget > 0 && time.Since(start) >= s.Budget
		skip := stopped || over || ctx.Err() != nil
		mu.Unlock()
		if skip {
			<-sem
			jobs[i].Skipped = true
			switch {
			case ctx.Err() != nil:
				jobs[i].Err = errors.New("not run: interrupted")
			case over:
				jobs[i].Err = fmt.Errorf("not run: the suite's budget of %s was used up", s.Budget)
			default:
				jobs[i].Err = errors.New("not run: stopped at the first failure")
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			j := &jobs[i]
			spec := j.Test.Spec
			if j.Attempt > 1 {
				spec.Seed = 0 // a fresh seed, recorded in the run
			}
			t0 := time.Now()
			out, err := Run(ctx, spec, opt.Run)
			j.Duration = time.Since(t0)
			if out != nil {
				j.Dir, j.Results = out.Dir, out.Results
			}
			j.Err = err
			if !j.Passed() && opt.StopOnFailure {
				mu.Lock()
				stopped = true
				mu.Unlock()
			}
			if opt.OnDone != nil {
				mu.Lock()
				opt.OnDone(*j)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return jobs
}

// SuiteExitCode is the suite's exit code, as Jepsen's test-all: 1 when any
// run found an unexpected anomaly, else 3 when any could not run (harness
// error, budget, interrupt), else 2 when any was unknown, else 0. A run
// whose verdict is the one the suite expected counts as valid.
func SuiteExitCode(runs []SuiteRun) int {
	var invalid, harness, unknown bool
	for _, r := range runs {
		switch {
		case r.Passed():
		case r.Err != nil:
			harness = true
		case r.Results.Verdict == models.Invalid || r.Test.Expect == models.Invalid:
			// An anomaly, or a known weakness that was expected and not found.
			invalid = true
		default:
			unknown = true
		}
	}
	switch {
	case invalid:
		return 1
	case harness:
		return 3
	case unknown:
		return 2
	}
	return 0
}

// JUnitCase describes the run for JUnit XML.
func (r SuiteRun) JUnitCase(suite string) reports.Case {
	name := r.Test.Spec.Test
	if r.Test.Repeat > 1 {
		name = fmt.Sprintf("%s#%d", name, r.Attempt)
	}
	c := reports.Case{
		Name: name, Suite: suite, Verdict: r.Results.Verdict, Expected: r.Test.Expect,
		Reason: r.Results.Reason, Duration: r.Duration,
		Properties: map[string]string{
			"target": r.Test.Spec.Target, "workload": r.Test.Spec.Workload,
			"nemesis": strings.Join(r.Test.Spec.Nemesis, ","),
		},
	}
	if c.Verdict == "" {
		c.Verdict = models.Unknown
	}
	if r.Err != nil {
		c.HarnessError = r.Err.Error()
	}
	if r.Dir != "" {
		c.Report = filepath.Join(r.Dir, ReportFile)
		c.Properties["run_dir"] = r.Dir
	}
	if r.Results.Run.ID != "" {
		c.Properties["run_id"] = r.Results.Run.ID
		c.Properties["target_version"] = r.Results.Run.TargetVersion
		for k, v := range r.Results.Run.TargetSettings {
			c.Properties["target_opt."+k] = v
		}
	}
	if r.Results.Run.Seed != 0 {
		c.Properties["seed"] = fmt.Sprint(r.Results.Run.Seed)
	}
	for _, res := range r.Results.Results {
		c.Anomalies = append(c.Anomalies, res.Anomalies...)
	}
	return c
}
