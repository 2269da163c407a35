package harness

import (
	"context"
	"path/filepath"
	"testing"

	junit "github.com/joshdk/go-junit"

	"github.com/faultline/faultline/harness/docker/dockerenv"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/reports"
	"github.com/faultline/faultline/targets/catalog"
)

// TestSuiteEndToEnd runs a suite of three real tests (valid, invalid,
// could not run), writes JUnit XML that an existing consumer reads with the
// expected cases, and computes test-all's exit code.
func TestSuiteEndToEnd(t *testing.T) {
	dockerenv.NeedDocker(t)
	if testenv.Short() {
		t.Skip("long Docker run skipped with -short")
	}
	base := DefaultSpec()
	base.Store = t.TempDir()
	s, err := LoadSuite(filepath.Join("testdata", "suite-e2e.yaml"), base, catalog.Default())
	if err != nil {
		t.Fatal(err)
	}
	runs := RunSuite(context.Background(), s, SuiteOptions{Run: testOptions(t)})
	want := map[string]models.Verdict{"etcd-valid": models.Valid, "etcd-stale-reads": models.Invalid}
	var cases []reports.Case
	for _, r := range runs {
		cases = append(cases, r.JUnitCase(s.Name))
		name := r.Test.Spec.Test
		if name == "etcd-no-such-release" {
			if r.Err == nil {
				t.Errorf("%s ran: %s", name, r.Results.Verdict)
			}
			continue
		}
		if r.Err != nil || r.Results.Verdict != want[name] {
			t.Errorf("%s: verdict %s err %v, want %s (%s)", name, r.Results.Verdict, r.Err, want[name], r.Dir)
		}
	}
	if code := SuiteExitCode(runs); code != 1 {
		t.Errorf("exit code %d, want 1 (an anomaly found)", code)
	}
	if code := SuiteExitCode(runs[:1]); code != 0 {
		t.Errorf("valid run alone: exit code %d, want 0", code)
	}
	if code := SuiteExitCode([]SuiteRun{runs[0], runs[2]}); code != 3 {
		t.Errorf("valid + could not run: exit code %d, want 3", code)
	}
	path := filepath.Join(t.TempDir(), "junit.xml")
	if err := reports.WriteJUnit(path, s.Name, cases); err != nil {
		t.Fatal(err)
	}
	suites, err := junit.IngestFile(path)
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]junit.Status{}
	for _, s := range suites {
		for _, tc := range s.Tests {
			status[tc.Name] = tc.Status
		}
	}
	wantStatus := map[string]junit.Status{"etcd-valid": junit.StatusPassed, "etcd-stale-reads": junit.StatusFailed, "etcd-no-such-release": junit.StatusError}
	for n, st := range wantStatus {
		if status[n] != st {
			t.Errorf("JUnit %s: %s, want %s", n, status[n], st)
		}
	}
}
