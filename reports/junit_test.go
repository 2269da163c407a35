package reports

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	junit "github.com/joshdk/go-junit"

	"github.com/faultline/faultline/models"
)

// TestJUnitReadByConsumer: the XML is read by an existing JUnit consumer
// (github.com/joshdk/go-junit, not our own parser) with the expected
// testcases, failures and errors.
func TestJUnitReadByConsumer(t *testing.T) {
	cases := []Case{
		{Name: "etcd-ok", Suite: "nightly", Verdict: models.Valid, Duration: 61 * time.Second,
			Properties: map[string]string{"seed": "7", "target_version": "v3.6.16", "read": "linearizable"}},
		{Name: "etcd-stale", Suite: "nightly", Verdict: models.Invalid, Reason: "linearizable: invalid",
			Anomalies: []models.Anomaly{{Kind: "stale-read", Explanation: "Stale read on key 1: ..."}}, Report: "store/x/report.html"},
		{Name: "etcd-known-weakness", Suite: "nightly", Verdict: models.Invalid, Expected: models.Invalid},
		{Name: "etcd-unknown", Suite: "nightly", Verdict: models.Unknown, Reason: "check timed out"},
		{Name: "etcd-no-docker", Suite: "nightly", Verdict: models.Unknown, HarnessError: "docker engine unreachable"},
		{Name: "etcd-weakness-missed", Suite: "nightly", Verdict: models.Valid, Expected: models.Invalid},
	}
	path := filepath.Join(t.TempDir(), "junit.xml")
	if err := WriteJUnit(path, "nightly", cases); err != nil {
		t.Fatal(err)
	}
	suites, err := junit.IngestFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(suites) != 1 || len(suites[0].Tests) != len(cases) {
		t.Fatalf("consumer read %d suites / %+v", len(suites), suites)
	}
	want := map[string]junit.Status{
		"etcd-ok":              junit.StatusPassed,
		"etcd-stale":           junit.StatusFailed,
		"etcd-known-weakness":  junit.StatusPassed,
		"etcd-unknown":         junit.StatusError,
		"etcd-no-docker":       junit.StatusError,
		"etcd-weakness-missed": junit.StatusFailed,
	}
	for _, tc := range suites[0].Tests {
		if tc.Status != want[tc.Name] {
			t.Errorf("%s: status %s, want %s", tc.Name, tc.Status, want[tc.Name])
		}
		switch tc.Name {
		case "etcd-stale":
			if !strings.Contains(tc.Message, "1 stale-read") || !strings.Contains(tc.Message, "store/x/report.html") {
				t.Errorf("failure message %q should name the anomalies and the report", tc.Message)
			}
			if tc.Error == nil || !strings.Contains(tc.Error.Error(), "Stale read on key 1") {
				t.Errorf("failure body %v should explain the anomaly", tc.Error)
			}
		case "etcd-ok":
			if !strings.Contains(tc.SystemOut, "seed=7") || !strings.Contains(tc.SystemOut, "target_version=v3.6.16") {
				t.Errorf("properties not in system-out: %q", tc.SystemOut)
			}
			if tc.Duration != 61*time.Second {
				t.Errorf("duration %v", tc.Duration)
			}
		case "etcd-no-docker":
			if !strings.Contains(tc.Message, "harness could not run") {
				t.Errorf("harness error reported as %q", tc.Message)
			}
		}
	}
	if suites[0].Totals.Failed != 2 || suites[0].Totals.Error != 2 || suites[0].Totals.Passed != 2 {
		t.Errorf("totals %+v", suites[0].Totals)
	}
}

// TestWriteJUnitPlantedTmpLink: a link planted at FILE.tmp does not
// redirect the write, and a link at FILE is replaced, not followed.
func TestWriteJUnitPlantedTmpLink(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("victim"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "junit.xml")
	if err := os.Symlink(victim, out+".tmp"); err != nil {
		t.Fatal(err)
	}
	if err := WriteJUnit(out, "s", []Case{{Suite: "s", Name: "t"}}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "victim" {
		t.Errorf("victim overwritten through FILE.tmp: %.60q", b)
	}
	os.Remove(out)
	if err := os.Symlink(victim, out); err != nil {
		t.Fatal(err)
	}
	if err := WriteJUnit(out, "s", []Case{{Suite: "s", Name: "t"}}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "victim" {
		t.Errorf("victim overwritten through a link at FILE: %.60q", b)
	}
	if fi, err := os.Lstat(out); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("%s is not a regular file: %v", out, err)
	}
}
