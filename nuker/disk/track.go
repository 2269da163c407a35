package disk

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
)

// fileState is what a power failure needs to put one file back to its durable
// content: its durable size and, newest last, the durable bytes that writes
// and truncates have since replaced.
type fileState struct {
	in   *fs.Inode
	f    *os.File // the backing file, read-write (also when unlinked)
	size int64
	undo []undoRecord
}

type undoRecord struct {
	off int64
	old []byte
}

// stateLocked returns the state of inode in, starting it (durable = current
// content) with the file open returns. d.mu is held.
func (d *FS) stateLocked(in *fs.Inode, open func() (*os.File, error)) (*fileState, error) {
	ino := in.StableAttr().Ino
	if st, ok := d.files[ino]; ok {
		return st, nil
	}
	f, err := open()
	if err != nil {
		return nil, fmt.Errorf("reopen backing file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat backing file: %w", err)
	}
	st := &fileState{in: in, f: f, size: fi.Size()}
	d.files[ino] = st
	return st, nil
}

// save records the bytes in [off, end) that exist now, before they change.
func (st *fileState) save(off, end int64) error {
	fi, err := st.f.Stat()
	if err != nil {
		return fmt.Errorf("stat backing file: %w", err)
	}
	end = min(end, fi.Size())
	if off >= end {
		return nil
	}
	old := make([]byte, end-off)
	if _, err := st.f.ReadAt(old, off); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read old bytes: %w", err)
	}
	st.undo = append(st.undo, undoRecord{off: off, old: old})
	return nil
}

// dirty says whether the content differs from the durable one.
func (st *fileState) dirty() bool {
	if len(st.undo) > 0 {
		return true
	}
	fi, err := st.f.Stat()
	return err != nil || fi.Size() != st.size
}

// restore puts the durable content back: old bytes newest first, then the
// durable size.
func (st *fileState) restore() (int64, error) {
	var n int64
	for i := len(st.undo) - 1; i >= 0; i-- {
		u := st.undo[i]
		if _, err := st.f.WriteAt(u.old, u.off); err != nil {
			return n, fmt.Errorf("write back old bytes: %w", err)
		}
		n += int64(len(u.old))
	}
	if err := st.f.Truncate(st.size); err != nil {
		return n, fmt.Errorf("truncate to durable size: %w", err)
	}
	return n, nil
}

// nsOp is one directory-entry change not yet durable.
type nsOp struct {
	dirs   []uint64     // the directories it changes, by inode
	undo   func() error // puts the entries back as they were before it
	commit func() error // makes it final (deletes what it trashed); may be nil
}

// fsyncDirLocked makes durable every pending entry up to the last one that
// changes directory ino. d.mu is held.
func (d *FS) fsyncDirLocked(ino uint64) error {
	last := -1
	for i, op := range d.journal {
		for _, dir := range op.dirs {
			if dir == ino {
				last = i
			}
		}
	}
	var errs []error
	for _, op := range d.journal[:last+1] {
		if op.commit != nil {
			errs = append(errs, op.commit())
		}
	}
	d.journal = d.journal[last+1:]
	return errors.Join(errs...)
}

// Dropped says what a power failure dropped.
type Dropped struct {
	Files   int   // files whose content went back to its durable state
	Bytes   int64 // bytes written back
	Entries int   // directory-entry changes undone
}

// PowerFail drops everything not durable: file content goes back to what it
// was at its last fsync, and (with Options.Dirs) directory entries to what
// they were at the last fsync of their directory. Handles opened before it
// fail with EIO afterwards, as no process survives a power failure; callers
// stop the programs using the filesystem first.
func (d *FS) PowerFail() (Dropped, error) {
	out, restored, err := d.powerFailLocked()
	// The kernel still caches what was written since the last sync.
	if err := errors.Join(err, invalidate(restored)); err != nil {
		return out, fmt.Errorf("disk: power failure: %w", err)
	}
	return out, nil
}

// powerFailLocked drops everything not durable and returns the inodes
// whose content it put back. It takes d.mu.
func (d *FS) powerFailLocked() (Dropped, []*fs.Inode, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++
	var out Dropped
	var errs []error
	var restored []*fs.Inode
	for ino, st := range d.files {
		if st.dirty() {
			out.Files++
		}
		n, err := st.restore()
		errs = append(errs, err, st.f.Close())
		out.Bytes += n
		restored = append(restored, st.in)
		delete(d.files, ino)
	}
	for i := len(d.journal) - 1; i >= 0; i-- {
		errs = append(errs, d.journal[i].undo())
		out.Entries++
	}
	d.journal = nil
	return out, restored, errors.Join(errs...)
}

// Pending says what a power failure would drop now (Bytes counts the old
// bytes kept, not the new ones).
func (d *FS) Pending() Dropped {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := Dropped{Entries: len(d.journal)}
	for _, st := range d.files {
		if !st.dirty() {
			continue
		}
		out.Files++
		for _, u := range st.undo {
			out.Bytes += int64(len(u.old))
		}
	}
	return out
}

// errno maps an error from the backing filesystem to the errno to answer.
func errno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return syscall.EIO
}
