// Package diskcmd is the disk-fault filesystem's command line,
// faultline-disk: it serves package nuker/disk's filesystem over a directory
// of another process's mount namespace and sends it control commands. Both
// the faultline binary (as "faultline __disk" or under the name
// faultline-disk) and the standalone nuker/disk/cmd/faultline-disk run Main,
// so the Docker runtime can copy either into a helper container that shares
// a node's PID namespace and holds CAP_SYS_ADMIN and /dev/fuse for it.
//
//	faultline-disk serve --pid 1 --dir /var/lib/etcd --control /run/faultline-disk.sock [--dirs]
//	faultline-disk send --control /run/faultline-disk.sock power-fail
//	faultline-disk probe
//
// serve moves the directory, as process PID sees it, aside to DIR.faultline
// (the backing directory, kept across restarts of serve), puts an empty
// directory of the same owner and mode in its place (or, where overlayfs
// refuses to rename a directory of an image layer, copies the tree and
// empties the directory) and mounts the
// filesystem there in PID's mount namespace. It runs until SIGTERM or
// SIGINT, then unmounts. send prints the answer to one control command (see
// nuker/disk's control protocol) and exits 1 on an error answer.
package diskcmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/faultline/faultline/nuker/disk"
)

// Name is the command's name: a faultline binary invoked under it acts as
// faultline-disk.
const Name = "faultline-disk"

// Subcommand makes a faultline binary act as faultline-disk; it is not in
// faultline's help.
const Subcommand = "__disk"

// Banner is what probe prints.
const Banner = "faultline-disk ok"

// BackingSuffix and TrashSuffix name the directories serve keeps next to the
// mounted one.
const (
	BackingSuffix = ".faultline"
	TrashSuffix   = ".faultline-trash"
)

const usage = "usage: faultline-disk serve --pid N --dir DIR --control SOCKET [--dirs] | send --control SOCKET COMMAND... | probe"

// Main runs the command with args (without the program name) and returns
// its exit status: 0, 1 on failure, 2 on bad usage.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	fs := flag.NewFlagSet(Name+" "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	pid := fs.Int("pid", 1, "serve: the process whose mount namespace and root hold --dir")
	dir := fs.String("dir", "", "serve: the directory to mount over, as that process sees it")
	control := fs.String("control", "", "the control socket")
	dirs := fs.Bool("dirs", false, "serve: directory entries are durable only after fsync of their directory")
	timeout := fs.Duration("timeout", 30*time.Second, "send: give up after this long")
	switch args[0] {
	case "probe":
		fmt.Fprintln(stdout, Banner)
		return 0
	case "serve", "send":
	default:
		fmt.Fprintf(stderr, "%s: unknown command %q\n%s\n", Name, args[0], usage)
		return 2
	}
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *control == "" {
		fmt.Fprintf(stderr, "%s %s: --control is required\n", Name, args[0])
		return 2
	}
	if args[0] == "send" {
		if fs.NArg() == 0 {
			fmt.Fprintf(stderr, "%s send: no command\n", Name)
			return 2
		}
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		defer cancel()
		out, err := disk.Send(ctx, *control, strings.Join(fs.Args(), " "))
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprintln(stdout, out)
		return 0
	}
	if *dir == "" || !filepath.IsAbs(*dir) || fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s serve: want --dir ABSOLUTE-PATH and no arguments\n", Name)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if err := serve(ctx, log, *pid, filepath.Clean(*dir), *control, *dirs); err != nil {
		log.Error("faultline-disk serve", "err", err)
		return 1
	}
	return 0
}

// serve mounts the filesystem over dir in process pid's namespace and
// answers control commands until ctx ends.
func serve(ctx context.Context, log *slog.Logger, pid int, dir, control string, dirs bool) error {
	root := fmt.Sprintf("/proc/%d/root", pid)
	seen := filepath.Join(root, dir) // dir as this process reaches it
	backing := seen + BackingSuffix
	if err := moveAside(seen, backing); err != nil {
		return err
	}
	fsys, err := disk.MountIn(fmt.Sprintf("/proc/%d/ns/mnt", pid), dir,
		disk.Options{Backing: backing, Trash: seen + TrashSuffix, Dirs: dirs})
	if err != nil {
		return err
	}
	log.Info("mounted", "dir", dir, "pid", pid, "backing", backing, "dirs", dirs)
	os.Remove(control)
	ln, err := net.Listen("unix", control)
	if err != nil {
		return errors.Join(fmt.Errorf("control socket: %w", err), fsys.Unmount())
	}
	serveErr := fsys.ServeControl(ctx, ln)
	err = errors.Join(serveErr, fsys.Unmount())
	log.Info("unmounted", "dir", dir, "err", err)
	return err
}

// moveAside makes backing hold dir's content and dir an empty directory of
// the same owner and mode, unless an earlier serve did so already.
func moveAside(dir, backing string) error {
	if _, err := os.Stat(backing); err == nil {
		return nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("data directory %s is not a directory", dir)
	}
	err = os.Rename(dir, backing)
	if errors.Is(err, syscall.EXDEV) {
		// overlayfs (a container's root) refuses to rename a directory of
		// an image layer: copy it instead, and leave dir empty in place.
		return copyAside(dir, backing)
	}
	if err != nil {
		return fmt.Errorf("move data directory aside: %w", err)
	}
	if err := os.Mkdir(dir, fi.Mode().Perm()); err != nil {
		return fmt.Errorf("recreate data directory: %w", err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if err := os.Chown(dir, int(st.Uid), int(st.Gid)); err != nil {
		return fmt.Errorf("recreate data directory: %w", err)
	}
	return os.Chmod(dir, fi.Mode().Perm())
}

// copyAside copies dir's tree to backing (through a temporary name, so a
// failed copy leaves no backing that a later serve would trust), then
// empties dir, which keeps its owner and mode.
func copyAside(dir, backing string) error {
	tmp := backing + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("copy data directory aside: %w", err)
	}
	if err := copyTree(dir, tmp); err != nil {
		return fmt.Errorf("copy data directory aside: %w", err)
	}
	if err := os.Rename(tmp, backing); err != nil {
		return fmt.Errorf("copy data directory aside: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("empty data directory: %w", err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("empty data directory: %w", err)
		}
	}
	return nil
}

// copyTree copies directories, regular files and symbolic links from src
// to dst (which must not exist) with their modes and owners; any other
// kind of file is refused, since a data directory holds none before its
// daemon starts.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case fi.IsDir():
			err = os.Mkdir(to, 0o700)
		case fi.Mode().IsRegular():
			err = copyFile(p, to)
		case fi.Mode()&os.ModeSymlink != 0:
			var link string
			if link, err = os.Readlink(p); err == nil {
				err = os.Symlink(link, to)
			}
		default:
			err = fmt.Errorf("%s: cannot copy a %s", p, fi.Mode().Type())
		}
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		if err := os.Lchown(to, int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			return nil
		}
		// After the chown, which clears set-id bits.
		return os.Chmod(to, fi.Mode()&(os.ModePerm|os.ModeSetuid|os.ModeSetgid|os.ModeSticky))
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		return errors.Join(err, out.Close())
	}
	return out.Close()
}
