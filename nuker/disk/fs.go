package disk

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Options configure a filesystem.
type Options struct {
	// Backing is the directory every operation passes through to.
	Backing string
	// Trash keeps unlinked and replaced entries until their directory is
	// synced (Dirs only). It must be on Backing's filesystem (entries are
	// renamed into it) and outside Backing; Mount empties it. Default:
	// Backing + ".trash".
	Trash string
	// Dirs makes directory entries durable only by fsync of their
	// directory; without it they are durable at once, as in LazyFS.
	Dirs bool
}

// Faults are the switchable faults; the zero value is plain passthrough.
type Faults struct {
	// ENOSPC fails writes, truncates that grow, fallocate and creates.
	ENOSPC bool
	// EIORead fails reads.
	EIORead bool
	// EIOFsync fails fsync and fdatasync (and makes nothing durable).
	EIOFsync bool
	// Delay is added to every read, write, fsync and namespace operation.
	Delay time.Duration
}

// FS is a mounted faultline filesystem.
type FS struct {
	opts    Options
	server  *fuse.Server
	root    *fs.Inode    // finds the inodes whose cache Corrupt drops
	unmount func() error // for a mount go-fuse did not make (MountIn)

	mu      sync.Mutex
	gen     uint64                // bumped by PowerFail: older handles fail with EIO
	files   map[uint64]*fileState // by inode: files with data not durable
	journal []nsOp                // directory entries not durable, oldest first
	faults  Faults
	seq     int // names trash entries
}

// Mount mounts a filesystem over mountpoint that passes through to
// opts.Backing. mountpoint may be "/dev/fd/N", an open /dev/fuse descriptor
// mounted by someone else (see go-fuse's fuse.NewServer). Unmount it with
// Unmount.
func Mount(mountpoint string, opts Options) (*FS, error) {
	if opts.Backing == "" {
		return nil, errors.New("disk: no backing directory")
	}
	if opts.Trash == "" {
		opts.Trash = filepath.Clean(opts.Backing) + ".trash"
	}
	// Entries trashed by an earlier server are as good as deleted: that
	// server's journal is gone with it.
	if err := os.RemoveAll(opts.Trash); err != nil {
		return nil, fmt.Errorf("disk: trash: %w", err)
	}
	if err := os.MkdirAll(opts.Trash, 0o700); err != nil {
		return nil, fmt.Errorf("disk: trash: %w", err)
	}
	d := &FS{opts: opts, files: map[uint64]*fileState{}}
	ops, err := fs.NewLoopbackRoot(opts.Backing)
	if err != nil {
		return nil, fmt.Errorf("disk: backing %s: %w", opts.Backing, err)
	}
	lb := ops.(*fs.LoopbackNode)
	root := &node{LoopbackNode: lb, d: d}
	lb.RootData.RootNode = root
	// No kernel caching of names or attributes: after a power failure the
	// kernel must see the backing directory as it is. File data is cached,
	// and the kernel's page cache is the one copy every handle reads
	// through: it never drops pages on its own (an open, a changed mtime),
	// since a drop racing a write-through write lets a read cache the bytes
	// the write is replacing (a reader then sees zeros a completed write
	// put data in). What changes the backing files behind the kernel (a
	// power failure, a corruption) drops their cache itself (invalidate).
	var zero time.Duration
	server, err := fs.Mount(mountpoint, root, &fs.Options{
		EntryTimeout:    &zero,
		AttrTimeout:     &zero,
		NegativeTimeout: &zero,
		MountOptions: fuse.MountOptions{
			AllowOther: true,
			FsName:     "faultline",
			Name:       "faultline",
			// mount(2) here, not fusermount; never for "/dev/fd/N", which
			// go-fuse would then mount over /dev/fuse.
			DirectMount: !strings.HasPrefix(mountpoint, "/dev/fd/"),
			MaxWrite:    maxWrite,
			// Without it the kernel drops a file's cache whenever a
			// getattr shows a new mtime, that is after every write.
			ExplicitDataCacheControl: true,
			// The server runs as root: let the kernel check permissions
			// against the modes it passes through.
			Options: []string{"default_permissions"},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("disk: mount %s: %w", mountpoint, err)
	}
	d.server = server
	d.root = root.EmbeddedInode()
	return d, nil
}

// invalidate drops what the kernel caches of the inodes' data and
// attributes, after their backing files changed behind it. d.mu must not be
// held: dropping a page waits for a write holding it, which may wait for
// d.mu.
func invalidate(inodes []*fs.Inode) error {
	var errs []error
	for _, in := range inodes {
		// ENOENT: the kernel holds nothing of it.
		if e := in.NotifyContent(0, 0); e != 0 && e != syscall.ENOENT {
			errs = append(errs, fmt.Errorf("invalidate inode %d: %w", in.StableAttr().Ino, e))
		}
	}
	return errors.Join(errs...)
}

// invalidateFiles is invalidate for the files at these backing paths (each
// relative to the backing directory) that the kernel knows.
func (d *FS) invalidateFiles(rels []string) error {
	var inodes []*fs.Inode
	for _, rel := range rels {
		if in := d.inode(rel); in != nil && !slices.Contains(inodes, in) {
			inodes = append(inodes, in)
		}
	}
	return invalidate(inodes)
}

// inode finds the inode of rel (a backing path) among those the kernel
// knows, or nil.
func (d *FS) inode(rel string) *fs.Inode {
	in := d.root
	for _, name := range strings.Split(filepath.Clean(rel), string(filepath.Separator)) {
		if in = in.GetChild(name); in == nil {
			return nil
		}
	}
	return in
}

// Unmount unmounts the filesystem and waits for its server to stop. Data not
// durable stays in the backing directory, as after a clean shutdown.
func (d *FS) Unmount() error {
	unmount := d.server.Unmount
	if d.unmount != nil {
		unmount = d.unmount
	}
	if err := unmount(); err != nil {
		return fmt.Errorf("disk: unmount: %w", err)
	}
	d.server.Wait()
	d.mu.Lock()
	defer d.mu.Unlock()
	for ino, st := range d.files {
		st.f.Close()
		delete(d.files, ino)
	}
	return nil
}

// Wait blocks until the filesystem is unmounted.
func (d *FS) Wait() { d.server.Wait() }

// SetFaults replaces the switchable faults; Faults{} is passthrough.
func (d *FS) SetFaults(f Faults) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.faults = f
}

// Faults returns the switchable faults in force.
func (d *FS) Faults() Faults {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.faults
}

// enter applies the delay fault and reports the faults in force and the
// current generation.
func (d *FS) enter(ctx context.Context) (Faults, uint64) {
	d.mu.Lock()
	f, gen := d.faults, d.gen
	d.mu.Unlock()
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
	return f, gen
}

// backing is the backing path of name in the directory n (n itself when name
// is empty).
func (d *FS) backing(n *fs.Inode, name string) string {
	return filepath.Join(d.opts.Backing, n.Path(nil), name)
}
