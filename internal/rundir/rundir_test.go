package rundir

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func mustT(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefuses(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "outside")
	mustT(t, os.WriteFile(outside, []byte("outside"), 0o644))
	mustT(t, os.WriteFile(filepath.Join(dir, "ok"), []byte("0123456789"), 0o644))
	mustT(t, os.Symlink("ok", filepath.Join(dir, "inner-link")))
	mustT(t, os.Symlink(outside, filepath.Join(dir, "outer-link")))
	mustT(t, syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644))
	mustT(t, os.Mkdir(filepath.Join(dir, "sub"), 0o755))
	d, err := Open(dir)
	mustT(t, err)
	defer d.Close()
	for _, name := range []string{"inner-link", "outer-link", "fifo", "sub", "../outside"} {
		if f, err := d.Open(name); err == nil {
			f.Close()
			t.Errorf("Open(%s) succeeded, want refused", name)
		}
	}
	if _, err := d.Open("fifo"); !errors.Is(err, ErrNotRegular) {
		t.Errorf("Open(fifo) = %v, want ErrNotRegular", err)
	}
	if b, err := d.ReadFile("ok", 10); err != nil || string(b) != "0123456789" {
		t.Errorf("ReadFile(ok, 10) = %q, %v", b, err)
	}
	if _, err := d.ReadFile("ok", 9); err == nil {
		t.Error("ReadFile over the cap succeeded")
	}
	var walked []string
	mustT(t, d.Walk(".", func(p string) { walked = append(walked, p) }))
	if len(walked) != 4 { // fifo, inner-link, ok, outer-link; not sub
		t.Errorf("walked %v, want the 4 non-directories", walked)
	}
}

func TestStageCommit(t *testing.T) {
	dir := t.TempDir()
	victimDir := t.TempDir()
	victim := filepath.Join(victimDir, "victim")
	mustT(t, os.WriteFile(victim, []byte("victim"), 0o644))
	mustT(t, os.WriteFile(filepath.Join(dir, "results.json"), []byte("old"), 0o644))
	mustT(t, os.Symlink(victim, filepath.Join(dir, "page.html")))
	mustT(t, os.Symlink(victimDir, filepath.Join(dir, "history")))
	d, err := Open(dir)
	mustT(t, err)
	defer d.Close()
	st, err := d.NewStage("")
	mustT(t, err)
	mustT(t, st.WriteFile("results.json", []byte("new")))
	mustT(t, st.WriteFile("page.html", []byte("page")))
	mustT(t, st.WriteFile("history/ops-0000.js", []byte("chunk")))
	if !st.Has("history/ops-0000.js") || st.Has("nope") {
		t.Error("Has is wrong")
	}
	mustT(t, st.Commit("results.json"))
	if b, _ := os.ReadFile(victim); string(b) != "victim" {
		t.Errorf("victim overwritten: %q", b)
	}
	ents, _ := os.ReadDir(victimDir)
	if len(ents) != 1 {
		t.Errorf("victim's directory changed: %d entries", len(ents))
	}
	for name, want := range map[string]string{"results.json": "new", "page.html": "page", "history/ops-0000.js": "chunk"} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", name, b, err, want)
		}
	}
	ents, _ = os.ReadDir(dir)
	if len(ents) != 3 {
		t.Errorf("run directory holds %d entries, want 3 (no staging left)", len(ents))
	}
}

// TestCommitOrder: when an output cannot be renamed into place, the ones
// ordered after it (results.json) keep their old content.
func TestCommitOrder(t *testing.T) {
	dir := t.TempDir()
	mustT(t, os.WriteFile(filepath.Join(dir, "results.json"), []byte("old"), 0o644))
	mustT(t, os.MkdirAll(filepath.Join(dir, "report.html", "x"), 0o755))
	d, err := Open(dir)
	mustT(t, err)
	defer d.Close()
	st, err := d.NewStage("")
	mustT(t, err)
	mustT(t, st.WriteFile("results.json", []byte("new")))
	mustT(t, st.WriteFile("report.html", []byte("report")))
	if err := st.Commit("report.html", "results.json"); err == nil {
		t.Fatal("Commit succeeded over a directory")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "results.json")); string(b) != "old" {
		t.Errorf("results.json = %q, want old", b)
	}
}

func TestWriteFileAtomicPlantedTmp(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	mustT(t, os.WriteFile(victim, []byte("victim"), 0o644))
	p := filepath.Join(dir, "out.xml")
	mustT(t, os.Symlink(victim, p+".tmp"))
	mustT(t, os.Symlink(victim, p))
	mustT(t, WriteFileAtomic(p, []byte("new"), 0o644))
	if b, _ := os.ReadFile(victim); string(b) != "victim" {
		t.Errorf("victim overwritten: %q", b)
	}
	if b, _ := os.ReadFile(p); string(b) != "new" {
		t.Errorf("out = %q", b)
	}
}
