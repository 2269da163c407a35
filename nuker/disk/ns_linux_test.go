package disk

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestMountInAnotherNamespace mounts into the mount namespace of a process
// started in a namespace of its own: that process sees the filesystem (and
// a power failure), this one does not.
func TestMountInAnotherNamespace(t *testing.T) {
	backing, mnt := fuseDirs(t)
	other := exec.Command("unshare", "--mount", "--propagation", "private", "sleep", "60")
	if err := other.Start(); err != nil {
		t.Fatalf("unshare: %v", err)
	}
	t.Cleanup(func() { other.Process.Kill(); other.Wait() })
	pid := strconv.Itoa(other.Process.Pid)
	ns := "/proc/" + pid + "/ns/mnt"
	// unshare joins its namespace before it execs sleep.
	for self, _ := os.Readlink("/proc/self/ns/mnt"); ; time.Sleep(10 * time.Millisecond) {
		if theirs, _ := os.Readlink(ns); theirs != self && theirs != "" {
			break
		}
	}
	d, err := MountIn(ns, mnt, Options{Backing: backing})
	if err != nil {
		t.Fatal(err)
	}
	seen := filepath.Join("/proc", pid, "root", mnt, "f") // f as the other process sees it
	if err := write(seen, 0, "unsynced", 0, nil); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(backing, "f")); err != nil || string(b) != "unsynced" {
		t.Fatalf("backing f = %q, %v: the write did not go through the filesystem", b, err)
	}
	if _, err := os.Stat(filepath.Join(mnt, "f")); !os.IsNotExist(err) {
		t.Fatalf("f is visible in this namespace too (%v)", err)
	}
	if _, err := d.PowerFail(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(seen); err != nil || len(b) != 0 {
		t.Fatalf("after power failure f = %q, %v; want empty", b, err)
	}
	if err := d.Unmount(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(seen); !os.IsNotExist(err) {
		t.Fatalf("after unmount the other namespace still sees f (%v)", err)
	}
}
