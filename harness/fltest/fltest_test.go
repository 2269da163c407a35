package fltest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/harness"
	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/targets/etcd"
	"github.com/faultline/faultline/workloads"
)

// etcdValue is a target given as a value.
var etcdValue etcd.Target

// recorder is a testing.TB that records failures and skips instead of
// acting on them; everything else goes to the real test.
type recorder struct {
	testing.TB
	errors, fatals, skips, logs []string
}

func record(t *testing.T) *recorder { return &recorder{TB: t} }

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.fatals = append(r.fatals, fmt.Sprintf(format, args...))
}

func (r *recorder) Skipf(format string, args ...any) {
	r.skips = append(r.skips, fmt.Sprintf(format, args...))
}

func (r *recorder) Logf(format string, args ...any) {
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
	r.TB.Logf(format, args...)
}

// failed reports whether the fake test failed in any way.
func (r *recorder) failed() bool { return len(r.errors)+len(r.fatals) > 0 }

func TestSpecFromTest(t *testing.T) {
	x := Test{
		Name: "etcd-p", TargetName: "etcd", WorkloadName: "register", Nemesis: []string{"partition"},
		TimeLimit: 20 * time.Second, Nodes: 3, Seed: 7, TargetOpts: map[string]string{"read": "serializable"},
	}
	s, err := x.Spec()
	if err != nil {
		t.Fatal(err)
	}
	d := harness.DefaultSpec()
	if s.Test != "etcd-p" || s.Target != "etcd" || s.Workload != "register" || !slices.Equal(s.Nemesis, []string{"partition"}) ||
		s.TimeLimit.D() != 20*time.Second || s.Nodes != 3 || s.Seed != 7 || s.TargetOpts["read"] != "serializable" {
		t.Errorf("fields not taken: %+v", s)
	}
	if s.Concurrency != d.Concurrency || s.NemesisInterval != d.NemesisInterval || s.OpTimeout != d.OpTimeout || s.CheckTimeout != d.CheckTimeout {
		t.Errorf("defaults not kept: %+v", s)
	}
	x.TargetOpts["read"] = "linearizable"
	if s.TargetOpts["read"] != "serializable" {
		t.Error("Spec shares the caller's TargetOpts map")
	}

	s, err = Test{}.Spec()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Nemesis, d.Nemesis) || s.Target != d.Target || s.Test != "etcd-register-partition+kill+pause" {
		t.Errorf("zero Test is not the default test: %+v", s)
	}
	s, err = Test{Nemesis: []string{"none"}}.Spec()
	if err != nil || len(s.Nemesis) != 0 {
		t.Errorf("nemesis none: %v, %v", s.Nemesis, err)
	}
}

