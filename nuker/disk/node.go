package disk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// node is a loopback node that records what is not durable and applies the
// faults in force.
type node struct {
	*fs.LoopbackNode
	d *FS
}

var (
	_ fs.NodeWrapChilder     = (*node)(nil)
	_ fs.NodeOpener          = (*node)(nil)
	_ fs.NodeCreater         = (*node)(nil)
	_ fs.NodeSetattrer       = (*node)(nil)
	_ fs.NodeOpendirHandler  = (*node)(nil)
	_ fs.NodeUnlinker        = (*node)(nil)
	_ fs.NodeRmdirer         = (*node)(nil)
	_ fs.NodeRenamer         = (*node)(nil)
	_ fs.NodeCopyFileRanger  = (*node)(nil)
	_ fs.FileWriter          = (*handle)(nil)
	_ fs.FileWritever        = (*handle)(nil)
	_ fs.FileFsyncer         = (*handle)(nil)
	_ fs.FileAllocater       = (*handle)(nil)
	_ fs.FilePassthroughFder = (*handle)(nil)
	_ fs.FileFsyncdirer      = (*dirHandle)(nil)
)

// WrapChild makes every node of the tree a *node.
func (n *node) WrapChild(ctx context.Context, ops fs.InodeEmbedder) fs.InodeEmbedder {
	return &node{LoopbackNode: ops.(*fs.LoopbackNode), d: n.d}
}

func ino(e fs.InodeEmbedder) uint64 { return e.EmbeddedInode().StableAttr().Ino }

func (n *node) path(name string) string { return n.d.backing(n.EmbeddedInode(), name) }

// reopen opens the node's backing file read-write by its path.
func (n *node) reopen() (*os.File, error) { return os.OpenFile(n.path(""), os.O_RDWR, 0) }

// Open wraps the loopback handle; O_TRUNC is a truncate to zero.
func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	_, gen := n.d.enter(ctx)
	if flags&syscall.O_TRUNC != 0 {
		n.d.mu.Lock()
		defer n.d.mu.Unlock()
		if err := n.saveTail(0); err != nil {
			return nil, 0, errno(err)
		}
	}
	fh, fl, e := n.LoopbackNode.Open(ctx, flags)
	if e != 0 {
		return nil, 0, e
	}
	// Keep the page cache: see Mount.
	return n.wrap(fh, flags, gen), fl | fuse.FOPEN_KEEP_CACHE, 0
}

func (n *node) wrap(fh fs.FileHandle, flags uint32, gen uint64) *handle {
	return &handle{LoopbackFile: fh.(*fs.LoopbackFile), n: n, gen: gen, sync: flags&syscall.O_DSYNC != 0}
}

// saveTail keeps the bytes past size before a truncate to size. d.mu is held.
func (n *node) saveTail(size int64) error {
	st, err := n.d.stateLocked(n.EmbeddedInode(), n.reopen)
	if err != nil {
		return err
	}
	return st.save(size, math.MaxInt64)
}

// Setattr records a truncate's lost bytes and refuses growth under ENOSPC.
func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	sz, ok := in.GetSize()
	if !ok {
		return n.LoopbackNode.Setattr(ctx, f, in, out)
	}
	faults, _ := n.d.enter(ctx)
	if h, ok := f.(*handle); ok && h.stale() {
		return syscall.EIO
	}
	if faults.ENOSPC {
		if fi, err := os.Stat(n.path("")); err == nil && int64(sz) > fi.Size() {
			return syscall.ENOSPC
		}
	}
	n.d.mu.Lock()
	defer n.d.mu.Unlock()
	if err := n.saveTail(int64(sz)); err != nil {
		return errno(err)
	}
	return n.LoopbackNode.Setattr(ctx, f, in, out)
}

// CopyFileRange is refused so that the kernel copies through Read and Write,
// which keep track.
func (n *node) CopyFileRange(context.Context, fs.FileHandle, uint64, *fs.Inode, fs.FileHandle, uint64, uint64, uint64) (uint32, syscall.Errno) {
	return 0, syscall.EOPNOTSUPP
}

