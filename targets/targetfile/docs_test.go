package targetfile

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
)

// The complete example in docs/target-file.md must load.
func TestDocExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/target-file.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("no yaml example in docs/target-file.md")
	}
	// The local software it names.
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "cmd", "mystore"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "mystore.conf"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tg, err := LoadBytes("target-file.md", m[1], dir, fakeProtocols())
	if err != nil {
		t.Fatalf("the example does not load:\n%v", err)
	}
	sw, _ := tg.Software()
	if tg.Name() != "mystore" || len(sw.Binaries) != 1 || sw.Binaries[0].Require[0] != "example.com/mystore@v1.2" ||
		!slices.Equal(tg.Workloads(), []string{"register"}) {
		t.Errorf("example loaded as %s %+v %v", tg.Name(), sw, tg.Workloads())
	}
}