func TestSpecRefusesMistakes(t *testing.T) {
	for _, c := range []struct {
		name string
		x    Test
		want string
	}{
		{"fault", Test{Nemesis: []string{"flood"}}, "unknown fault"},
		{"target", Test{TargetName: "zookeepr"}, "zookeepr"},
		{"target twice", Test{Target: &etcdValue, TargetName: "etcd"}, "not both"},
		{"options with a value", Test{Target: &etcdValue, TargetOpts: map[string]string{"read": "serializable"}}, "TargetOpts go with TargetName"},
		{"workload twice", Test{Workload: workloads.Register{}, WorkloadName: "set"}, "not both"},
		{"target option", Test{TargetOpts: map[string]string{"read": "stale"}}, "read"},
		{"workload", Test{WorkloadName: "bank-ish"}, "bank-ish"},
		{"nodes", Test{Nodes: -1}, "nodes"},
		{"expect", Test{Expect: "fine"}, "expect"},
		{"name", Test{Name: "a b"}, "test name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.x.Spec()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

// A malformed test fails before the Docker check, so it fails on every
// machine, with or without Docker.
func TestRunFailsOnMalformedTest(t *testing.T) {
	r := record(t)
	res := Run(r, Test{Nemesis: []string{"partition", "flood"}})
	if len(r.fatals) != 1 || !strings.Contains(r.fatals[0], "flood") || len(r.skips) != 0 {
		t.Errorf("fatals %q, skips %q; want one fatal naming the fault", r.fatals, r.skips)
	}
	if res.Verdict != "" {
		t.Errorf("results %+v for a test that never ran", res)
	}
}

func TestTestName(t *testing.T) {
	for in, want := range map[string]string{
		"TestStore":                 "TestStore",
		"TestStore/partition_5s":    "TestStore-partition_5s",
		"TestStore/a b#01":          "TestStore-a-b-01",
		"/x":                        "x",
		"":                          "fltest",
		"TestÜ":                     "Test--",
		"TestStore/etcd+kill.v3.6-": "TestStore-etcd+kill.v3.6-",
	} {
		got := testName(in)
		if got != want {
			t.Errorf("testName(%q) = %q, want %q", in, got, want)
		}
		if _, err := (Test{Name: got}).Spec(); err != nil {
			t.Errorf("testName(%q) = %q is not a valid test name: %v", in, got, err)
		}
	}
}

// results builds a Results value with n anomalies from the linearizable
// checker.
func results(verdict models.Verdict, n int, reason string) harness.Results {
	r := models.Result{Checker: "linearizable", Model: "cas-register", Verdict: verdict, Reason: reason}
	for i := range n {
		r.Anomalies = append(r.Anomalies, models.Anomaly{
			Kind: "stale-read", Key: fmt.Sprint(i), Ops: []int64{int64(2 * i), int64(2*i + 1)},
			Explanation: fmt.Sprintf("process %d read a value overwritten before the read began (anomaly %d)", i, i),
		})
	}
	res := harness.Results{Test: "etcd-x", Verdict: verdict, Reason: reason, Results: []models.Result{r}}
	res.Stats.Ops = 1000
	res.Stats.Outcomes.OK = 900
	res.Stats.Outcomes.Fail = 90
	res.Stats.Outcomes.Info = 10
	return res
}

func TestInvalidFailsWithAnomaliesAndReport(t *testing.T) {
	dir := t.TempDir()
	spec := harness.DefaultSpec()
	spec.Seed = 4242
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, harness.SpecFile), b, 0o644); err != nil {
		t.Fatal(err)
	}

	r := record(t)
	judge(r, Test{}, dir, results(models.Invalid, 12, "linearizable: invalid"), true)
	if len(r.errors) != 1 || len(r.fatals) != 0 {
		t.Fatalf("errors %q, fatals %q; want exactly one error", r.errors, r.fatals)
	}
	msg := r.errors[0]
	t.Logf("the failure message:\n%s", msg)
	for _, want := range []string{
		"etcd-x: INVALID, want valid", "12 anomalies",
		"linearizable: stale-read on key 0: process 0 read a value",
		"stale-read on key 9: process 9", "... and 2 more in the report",
		"1000 ops: ok 900, fail 90, info 10",
		"seed 4242",
		"report: " + filepath.Join(dir, harness.ReportFile), StoreEnv + "=DIR",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q", want)
		}
	}
	if strings.Contains(msg, "key 10:") {
		t.Error("message lists more than 10 anomalies")
	}

	// Expected invalid: passes, and the log names the first anomaly.
	r = record(t)
	judge(r, Test{Expect: models.Invalid}, dir, results(models.Invalid, 3, ""), false)
	if r.failed() || len(r.logs) != 1 || !strings.Contains(r.logs[0], "first: linearizable: stale-read on key 0") {
		t.Errorf("expected invalid: errors %q, logs %q", r.errors, r.logs)
	}
}