// created journals a new entry name in n, which a power failure removes.
// d.mu is held.
func (n *node) created(name string) {
	if !n.d.opts.Dirs {
		return
	}
	p := n.path(name)
	n.d.journal = append(n.d.journal, nsOp{
		dirs: []uint64{ino(n)},
		undo: func() error { return os.RemoveAll(p) },
	})
}

// create runs a loopback call that makes a new entry, under ENOSPC and the
// journal.
func (n *node) create(ctx context.Context, name string, mk func() (*fs.Inode, syscall.Errno)) (*fs.Inode, syscall.Errno) {
	faults, _ := n.d.enter(ctx)
	if faults.ENOSPC {
		return nil, syscall.ENOSPC
	}
	n.d.mu.Lock()
	defer n.d.mu.Unlock()
	ch, e := mk()
	if e == 0 {
		n.created(name)
	}
	return ch, e
}

// Create wraps the loopback handle and journals the new entry.
func (n *node) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	faults, gen := n.d.enter(ctx)
	if faults.ENOSPC {
		return nil, nil, 0, syscall.ENOSPC
	}
	n.d.mu.Lock()
	defer n.d.mu.Unlock()
	_, err := os.Lstat(n.path(name))
	existed := err == nil
	ch, fh, fl, e := n.LoopbackNode.Create(ctx, name, flags, mode, out)
	if e != 0 {
		return nil, nil, 0, e
	}
	if !existed {
		n.created(name)
	}
	return ch, ch.Operations().(*node).wrap(fh, flags, gen), fl | fuse.FOPEN_KEEP_CACHE, 0
}

// Mkdir journals the new directory.
func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return n.create(ctx, name, func() (*fs.Inode, syscall.Errno) { return n.LoopbackNode.Mkdir(ctx, name, mode, out) })
}

// Mknod journals the new node.
func (n *node) Mknod(ctx context.Context, name string, mode, rdev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return n.create(ctx, name, func() (*fs.Inode, syscall.Errno) { return n.LoopbackNode.Mknod(ctx, name, mode, rdev, out) })
}

// Symlink journals the new link.
func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return n.create(ctx, name, func() (*fs.Inode, syscall.Errno) { return n.LoopbackNode.Symlink(ctx, target, name, out) })
}

// Link journals the new name.
func (n *node) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if t, ok := target.(*node); ok {
		target = t.LoopbackNode
	}
	return n.create(ctx, name, func() (*fs.Inode, syscall.Errno) { return n.LoopbackNode.Link(ctx, target, name, out) })
}

// trashLocked moves p into the trash and journals it, so that a power failure
// puts it back and a directory sync deletes it. d.mu is held.
func (n *node) trashLocked(p string) error {
	n.d.seq++
	t := filepath.Join(n.d.opts.Trash, fmt.Sprint(n.d.seq))
	if err := os.Rename(p, t); err != nil {
		return err
	}
	n.d.journal = append(n.d.journal, nsOp{
		dirs:   []uint64{ino(n)},
		undo:   func() error { return os.Rename(t, p) },
		commit: func() error { return os.RemoveAll(t) },
	})
	return nil
}

// remove checks that name may be removed (isDir: by rmdir) and trashes it.
func (n *node) remove(ctx context.Context, name string, isDir bool) syscall.Errno {
	n.d.enter(ctx)
	n.d.mu.Lock()
	defer n.d.mu.Unlock()
	p := n.path(name)
	fi, err := os.Lstat(p)
	switch {
	case err != nil:
		return errno(err)
	case isDir && !fi.IsDir():
		return syscall.ENOTDIR
	case !isDir && fi.IsDir():
		return syscall.EISDIR
	}
	if isDir {
		if e := emptyDir(p); e != 0 {
			return e
		}
	}
	return errno(n.trashLocked(p))
}

// emptyDir answers ENOTEMPTY for a directory with entries.
func emptyDir(p string) syscall.Errno {
	f, err := os.Open(p)
	if err != nil {
		return errno(err)
	}
	defer f.Close()
	if names, _ := f.Readdirnames(1); len(names) > 0 {
		return syscall.ENOTEMPTY
	}
	return 0
}

