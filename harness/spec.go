package harness

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/faultline/faultline/nuker"
	"github.com/faultline/faultline/reports"
)

// Duration is a time.Duration written as "10s" in JSON.
type Duration time.Duration

// MarshalJSON writes the duration as a string such as "1m0s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "10s" or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("duration %s: want a string like \"10s\"", b)
	}
	*d = Duration(n)
	return nil
}

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Spec is everything that defines a test run; it is stored as spec.json.
type Spec struct {
	// Test names the test; runs are stored under store/<Test>/.
	Test string `json:"test"`
	// Target is the system under test and TargetVersion its release ("" =
	// the target's default); TargetOpts are its knobs (--target-opt k=v).
	Target        string            `json:"target"`
	TargetVersion string            `json:"target_version,omitempty"`
	TargetOpts    map[string]string `json:"target_opts,omitempty"`
	// Workload is the traffic driven against it.
	Workload string `json:"workload"`
	// Nemesis lists the fault kinds; NemesisInterval is the time between a
	// fault's start and stop and between faults.
	Nemesis         []string `json:"nemesis"`
	NemesisInterval Duration `json:"nemesis_interval"`
	// DiskMount mounts the disk filesystem over the target's data
	// directory even when no disk fault is asked for: it then only passes
	// through, which is how its cost is measured.
	DiskMount bool `json:"disk_mount,omitempty"`
	// Partitions are the partition kinds the partition fault draws from;
	// empty means the nuker's defaults.
	Partitions []string `json:"partitions,omitempty"`
	// Nodes is the cluster size, Concurrency the number of workers (one op
	// outstanding each), Rate the total ops/s limit (0 = none).
	Nodes       int     `json:"nodes"`
	Concurrency int     `json:"concurrency"`
	Rate        float64 `json:"rate,omitempty"`
	// TimeLimit is the length of the run phase.
	TimeLimit Duration `json:"time_limit"`
	// Seed makes op and fault choices reproducible.
	Seed int64 `json:"seed"`
	// OpTimeout bounds one client op; a timed-out op is info.
	OpTimeout Duration `json:"op_timeout"`
	// RecoveryWait is the pause after healing before final reads.
	RecoveryWait Duration `json:"recovery_wait"`
	// CheckTimeout bounds each checker; past it the verdict is unknown.
	CheckTimeout Duration `json:"check_timeout"`
	// OpsPerKey bounds the ops on one key (0 = the workload's default).
	OpsPerKey int `json:"ops_per_key,omitempty"`
	// FaultSchedule is the shape of the fault schedule in nuker.ParsePlan's
	// text form ("overlap", "seq:partition/primaries,kill/primaries",
	// lanes joined by "+"); "" means one fault at a time. A run stores it
	// canonical (its lanes spelled out), so a replay runs the same lanes.
	FaultSchedule string `json:"fault_schedule,omitempty"`
	// Schedule, when set, is the fault schedule to play (a replay); the
	// nuker draws further faults from the seed once it is used up.
	Schedule []nuker.Step `json:"schedule,omitempty"`
	// ReplayOf is the run directory a replayed run reproduces.
	ReplayOf string `json:"replay_of,omitempty"`
	// SLO lists service-level objectives checked after the run, as
	// --slo takes them: "availability=99.5%,p99=250ms" (see
	// reports.ParseSLOs).
	SLO string `json:"slo,omitempty"`
	// ResourceInterval is how often each node's CPU, memory, network and
	// block I/O are sampled into resources.jsonl (0 = every second);
	// NoResources turns the sampling off.
	ResourceInterval Duration `json:"resource_interval,omitempty"`
	NoResources      bool     `json:"no_resources,omitempty"`
	// Store is the directory runs are stored in.
	Store string `json:"-"`
}

// DefaultSpec is the default test: a 5-node etcd cluster, the register
// workload, partitions, kills and pauses, for 60 s.
func DefaultSpec() Spec {
	return Spec{
		Target:          "etcd",
		Workload:        "register",
		Nemesis:         []string{"partition", "kill", "pause"},
		NemesisInterval: Duration(10 * time.Second),
		Nodes:           5,
		Concurrency:     10,
		TimeLimit:       Duration(60 * time.Second),
		OpTimeout:       Duration(2 * time.Second),
		RecoveryWait:    Duration(5 * time.Second),
		CheckTimeout:    Duration(5 * time.Minute),
		Store:           "store",
	}
}

