package harness

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/targets"
	"github.com/faultline/faultline/targets/catalog"
)

func writeSuite(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "suite.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadSuite(t *testing.T) {
	p := writeSuite(t, `name: nightly
budget: 45m
defaults:
  time-limit: 20s
  nodes: 3
tests:
  - name: etcd-linearizable
    target: etcd
    nemesis: [partition, kill, pause]
  - name: etcd-serializable
    target: etcd
    target-opts: {read: serializable}
    nemesis: [partition]
    expect: invalid
    time-limit: 30s
matrix:
  - name: etcd-{nemesis}
    target: etcd
    nemesis: [[partition], [kill, pause]]
    repeat: 2
  - name: etcd-reads
    target: etcd
    target-opts: [{read: linearizable}, {read: serializable}]
    nodes: [3, 5]
  - name: etcd-sched
    target: etcd
    schedule: [overlap, "seq:partition/primaries,kill/primaries@interval=5s"]
`)
	s, err := LoadSuite(p, DefaultSpec(), catalog.Default())
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "nightly" || s.Budget.Minutes() != 45 {
		t.Errorf("suite %q budget %s", s.Name, s.Budget)
	}
	var names []string
	for _, tt := range s.Tests {
		names = append(names, tt.Spec.Test)
	}
	want := []string{"etcd-linearizable", "etcd-serializable", "etcd-partition", "etcd-kill+pause",
		"etcd-reads-target-opts-read-linearizable-nodes-3", "etcd-reads-target-opts-read-linearizable-nodes-5",
		"etcd-reads-target-opts-read-serializable-nodes-3", "etcd-reads-target-opts-read-serializable-nodes-5",
		"etcd-sched-schedule-overlap", "etcd-sched-schedule-seq-partition-primaries-kill-primaries-interval-5s"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("tests\n got %v\nwant %v", names, want)
	}
	lin, ser, kp := s.Tests[0], s.Tests[1], s.Tests[3]
	if lin.Spec.TimeLimit.D().Seconds() != 20 || lin.Spec.Nodes != 3 || lin.Expect != models.Valid || lin.Line != 7 {
		t.Errorf("defaults not applied: %+v line %d", lin.Spec, lin.Line)
	}
	if ser.Spec.TimeLimit.D().Seconds() != 30 || ser.Spec.TargetOpts["read"] != "serializable" || ser.Expect != models.Invalid {
		t.Errorf("override not applied: %+v", ser)
	}
	if kp.Repeat != 2 || strings.Join(kp.Spec.Nemesis, ",") != "kill,pause" {
		t.Errorf("matrix entry: %+v", kp)
	}
	// A schedule's faults are the run's; it is stored spelled out.
	ov, seq := s.Tests[8].Spec, s.Tests[9].Spec
	if ov.FaultSchedule != "mix:partition + mix:kill@after=3.333333333s + mix:pause@after=6.666666666s" || strings.Join(ov.Nemesis, ",") != "partition,kill,pause" {
		t.Errorf("overlap: schedule %q faults %v", ov.FaultSchedule, ov.Nemesis)
	}
	if seq.FaultSchedule != "seq:partition/primaries,kill/primaries@interval=5s" || strings.Join(seq.Nemesis, ",") != "partition,kill" {
		t.Errorf("seq: schedule %q faults %v", seq.FaultSchedule, seq.Nemesis)
	}
	if s.Tests[7].Spec.Nodes != 5 || s.Tests[7].Spec.TargetOpts["read"] != "serializable" {
		t.Errorf("matrix axes: %+v", s.Tests[7].Spec)
	}
}