// Unlink trashes the entry when directory entries are tracked.
func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	if !n.d.opts.Dirs {
		n.d.enter(ctx)
		return n.LoopbackNode.Unlink(ctx, name)
	}
	return n.remove(ctx, name, false)
}

// Rmdir trashes the directory when directory entries are tracked.
func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	if !n.d.opts.Dirs {
		n.d.enter(ctx)
		return n.LoopbackNode.Rmdir(ctx, name)
	}
	return n.remove(ctx, name, true)
}

// Rename journals the move, trashing a replaced entry first.
func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	np, ok := newParent.(*node)
	if !ok {
		return syscall.EXDEV
	}
	if !n.d.opts.Dirs {
		n.d.enter(ctx)
		return n.LoopbackNode.Rename(ctx, name, np.LoopbackNode, newName, flags)
	}
	n.d.enter(ctx)
	n.d.mu.Lock()
	defer n.d.mu.Unlock()
	p1, p2 := n.path(name), np.path(newName)
	op := nsOp{dirs: []uint64{ino(n), ino(np)}}
	switch flags {
	case 0:
		return n.renameLocked(p1, p2, op, np)
	case unix.RENAME_NOREPLACE:
		op.undo = func() error { return os.Rename(p2, p1) }
	case unix.RENAME_EXCHANGE:
		op.undo = func() error { return unix.Renameat2(unix.AT_FDCWD, p1, unix.AT_FDCWD, p2, unix.RENAME_EXCHANGE) }
	default:
		return syscall.EINVAL
	}
	if err := unix.Renameat2(unix.AT_FDCWD, p1, unix.AT_FDCWD, p2, uint(flags)); err != nil {
		return errno(err)
	}
	n.d.journal = append(n.d.journal, op)
	return 0
}

// renameLocked is rename(2) that can be undone: an entry it replaces waits in
// the trash. d.mu is held.
func (n *node) renameLocked(p1, p2 string, op nsOp, np *node) syscall.Errno {
	src, err := os.Lstat(p1)
	if err != nil {
		return errno(err)
	}
	dst, err := os.Lstat(p2)
	replaces := err == nil
	if replaces {
		switch {
		case os.SameFile(src, dst):
			return 0 // rename(2) does nothing for two links of one file
		case src.IsDir() && !dst.IsDir():
			return syscall.ENOTDIR
		case !src.IsDir() && dst.IsDir():
			return syscall.EISDIR
		case dst.IsDir():
			if e := emptyDir(p2); e != 0 {
				return e
			}
		}
		if err := np.trashLocked(p2); err != nil {
			return errno(err)
		}
	}
	if err := os.Rename(p1, p2); err != nil {
		if replaces { // put the replaced entry back and forget it
			last := n.d.journal[len(n.d.journal)-1]
			n.d.journal = n.d.journal[:len(n.d.journal)-1]
			return errno(errors.Join(err, last.undo()))
		}
		return errno(err)
	}
	op.undo = func() error { return os.Rename(p2, p1) }
	n.d.journal = append(n.d.journal, op)
	return 0
}

// OpendirHandle wraps the directory handle so that fsync of a directory makes
// its entries durable.
func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fh, fl, e := n.LoopbackNode.OpendirHandle(ctx, flags)
	if e != 0 {
		return nil, 0, e
	}
	return &dirHandle{FileHandle: fh, n: n}, fl, 0
}

// dirHandle is a loopback directory handle whose fsync commits entries.
type dirHandle struct {
	fs.FileHandle
	n *node
}

func (h *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	return h.FileHandle.(fs.FileReaddirenter).Readdirent(ctx)
}

func (h *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	return h.FileHandle.(fs.FileSeekdirer).Seekdir(ctx, off)
}

func (h *dirHandle) Releasedir(ctx context.Context, flags uint32) {
	h.FileHandle.(fs.FileReleasedirer).Releasedir(ctx, flags)
}