// Validate checks the spec's own fields (targets, workloads and faults are
// checked against their catalogs by Run) and fills a default test name.
func (s *Spec) Validate() error {
	var errs []error
	if s.Target == "" {
		errs = append(errs, errors.New("target is empty"))
	}
	if s.Workload == "" {
		errs = append(errs, errors.New("workload is empty"))
	}
	if s.Nodes < 1 || s.Nodes > 100 {
		errs = append(errs, fmt.Errorf("nodes must be 1..100, got %d", s.Nodes))
	}
	if s.Concurrency < 1 || s.Concurrency > 10000 {
		errs = append(errs, fmt.Errorf("concurrency must be 1..10000, got %d", s.Concurrency))
	}
	// NaN compares false with everything: it would pass a plain < 0 test
	// and mean no limit at all.
	if math.IsNaN(s.Rate) || math.IsInf(s.Rate, 0) || s.Rate < 0 {
		errs = append(errs, fmt.Errorf("rate must be a finite number >= 0, got %g", s.Rate))
	}
	if d := s.ResourceInterval.D(); d != 0 && d < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("resource-interval must be at least 100ms, got %s", d))
	}
	if s.OpsPerKey < 0 {
		errs = append(errs, fmt.Errorf("ops-per-key must be >= 0, got %d", s.OpsPerKey))
	}
	if s.TimeLimit.D() <= 0 {
		errs = append(errs, fmt.Errorf("time limit must be > 0, got %s", s.TimeLimit.D()))
	} else if s.TimeLimit.D() > MaxTimeLimit {
		errs = append(errs, fmt.Errorf("time limit must be at most %s, got %s", MaxTimeLimit, s.TimeLimit.D()))
	}
	if len(s.Nemesis) > 0 && s.NemesisInterval.D() <= 0 {
		errs = append(errs, fmt.Errorf("nemesis interval must be > 0, got %s", s.NemesisInterval.D()))
	}
	for _, p := range s.Partitions {
		if !slices.ContainsFunc(nuker.KnownPartitions(), func(d nuker.Description) bool { return d.Name == p }) {
			errs = append(errs, fmt.Errorf("unknown partition %q (known: %s)", p, partitionNames()))
		}
	}
	plan, perr := s.plan()
	if perr != nil {
		errs = append(errs, perr)
	}
	if s.OpTimeout.D() <= 0 {
		errs = append(errs, fmt.Errorf("op timeout must be > 0, got %s", s.OpTimeout.D()))
	}
	if s.RecoveryWait.D() < 0 || s.CheckTimeout.D() <= 0 {
		errs = append(errs, errors.New("recovery wait must be >= 0 and check timeout > 0"))
	}
	if _, err := reports.ParseSLOs(s.SLO); err != nil {
		errs = append(errs, err)
	}
	if s.Test == "" {
		s.Test = targetBase(s.Target) + "-" + s.Workload
		faults := s.Nemesis
		if perr == nil && s.FaultSchedule != "" && !slices.Contains(s.Nemesis, "all") {
			faults = plan.Faults()
		}
		if len(faults) > 0 {
			s.Test += "-" + strings.Join(faults, "+")
		}
	}
	if err := checkTestName(s.Test); err != nil {
		errs = append(errs, err)
	}
	if err := checkStore(s.Store); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// plan is the spec's fault schedule as a nuker.Plan over its faults. A
// fault set still saying "all" (resolved once the target is known) is
// read for the plan's shape only.
func (s *Spec) plan() (nuker.Plan, error) {
	var faults []string
	if !slices.Contains(s.Nemesis, "all") {
		// An unknown fault is reported by the fault set's own check.
		faults, _ = nuker.ParseFaults(strings.Join(s.Nemesis, ","))
	}
	p, err := nuker.ParsePlan(s.FaultSchedule, faults, s.NemesisInterval.D())
	if err == nil {
		err = p.Validate()
	}
	if err != nil {
		return p, fmt.Errorf("fault schedule: %w", err)
	}
	return p, nil
}

// partitionNames lists the nuker's partition kinds for error messages.
func partitionNames() string {
	var out []string
	for _, d := range nuker.KnownPartitions() {
		out = append(out, d.Name)
	}
	return strings.Join(out, ", ")
}

// targetBase is the target's part of a default test name: its name, or
// for a target file (a path) the file's base name without extension.
func targetBase(target string) string {
	if !isTargetPath(target) {
		return target
	}
	return strings.TrimSuffix(filepath.Base(target), filepath.Ext(target))
}

// isTargetPath reports whether a spec's target names a target file (a
// path) rather than a shipped system: the rule targetfile.IsPath applies.
func isTargetPath(target string) bool {
	return strings.ContainsAny(target, `/\`) || strings.HasSuffix(target, ".yaml") || strings.HasSuffix(target, ".yml")
}
