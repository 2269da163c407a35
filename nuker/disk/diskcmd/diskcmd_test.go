package diskcmd

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testenv"
)

func TestUsage(t *testing.T) {
	cases := []struct {
		args []string
		code int
		out  string
	}{
		{nil, 2, ""},
		{[]string{"probe"}, 0, Banner},
		{[]string{"bogus"}, 2, ""},
		{[]string{"send", "power-fail"}, 2, ""},
		{[]string{"send", "--control", "/nonexistent.sock"}, 2, ""},
		{[]string{"send", "--control", "/nonexistent.sock", "pending"}, 1, ""},
		{[]string{"serve", "--control", "/x.sock", "--dir", "relative"}, 2, ""},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		if code := Main(c.args, &out, &errb); code != c.code || !strings.Contains(out.String(), c.out) {
			t.Errorf("%q: exit %d (%q, %q), want %d and %q", c.args, code, out.String(), errb.String(), c.code, c.out)
		}
	}
}

// TestServeInOtherNamespace serves over a directory of a process in a mount
// namespace of its own, as a disk helper does for a node, and drives a power
// failure through the control socket with send.
func TestServeInOtherNamespace(t *testing.T) {
	testenv.NeedFUSE(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "old"), []byte("kept"), 0o644); err != nil {
		t.Fatal(err)
	}
	other := exec.Command("unshare", "--mount", "--propagation", "private", "sleep", "60")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { other.Process.Kill(); other.Wait() }()
	pid := other.Process.Pid
	self, _ := os.Readlink("/proc/self/ns/mnt")
	for theirs, _ := os.Readlink(filepath.Join("/proc", itoa(pid), "ns/mnt")); theirs == self || theirs == ""; {
		time.Sleep(10 * time.Millisecond)
		theirs, _ = os.Readlink(filepath.Join("/proc", itoa(pid), "ns/mnt"))
	}
	sock := filepath.Join(dir, "control.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), pid, data, sock, false) }()
	send := func(cmd string) string {
		t.Helper()
		var out, errb bytes.Buffer
		for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
			out.Reset()
			errb.Reset()
			if Main([]string{"send", "--control", sock, cmd}, &out, &errb) == 0 {
				return out.String()
			}
			if time.Since(start) > 10*time.Second {
				t.Fatalf("send %s: %s", cmd, errb.String())
			}
		}
	}
	send("pending")
	seen := filepath.Join("/proc", itoa(pid), "root", data)
	if b, err := os.ReadFile(filepath.Join(seen, "old")); err != nil || string(b) != "kept" {
		t.Fatalf("old content through the mount: %q, %v", b, err)
	}
	if err := os.WriteFile(filepath.Join(seen, "new"), []byte("unsynced"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := send("power-fail"); !strings.Contains(out, "files=1") {
		t.Errorf("power-fail answered %q, want files=1", out)
	}
	if b, err := os.ReadFile(filepath.Join(seen, "new")); err != nil || len(b) != 0 {
		t.Errorf("after power failure new = %q, %v, want empty", b, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(seen, "old")); !os.IsNotExist(err) {
		t.Errorf("after serve ended the directory still shows old (%v): not unmounted", err)
	}
	if b, err := os.ReadFile(filepath.Join(data+BackingSuffix, "old")); err != nil || string(b) != "kept" {
		t.Errorf("backing old = %q, %v", b, err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestCopyAside: where a rename is refused (overlayfs, EXDEV), the tree is
// copied with its modes and the data directory left empty in place.
func TestCopyAside(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	backing := dir + BackingSuffix
	for _, d := range []string{dir, filepath.Join(dir, "15", "main")} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "15", "main", "PG_VERSION"), []byte("15\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("15/main", filepath.Join(dir, "current")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o710); err != nil {
		t.Fatal(err)
	}
	if err := copyAside(dir, backing); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(backing, "current", "PG_VERSION")); err != nil || string(b) != "15\n" {
		t.Errorf("copied file through the copied link: %q, %v", b, err)
	}
	for p, want := range map[string]os.FileMode{
		backing: 0o710, filepath.Join(backing, "15", "main"): 0o750,
		filepath.Join(backing, "15", "main", "PG_VERSION"): 0o640, dir: 0o710,
	} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Error(err)
		} else if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("data directory not emptied: %v, %v", entries, err)
	}
	if _, err := os.Stat(backing + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("temporary copy left: %v", err)
	}
}