// Fsyncdir makes the directory's pending entries durable.
func (h *dirHandle) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno {
	faults, _ := h.n.d.enter(ctx)
	if faults.EIOFsync {
		return syscall.EIO
	}
	if e := h.FileHandle.(fs.FileFsyncdirer).Fsyncdir(ctx, flags); e != 0 {
		return e
	}
	h.n.d.mu.Lock()
	defer h.n.d.mu.Unlock()
	return errno(h.n.d.fsyncDirLocked(ino(h.n)))
}

// handle is a loopback file handle that keeps the old bytes of every write
// and applies the faults in force.
type handle struct {
	*fs.LoopbackFile
	n    *node
	gen  uint64 // the power-failure generation it was opened in
	sync bool   // opened with O_SYNC or O_DSYNC
}

// stale says whether a power failure happened since the handle was opened.
func (h *handle) stale() bool {
	h.n.d.mu.Lock()
	defer h.n.d.mu.Unlock()
	return h.gen != h.n.d.gen
}

// begin applies the delay and returns the faults in force; a handle from
// before a power failure gets EIO.
func (h *handle) begin(ctx context.Context) (Faults, syscall.Errno) {
	faults, _ := h.n.d.enter(ctx)
	if h.stale() {
		return faults, syscall.EIO
	}
	return faults, 0
}

// PassthroughFd refuses kernel passthrough, which would bypass Write.
func (h *handle) PassthroughFd() (int, bool) { return 0, false }

// reopen opens the handle's backing file read-write (also when unlinked).
func (h *handle) reopen() (*os.File, error) {
	fd, _ := h.LoopbackFile.PassthroughFd()
	return os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", fd), os.O_RDWR, 0)
}

func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	faults, e := h.begin(ctx)
	if faults.EIORead {
		e = syscall.EIO
	}
	if e != 0 {
		return nil, e
	}
	return h.LoopbackFile.Read(ctx, dest, off)
}

func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	faults, e := h.begin(ctx)
	if e == 0 && faults.ENOSPC {
		e = syscall.ENOSPC
	}
	if e != 0 {
		return 0, e
	}
	d := h.n.d
	d.mu.Lock()
	defer d.mu.Unlock()
	st, err := d.stateLocked(h.n.EmbeddedInode(), h.reopen)
	if err == nil {
		err = st.save(off, off+int64(len(data)))
	}
	if err != nil {
		return 0, errno(err)
	}
	w, e := h.LoopbackFile.Write(ctx, data, off)
	if e == 0 && h.sync {
		d.commitLocked(ino(h.n))
	}
	return w, e
}

func (h *handle) Writev(ctx context.Context, data [][]byte, off int64) (uint32, syscall.Errno) {
	return h.Write(ctx, bytes.Join(data, nil), off)
}

// Fsync makes the file's content durable (fsync and fdatasync alike).
func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	if faults, e := h.begin(ctx); e != 0 || faults.EIOFsync {
		return syscall.EIO
	}
	if e := h.LoopbackFile.Fsync(ctx, flags); e != 0 {
		return e
	}
	h.n.d.mu.Lock()
	defer h.n.d.mu.Unlock()
	h.n.d.commitLocked(ino(h.n))
	return 0
}

// Allocate passes plain and KEEP_SIZE fallocate through (the durable size
// covers them); modes that change bytes are refused.
func (h *handle) Allocate(ctx context.Context, off, size uint64, mode uint32) syscall.Errno {
	faults, e := h.begin(ctx)
	switch {
	case e != 0:
		return e
	case faults.ENOSPC:
		return syscall.ENOSPC
	case mode&^unix.FALLOC_FL_KEEP_SIZE != 0:
		return syscall.EOPNOTSUPP
	}
	d := h.n.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.stateLocked(h.n.EmbeddedInode(), h.reopen); err != nil {
		return errno(err)
	}
	return h.LoopbackFile.Allocate(ctx, off, size, mode)
}

// commitLocked makes inode ino's current content durable. d.mu is held.
func (d *FS) commitLocked(ino uint64) {
	if st, ok := d.files[ino]; ok {
		st.f.Close()
		delete(d.files, ino)
	}
}
