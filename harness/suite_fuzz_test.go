package harness

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline/faultline/targets/catalog"
)

// FuzzReadSuite: whatever the suite file, LoadSuite returns (no panic, no
// runaway expansion); an accepted suite stays within the limits and its
// test names are plain store directory names; a refusal names the file
// on each of its lines. Seeds: the hostile corpus, the example suites and
// docs/nightly.yaml.
func FuzzReadSuite(f *testing.F) {
	for _, glob := range []string{"testdata/hostile/*.yaml", "testdata/suites/*.yaml", "testdata/*.yaml", "../docs/*.yaml"} {
		files, _ := filepath.Glob(glob)
		for _, p := range files {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add([]byte("tests:\n  - {name: a, target: etcd, nemesis: [all]}\n"))
	f.Add([]byte("matrix:\n  - {name: m, target: etcd, nodes: [3, 5], repeat: [1, 2]}\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "suite.yaml")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		base := DefaultSpec()
		base.Store = filepath.Join(dir, "store")
		s, err := LoadSuite(p, base, catalog.Default())
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, p) && !strings.HasPrefix(line, "... and ") {
					t.Fatalf("error line without the file: %q", line)
				}
			}
			return
		}
		runs := 0
		for _, tt := range s.Tests {
			if err := checkTestName(tt.Spec.Test); err != nil {
				t.Fatalf("accepted test name: %v", err)
			}
			if tt.Repeat < 1 || tt.Repeat > MaxRepeat {
				t.Fatalf("accepted repeat %d", tt.Repeat)
			}
			runs += tt.Repeat
		}
		if len(s.Tests) == 0 || len(s.Tests) > MaxSuiteTests || runs > MaxSuiteRuns {
			t.Fatalf("accepted %d tests, %d runs", len(s.Tests), runs)
		}
	})
}
