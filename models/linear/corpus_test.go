package linear

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// corpusDir finds the shared reference histories: $FAULTLINE_CORPUS, or a
// shared/corpus directory in the test's directory or one of its parents
// (the corpus lives next to the repository, not in it).
func corpusDir(t testing.TB) string {
	if d := os.Getenv("FAULTLINE_CORPUS"); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		c := filepath.Join(dir, "shared", "corpus")
		if st, err := os.Stat(c); err == nil && st.IsDir() {
			return c
		}
		if filepath.Dir(dir) == dir {
			break
		}
	}
	t.Skipf("reference corpus not found: set FAULTLINE_CORPUS to the shared/corpus directory (none in the parents of %s)", wd)
	return ""
}

// TestKnossosCorpus: faultline must agree with Knossos on every history it
// judged.
func TestKnossosCorpus(t *testing.T) {
	root := filepath.Join(corpusDir(t), "knossos", "cas-register")
	for _, want := range []struct {
		dir     string
		verdict models.Verdict
	}{{"good", models.Valid}, {"bad", models.Invalid}} {
		files, err := filepath.Glob(filepath.Join(root, want.dir, "*.edn"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 {
			t.Fatalf("no histories in %s", filepath.Join(root, want.dir))
		}
		for _, f := range files {
			t.Run(want.dir+"/"+filepath.Base(f), func(t *testing.T) {
				ops, format, err := history.ReadAny(f)
				if err != nil {
					t.Fatal(err)
				}
				if format != history.FormatJepsenEDN {
					t.Errorf("format %q", format)
				}
				start := time.Now()
				res := NewCASRegister().Check(context.Background(), ops, models.Options{})
				t.Logf("%d ops: %s in %v", res.Stats["ops"], res.Verdict, time.Since(start).Round(time.Microsecond))
				if res.Verdict != want.verdict {
					t.Fatalf("verdict %s (%s), Knossos says %s", res.Verdict, res.Reason, want.verdict)
				}
				if res.Verdict == models.Invalid {
					t.Logf("%s", res.Reason)
				}
			})
		}
	}
}

// TestPorcupineEtcdLogs checks the jepsen.util logs of etcd that porcupine
// ships with its tests against the verdicts porcupine's tests expect. It
// needs the module's source in the module cache.
func TestPorcupineEtcdLogs(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Skipf("go env GOMODCACHE: %v", err)
	}
	mod := filepath.Join(strings.TrimSpace(string(out)), "github.com", "anishathalye", "porcupine@v1.3.1")
	src, err := os.ReadFile(filepath.Join(mod, "porcupine_test.go"))
	if err != nil {
		t.Skipf("porcupine's test data is not in the module cache: %v", err)
	}
	expect := regexp.MustCompile(`checkJepsen\(t, (\d+), (true|false)\)`).FindAllStringSubmatch(string(src), -1)
	if len(expect) == 0 {
		t.Skip("no expectations found in porcupine_test.go")
	}
	for _, m := range expect {
		num := m[1]
		for len(num) < 3 {
			num = "0" + num
		}
		want := models.Invalid
		if m[2] == "true" {
			want = models.Valid
		}
		t.Run("etcd_"+num, func(t *testing.T) {
			ops, format, err := history.ReadAny(filepath.Join(mod, "test_data", "jepsen", "etcd_"+num+".log"))
			if err != nil {
				t.Fatal(err)
			}
			if format != history.FormatJepsenLog {
				t.Errorf("format %q", format)
			}
			res := NewCASRegister().Check(context.Background(), ops, models.Options{})
			if res.Verdict != want {
				t.Errorf("verdict %s (%s), porcupine's tests expect %s", res.Verdict, res.Reason, want)
			}
		})
	}
}

// BenchmarkKnossosLargest checks the largest history of the corpus.
func BenchmarkKnossosLargest(b *testing.B) {
	root := filepath.Join(corpusDir(b), "knossos", "cas-register")
	files, err := filepath.Glob(filepath.Join(root, "*", "*.edn"))
	if err != nil || len(files) == 0 {
		b.Fatalf("no corpus histories under %s: %v", root, err)
	}
	var largest []history.Op
	var name string
	for _, f := range files {
		ops, _, err := history.ReadAny(f)
		if err != nil {
			b.Fatal(err)
		}
		if len(ops) > len(largest) {
			largest, name = ops, filepath.Base(f)
		}
	}
	b.Logf("%s: %d history entries", name, len(largest))
	c := NewCASRegister()
	b.ResetTimer()
	for b.Loop() {
		if res := c.Check(context.Background(), largest, models.Options{}); res.Verdict == models.Unknown {
			b.Fatalf("unknown: %s", res.Reason)
		}
	}
}
