package disk

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testenv"
	"golang.org/x/sys/unix"
)

// mountTest mounts a filesystem over a temporary directory and returns it
// with its mountpoint; it is unmounted when the test ends.
func mountTest(t *testing.T, dirs bool) (*FS, string) {
	t.Helper()
	backing, mnt := fuseDirs(t)
	d, err := Mount(mnt, Options{Backing: backing, Dirs: dirs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	return d, mnt
}

// fuseDirs skips t without FUSE, else returns an empty backing directory
// and mountpoint.
func fuseDirs(t *testing.T) (backing, mnt string) {
	t.Helper()
	testenv.NeedFUSE(t)
	tmp := t.TempDir()
	backing, mnt = filepath.Join(tmp, "backing"), filepath.Join(tmp, "mnt")
	for _, p := range []string{backing, mnt} {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return backing, mnt
}

// tree maps every regular file under root (relative path) to its content.
func tree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		out[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	return out
}

func sameTree(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// write writes data at off into the file p opened with flags, then calls
// sync on it (if not nil).
func write(p string, flags int, data string, off int64, sync func(*os.File) error) error {
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|flags, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte(data), off); err != nil {
		return err
	}
	if sync != nil {
		return sync(f)
	}
	return nil
}

func fsync(f *os.File) error     { return f.Sync() }
func fdatasync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }

func syncDir(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// durable makes name hold data durably, entry included.
func durable(dir, name, data string) error {
	if err := write(filepath.Join(dir, name), os.O_TRUNC, data, 0, fsync); err != nil {
		return err
	}
	return syncDir(dir)
}

func TestPowerFailFileData(t *testing.T) {
	cases := []struct {
		name   string
		do     func(p string) error
		before string // content just before the power failure
		after  string // and after it
	}{
		{"no sync loses the write", func(p string) error { return write(p, 0, "hello", 0, nil) }, "hello", ""},
		{"fsync keeps it", func(p string) error { return write(p, 0, "hello", 0, fsync) }, "hello", "hello"},
		{"fdatasync keeps it", func(p string) error { return write(p, 0, "hello", 0, fdatasync) }, "hello", "hello"},
		{"O_SYNC keeps it", func(p string) error { return write(p, os.O_SYNC, "hello", 0, nil) }, "hello", "hello"},
		{"O_DSYNC keeps it", func(p string) error { return write(p, unix.O_DSYNC, "hello", 0, nil) }, "hello", "hello"},
		{"writes after fsync are lost, earlier kept", func(p string) error {
			if err := write(p, 0, "abc", 0, fsync); err != nil {
				return err
			}
			return write(p, 0, "def", 3, nil)
		}, "abcdef", "abc"},
		{"overwrite and extend revert", func(p string) error {
			if err := write(p, 0, "aaaaaaaa", 0, fsync); err != nil {
				return err
			}
			if err := write(p, 0, "bb", 2, nil); err != nil {
				return err
			}
			return write(p, 0, "cc", 10, nil)
		}, "aabbaaaa\x00\x00cc", "aaaaaaaa"},
		{"truncate then write revert", func(p string) error {
			if err := write(p, 0, "abcdefgh", 0, fsync); err != nil {
				return err
			}
			if err := os.Truncate(p, 3); err != nil {
				return err
			}
			return write(p, 0, "XY", 5, nil)
		}, "abc\x00\x00XY", "abcdefgh"},
		{"O_TRUNC reverts", func(p string) error {
			if err := write(p, 0, "abc", 0, fsync); err != nil {
				return err
			}
			return write(p, os.O_TRUNC, "z", 0, nil)
		}, "z", "abc"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, mnt := mountTest(t, false)
			p := filepath.Join(mnt, "f")
			if err := c.do(p); err != nil {
				t.Fatal(err)
			}
			if got := tree(t, mnt); !sameTree(got, map[string]string{"f": c.before}) {
				t.Fatalf("before power failure: %q, want f=%q", got, c.before)
			}
			pending := d.Pending()
			dropped, err := d.PowerFail()
			if err != nil {
				t.Fatal(err)
			}
			if pending != dropped {
				t.Errorf("pending %+v, dropped %+v", pending, dropped)
			}
			if lost := c.before != c.after; lost != (dropped.Files == 1) {
				t.Errorf("dropped %+v, want 1 file dropped: %v", dropped, lost)
			}
			if got := tree(t, mnt); !sameTree(got, map[string]string{"f": c.after}) {
				t.Fatalf("after power failure: %q, want f=%q", got, c.after)
			}
			// Nothing is pending any more: a second failure changes nothing.
			if again, err := d.PowerFail(); err != nil || again != (Dropped{}) {
				t.Errorf("second power failure dropped %+v, %v", again, err)
			}
		})
	}
}

func TestPowerFailDirectoryEntries(t *testing.T) {
	cases := []struct {
		name   string
		dirs   bool
		setup  map[string]string // durable before do
		do     func(mnt string) error
		before map[string]string
		after  map[string]string
	}{
		{"new file fsynced, dir not: gone", true, nil, func(m string) error {
			return write(filepath.Join(m, "f"), 0, "v", 0, fsync)
		}, map[string]string{"f": "v"}, map[string]string{}},
		{"new file fsynced, dir too: kept", true, nil, func(m string) error {
			return durable(m, "f", "v")
		}, map[string]string{"f": "v"}, map[string]string{"f": "v"}},
		{"rename over without dir sync: reverted", true, map[string]string{"f": "v1"}, func(m string) error {
			if err := write(filepath.Join(m, "tmp"), 0, "v2", 0, fsync); err != nil {
				return err
			}
			return os.Rename(filepath.Join(m, "tmp"), filepath.Join(m, "f"))
		}, map[string]string{"f": "v2"}, map[string]string{"f": "v1"}},
		{"rename over with dir sync: kept", true, map[string]string{"f": "v1"}, func(m string) error {
			if err := write(filepath.Join(m, "tmp"), 0, "v2", 0, fsync); err != nil {
				return err
			}
			if err := os.Rename(filepath.Join(m, "tmp"), filepath.Join(m, "f")); err != nil {
				return err
			}
			return syncDir(m)
		}, map[string]string{"f": "v2"}, map[string]string{"f": "v2"}},
		{"unlink without dir sync: back", true, map[string]string{"f": "v", "g": "w"}, func(m string) error {
			return os.Remove(filepath.Join(m, "f"))
		}, map[string]string{"g": "w"}, map[string]string{"f": "v", "g": "w"}},
		{"unlink with dir sync: gone", true, map[string]string{"f": "v", "g": "w"}, func(m string) error {
			if err := os.Remove(filepath.Join(m, "f")); err != nil {
				return err
			}
			return syncDir(m)
		}, map[string]string{"g": "w"}, map[string]string{"g": "w"}},
		// Syncing sub commits the journal up to its last entry in sub, the
		// mkdir included, but not the later g.
		{"dir sync commits the journal in order", true, nil, func(m string) error {
			if err := os.Mkdir(filepath.Join(m, "sub"), 0o755); err != nil {
				return err
			}
			if err := durable(filepath.Join(m, "sub"), "f", "v"); err != nil {
				return err
			}
			return write(filepath.Join(m, "g"), 0, "w", 0, fsync)
		}, map[string]string{"sub/f": "v", "g": "w"}, map[string]string{"sub/f": "v"}},
		// As sync(1) does: the fsync comes through another handle than
		// the write, and each created file is tracked apart.
		{"fsync by a read-only handle, files apart", false, nil, func(m string) error {
			if err := write(filepath.Join(m, "f"), 0, "kept", 0, nil); err != nil {
				return err
			}
			f, err := os.Open(filepath.Join(m, "f"))
			if err != nil {
				return err
			}
			defer f.Close()
			if err := f.Sync(); err != nil {
				return err
			}
			return write(filepath.Join(m, "g"), 0, "lost", 0, nil)
		}, map[string]string{"f": "kept", "g": "lost"}, map[string]string{"f": "kept", "g": ""}},
		{"lazyfs mode: rename without dir sync kept", false, map[string]string{"f": "v1"}, func(m string) error {
			if err := write(filepath.Join(m, "tmp"), 0, "v2", 0, fsync); err != nil {
				return err
			}
			return os.Rename(filepath.Join(m, "tmp"), filepath.Join(m, "f"))
		}, map[string]string{"f": "v2"}, map[string]string{"f": "v2"}},
		{"lazyfs mode: unlink kept, unsynced data of new file lost", false, map[string]string{"f": "v"}, func(m string) error {
			if err := os.Remove(filepath.Join(m, "f")); err != nil {
				return err
			}
			return write(filepath.Join(m, "g"), 0, "w", 0, nil)
		}, map[string]string{"g": "w"}, map[string]string{"g": ""}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, mnt := mountTest(t, c.dirs)
			for name, data := range c.setup {
				if err := durable(mnt, name, data); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.do(mnt); err != nil {
				t.Fatal(err)
			}
			if got := tree(t, mnt); !sameTree(got, c.before) {
				t.Fatalf("before power failure: %q, want %q", got, c.before)
			}
			if _, err := d.PowerFail(); err != nil {
				t.Fatal(err)
			}
			if got := tree(t, mnt); !sameTree(got, c.after) {
				t.Fatalf("after power failure: %q, want %q", got, c.after)
			}
			if c.dirs {
				trash, err := os.ReadDir(d.opts.Trash)
				if err != nil || len(trash) != 0 {
					t.Errorf("trash after power failure: %v, %v", trash, err)
				}
			}
		})
	}
}

// control starts the control socket of d and returns a function sending
// one command through it.
func control(t *testing.T, d *FS) func(cmd string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "control.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.ServeControl(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return func(cmd string) string {
		t.Helper()
		out, err := Send(ctx, sock, cmd)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
}

func TestFaultsAndUndo(t *testing.T) {
	const delay = 40 * time.Millisecond
	const ops = 5
	cases := []struct {
		on   string
		op   func(p string) error // with the fault on, fails with want (nil: is slow)
		want error
	}{
		{"enospc on", func(p string) error { return write(p, 0, "more", 0, nil) }, syscall.ENOSPC},
		{"enospc on", func(p string) error { return write(p+".new", 0, "x", 0, nil) }, syscall.ENOSPC},
		{"enospc on", func(p string) error { return os.Truncate(p, 1<<20) }, syscall.ENOSPC},
		{"eio-read on", func(p string) error { _, err := os.ReadFile(p); return err }, syscall.EIO},
		{"eio-fsync on", func(p string) error { return write(p, 0, "x", 0, fsync) }, syscall.EIO},
		{"eio-fsync on", func(p string) error { return syncDir(filepath.Dir(p)) }, syscall.EIO},
		{"delay " + delay.String(), func(p string) error {
			for i := range ops {
				if err := write(p, 0, "x", int64(i), nil); err != nil {
					return err
				}
			}
			return nil
		}, nil},
	}
	for _, c := range cases {
		t.Run(c.on, func(t *testing.T) {
			d, mnt := mountTest(t, true)
			send := control(t, d)
			p := filepath.Join(mnt, "f")
			if err := durable(mnt, "f", "data"); err != nil {
				t.Fatal(err)
			}
			timed := func() (time.Duration, error) {
				start := time.Now()
				err := c.op(p)
				return time.Since(start), err
			}
			send(c.on)
			took, err := timed()
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("with %q: got %v, want %v", c.on, err, c.want)
			}
			if c.want == nil && (err != nil || took < ops*delay) {
				t.Fatalf("with %q: %d writes took %v (%v), want at least %v", c.on, ops, took, err, ops*delay)
			}
			if got := send("clear"); got != formatFaults(Faults{}) {
				t.Errorf("clear answered %q", got)
			}
			took, err = timed()
			if err != nil || took >= ops*delay {
				t.Fatalf("after clear: %v in %v, want passthrough", err, took)
			}
		})
	}
}

func TestStaleHandleAfterPowerFail(t *testing.T) {
	d, mnt := mountTest(t, false)
	f, err := os.Create(filepath.Join(mnt, "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("a"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.PowerFail(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("b"); !errors.Is(err, syscall.EIO) {
		t.Fatalf("write on a handle from before the power failure: %v, want EIO", err)
	}
	if err := write(filepath.Join(mnt, "f"), 0, "c", 0, nil); err != nil {
		t.Fatalf("new handle after power failure: %v", err)
	}
}

func TestControlRefusesBadCommands(t *testing.T) {
	d := &FS{files: map[uint64]*fileState{}}
	for _, cmd := range []string{"", "bogus", "enospc maybe", "delay", "delay -1s", "eio-read on now"} {
		if out, err := d.Control(cmd); err == nil {
			t.Errorf("%q: answered %q, want an error", cmd, out)
		}
	}
	if d.Faults() != (Faults{}) {
		t.Errorf("refused commands changed the faults: %+v", d.Faults())
	}
	out, err := d.Control("delay 5ms")
	if err != nil || !strings.Contains(out, "delay=5ms") || d.Faults().Delay != 5*time.Millisecond {
		t.Errorf("delay 5ms: %q, %v, %+v", out, err, d.Faults())
	}
}