func TestVerdictsAgainstExpectations(t *testing.T) {
	for _, c := range []struct {
		name     string
		x        Test
		res      harness.Results
		wantFail string // "" = must pass
	}{
		{"valid", Test{}, results(models.Valid, 0, ""), ""},
		{"unknown", Test{}, results(models.Unknown, 0, "linearizable: unknown (timed out after 5m0s)"),
			"UNKNOWN, want valid: linearizable: unknown (timed out after 5m0s) (set AllowUnknown"},
		{"unknown allowed", Test{AllowUnknown: true}, results(models.Unknown, 0, "no client operation completed"), ""},
		{"invalid not excused by AllowUnknown", Test{AllowUnknown: true}, results(models.Invalid, 1, ""), "INVALID, want valid: 1 anomaly"},
		{"weakness did not show", Test{Expect: models.Invalid}, results(models.Valid, 0, ""), "VALID, want invalid: the history is consistent"},
		{"weakness unknown", Test{Expect: models.Invalid}, results(models.Unknown, 0, "too few ops"), "UNKNOWN, want invalid: too few ops"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := record(t)
			judge(r, c.x, "", c.res, false)
			switch {
			case c.wantFail == "" && r.failed():
				t.Errorf("failed: %q %q", r.errors, r.fatals)
			case c.wantFail != "" && (len(r.errors) != 1 || !strings.Contains(r.errors[0], c.wantFail)):
				t.Errorf("errors %q, want one containing %q", r.errors, c.wantFail)
			}
		})
	}
}

// storeRun writes a run directory by hand, as Run would have stored it:
// spec.json and history.jsonl of register ops on key "1".
func storeRun(t *testing.T, name string, ops []history.Op) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name, "20260101T000000Z")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	spec := harness.DefaultSpec()
	// No faults asked for: the stored history has none (a run that asked for
	// faults and got none is unknown).
	spec.Test, spec.Nemesis, spec.Seed = name, nil, 11
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, harness.SpecFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	timed := make([]history.Op, len(ops))
	for i, op := range ops {
		op.Time = int64(i+1) * int64(time.Millisecond)
		op.Key = "1"
		timed[i] = op
	}
	if err := history.WriteFile(filepath.Join(dir, harness.HistoryFile), timed); err != nil {
		t.Fatal(err)
	}
	return dir
}

// registerOps: process 0 writes 1 then 2; process 1 then reads last.
func registerOps(last any) []history.Op {
	return []history.Op{
		{Type: history.Invoke, Process: 0, F: "write", Value: 1},
		{Type: history.OK, Process: 0, F: "write", Value: 1},
		{Type: history.Invoke, Process: 0, F: "write", Value: 2},
		{Type: history.OK, Process: 0, F: "write", Value: 2},
		{Type: history.Invoke, Process: 1, F: "read", Value: nil},
		{Type: history.OK, Process: 1, F: "read", Value: last},
	}
}

// Check re-judges a stored run: a stale read fails the Go test with the
// anomaly and the report; the same history without it passes.
func TestCheckStoredRun(t *testing.T) {
	dir := storeRun(t, "stale", registerOps(1))
	r := record(t)
	res := Check(r, dir)
	if res.Verdict != models.Invalid || len(r.errors) != 1 || len(r.fatals) != 0 {
		t.Fatalf("verdict %s, errors %q, fatals %q; want invalid and one error", res.Verdict, r.errors, r.fatals)
	}
	t.Logf("the failure message:\n%s", r.errors[0])
	for _, want := range []string{"stale: INVALID, want valid", "on key 1", "report: " + filepath.Join(dir, harness.ReportFile), "seed 11"} {
		if !strings.Contains(r.errors[0], want) {
			t.Errorf("message lacks %q", want)
		}
	}
	for _, f := range []string{harness.ResultsFile, harness.ReportFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("check did not write %s: %v", f, err)
		}
	}

	dir = storeRun(t, "fresh", registerOps(2))
	r = record(t)
	if res := Check(r, dir); res.Verdict != models.Valid || r.failed() {
		t.Errorf("fresh read: verdict %s, errors %q, fatals %q", res.Verdict, r.errors, r.fatals)
	}

	r = record(t)
	Check(r, t.TempDir())
	if len(r.fatals) != 1 {
		t.Errorf("check of an empty directory: fatals %q, want one", r.fatals)
	}
}
