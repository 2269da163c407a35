package disk

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// maxWrite is the largest write the kernel sends; mounts made here and by
// go-fuse agree on it.
const maxWrite = 128 << 10

// MountIn mounts a filesystem over mountpoint inside the mount namespace ns
// (a path like /proc/PID/ns/mnt), so that the processes of that namespace
// see it while this process, serving it, stays where it is. This needs
// CAP_SYS_ADMIN (and CAP_SYS_CHROOT) here; the namespace's processes need
// nothing. opts.Backing and opts.Trash are paths as this process sees them
// (e.g. under /proc/PID/root), and must not lie under the mount.
func MountIn(ns, mountpoint string, opts Options) (*FS, error) {
	dev, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("disk: %w", err)
	}
	fd := int(dev.Fd())
	data := strings.Join([]string{
		fmt.Sprintf("fd=%d", fd),
		fmt.Sprintf("rootmode=%o", unix.S_IFDIR),
		"user_id=0", "group_id=0",
		fmt.Sprintf("max_read=%d", maxWrite),
		"allow_other", "default_permissions",
	}, ",")
	err = inNamespace(ns, func() error {
		return unix.Mount("faultline", mountpoint, "fuse.faultline", unix.MS_NOSUID|unix.MS_NODEV, data)
	})
	if err != nil {
		dev.Close()
		return nil, fmt.Errorf("disk: mount %s in %s: %w", mountpoint, ns, err)
	}
	unmount := func() error {
		return inNamespace(ns, func() error { return unix.Unmount(mountpoint, unix.MNT_DETACH) })
	}
	// go-fuse serves an already mounted connection named /dev/fd/N; it
	// duplicates nothing, so dev stays open for as long as the server runs.
	d, err := Mount(fmt.Sprintf("/dev/fd/%d", fd), opts)
	if err != nil {
		err = errors.Join(err, unmount())
		dev.Close()
		return nil, err
	}
	d.unmount = func() error {
		err := unmount()
		runtime.KeepAlive(dev)
		return err
	}
	if err := inNamespace(ns, func() error { return pollHack(mountpoint) }); err != nil {
		return nil, errors.Join(fmt.Errorf("disk: poll hack on %s: %w", mountpoint, err), d.Unmount())
	}
	return d, nil
}

// pollHack makes the kernel stop sending POLL for this mount: it polls a
// file that go-fuse answers with ENOSYS, which the kernel remembers for the
// connection. go-fuse does this itself only for a mountpoint it knows, not
// for /dev/fd/N. Without it, a Go program that serves the mount and opens
// a file on it (the tests) can deadlock: the runtime registers the file
// with epoll while holding its P, the kernel waits for the POLL answer,
// and a garbage collection waiting for that P keeps every goroutine that
// could answer from running (golang/go#21014). poll(2) here is a blocking
// syscall that releases the P.
func pollHack(mountpoint string) error {
	// go-fuse answers a lookup of this name in the root itself.
	fd, err := unix.Open(filepath.Join(mountpoint, ".go-fuse-epoll-hack"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	_, err = unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN | unix.POLLPRI | unix.POLLOUT}}, 0)
	if err != nil && err != unix.ENOSYS {
		return err
	}
	return nil
}

// inNamespace runs fn on a thread of its own that has joined the mount
// namespace ns. Threads of a Go process share their filesystem context, which
// setns refuses to move, so the thread first takes a private one; it is never
// given back to the scheduler (the goroutine ends locked, and the runtime
// ends the thread with it).
func inNamespace(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		errc <- func() error {
			if err := unix.Unshare(unix.CLONE_FS); err != nil {
				return fmt.Errorf("unshare filesystem context: %w", err)
			}
			f, err := os.Open(ns)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNS); err != nil {
				return fmt.Errorf("join mount namespace %s: %w", ns, err)
			}
			return fn()
		}()
	}()
	return <-errc
}