// TestLoadSuiteErrors: a malformed suite is refused before anything runs,
// with the line and the reason.
func TestLoadSuiteErrors(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"unknown key", "tests:\n  - name: a\n    target: etcd\n    colour: blue\n", `:4: unknown key "colour"`},
		{"unknown target", "tests:\n  - name: a\n    target: oracle\n", `:2: test a: unknown target "oracle"`},
		{"bad fault", "tests:\n  - name: a\n    target: etcd\n  - name: b\n    target: etcd\n    nemesis: [meteor]\n", `:4: test b: unknown fault "meteor"`},
		{"bad option", "tests:\n  - name: a\n    target: etcd\n    target-opts: {read: sometimes}\n", ":2: test a: etcd: option read="},
		{"bad expect", "tests:\n  - name: a\n    target: etcd\n    expect: maybe\n", `:2: expect "maybe"`},
		{"no name", "tests:\n  - target: etcd\n", ":2: test has no name"},
		{"duplicate", "tests:\n  - name: a\n    target: etcd\n  - name: a\n    target: etcd\n", `:4: test name "a" already used at line 2`},
		{"bad duration", "tests:\n  - name: a\n    target: etcd\n    time-limit: soon\n", ":4:"},
		{"bad nodes", "defaults:\n  nodes: 0\ntests:\n  - name: a\n    target: etcd\n", ":4: test a: nodes must be"},
		{"empty", "name: x\n", "no tests"},
		{"not yaml", "tests: [\n", "yaml"},
		{"bad budget", "budget: forever\ntests:\n  - name: a\n    target: etcd\n", "budget"},
		{"defaults not a mapping", "defaults: [1]\ntests:\n  - name: a\n    target: etcd\n", ":1: defaults must be a mapping"},
		{"bad schedule", "tests:\n  - name: a\n    target: etcd\n    schedule: sometimes\n", `:2: test a: fault schedule: schedule "sometimes": unknown lane`},
		{"schedule variant", "tests:\n  - name: a\n    target: etcd\n    schedule: seq:kill/everyone\n", `fault kill has no variant "everyone"`},
		{"schedule fault unsupported", "tests:\n  - name: a\n    target: etcd\n    schedule: mix:failover\n", "failover"},
		{"unknown top-level key", "colour: blue\ntests:\n  - name: a\n    target: etcd\n", `:1: unknown key "colour"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadSuite(writeSuite(t, tt.text), DefaultSpec(), catalog.Default())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err %v, want it to contain %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestSuiteExitCode(t *testing.T) {
	run := func(v, expect models.Verdict, err error) SuiteRun {
		return SuiteRun{Test: SuiteTest{Expect: expect}, Results: Results{Verdict: v}, Err: err}
	}
	harness := errors.New("docker engine unreachable")
	tests := []struct {
		name string
		runs []SuiteRun
		code int
	}{
		{"all valid", []SuiteRun{run(models.Valid, models.Valid, nil), run(models.Valid, models.Valid, nil)}, 0},
		{"expected weakness found", []SuiteRun{run(models.Invalid, models.Invalid, nil)}, 0},
		{"expected weakness missed", []SuiteRun{run(models.Valid, models.Invalid, nil)}, 1},
		{"one invalid", []SuiteRun{run(models.Valid, models.Valid, nil), run(models.Invalid, models.Valid, nil)}, 1},
		{"one unknown", []SuiteRun{run(models.Valid, models.Valid, nil), run(models.Unknown, models.Valid, nil)}, 2},
		{"one could not run", []SuiteRun{run(models.Valid, models.Valid, nil), run(models.Unknown, models.Valid, harness)}, 3},
		{"invalid beats could not run", []SuiteRun{run(models.Invalid, models.Valid, nil), run(models.Unknown, models.Valid, harness)}, 1},
		{"budget skip", []SuiteRun{{Skipped: true, Err: errors.New("not run")}}, 3},
	}
	for _, tt := range tests {
		if got := SuiteExitCode(tt.runs); got != tt.code {
			t.Errorf("%s: exit %d, want %d", tt.name, got, tt.code)
		}
	}
}

// askedResolver resolves every name to the shipped etcd and records the
// names it was asked for.
type askedResolver struct{ asked []string }

func (r *askedResolver) NewTarget(name, version string, opts map[string]string) (targets.Target, error) {
	r.asked = append(r.asked, name)
	return catalog.Default().NewTarget("etcd", version, opts)
}

// TestSuiteTargetFileBesideSuite: a target file named in a suite is found
// beside the suite file, and stored by its absolute path.
func TestSuiteTargetFileBesideSuite(t *testing.T) {
	p := writeSuite(t, `name: mine
tests:
  - name: mine
    target: mystore.yaml
  - name: sub
    target: ./sub/other.yml
  - name: shipped
    target: etcd
`)
	r := &askedResolver{}
	s, err := LoadSuite(p, DefaultSpec(), r)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(p)
	want := []string{filepath.Join(dir, "mystore.yaml"), filepath.Join(dir, "sub", "other.yml"), "etcd"}
	for i, st := range s.Tests {
		if st.Spec.Target != want[i] {
			t.Errorf("test %s: target %q, want %q", st.Spec.Test, st.Spec.Target, want[i])
		}
	}
	if strings.Join(r.asked, ",") != strings.Join(want, ",") {
		t.Errorf("resolver asked for %q, want %q", r.asked, want)
	}
}
