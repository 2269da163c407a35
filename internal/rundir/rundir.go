// Package rundir confines faultline's reads and writes of a run directory to
// that directory. Run directories come from CI artifacts and colleagues, so
// their contents are untrusted: every access goes through an os.Root (no
// path, link or ".." leaves the directory), links and non-regular files are
// refused, reads are capped, and writes are staged: each output is written
// to a fresh staging directory created exclusively, fsynced, and renamed
// into place in the order the caller gives (the record of truth last), then
// the directory is fsynced. A reader thus sees each file either whole and
// old or whole and new, and never a file faultline did not write.
package rundir

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"syscall"
)

// ErrNotRegular is returned for a name that is a link, a directory, a FIFO
// or anything else but a regular file.
var ErrNotRegular = errors.New("not a regular file (links, directories and devices are refused)")

// Dir is an open run directory.
type Dir struct {
	root *os.Root
	path string
}

// Open opens the run directory at p. p itself may be a link (store/latest
// is one); nothing inside it may lead outside.
func Open(p string) (*Dir, error) {
	r, err := os.OpenRoot(p)
	if err != nil {
		return nil, fmt.Errorf("open run directory: %w", err)
	}
	return &Dir{root: r, path: p}, nil
}

// Close releases the directory.
func (d *Dir) Close() error { return d.root.Close() }

// Path is the directory's path as given to Open.
func (d *Dir) Path() string { return d.path }

// Root is the directory's os.Root.
func (d *Dir) Root() *os.Root { return d.root }

// Lstat returns the file information of name without following a link.
func (d *Dir) Lstat(name string) (fs.FileInfo, error) { return d.root.Lstat(name) }

// IsRegular reports whether name is a regular file (not a link to one).
func (d *Dir) IsRegular(name string) bool {
	fi, err := d.root.Lstat(name)
	return err == nil && fi.Mode().IsRegular()
}

// Open opens the regular file name for reading. A link, FIFO, device or
// directory is refused with ErrNotRegular, without blocking on a FIFO.
func (d *Dir) Open(name string) (*os.File, error) {
	fi, err := d.root.Lstat(name)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "open", Path: name, Err: ErrNotRegular}
	}
	// O_NOFOLLOW and O_NONBLOCK close the race with a swap after Lstat: a
	// link then fails to open, a FIFO does not block.
	f, err := d.root.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: name, Err: ErrNotRegular}
	}
	return f, nil
}

// ReadFile reads the regular file name, refusing one larger than max bytes.
func (d *Dir) ReadFile(name string, max int64) ([]byte, error) {
	f, err := d.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, max)
	}
	return b, nil
}

// Walk calls fn for each entry below the directory sub (slash separated,
// relative to d) that is not a directory, in lexical order: regular files,
// and also links, FIFOs and devices, so that a caller can say why it will
// not read them (Open refuses them). Links to directories are not
// followed; a sub that is not a real directory has no entries.
func (d *Dir) Walk(sub string, fn func(name string)) error {
	fi, err := d.root.Lstat(sub)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	if !fi.IsDir() {
		return nil
	}
	return fs.WalkDir(d.root.FS(), sub, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if !e.IsDir() {
			fn(p)
		}
		return nil
	})
}

// Stage collects new outputs for base (a directory below d, "" for d
// itself) until Commit renames them into place.
type Stage struct {
	d     *Dir
	base  string
	tmp   string // the staging directory, relative to d
	names []string
	done  bool
}

// NewStage creates an exclusive staging directory in base, which is made
// (as real directories, no links) when missing.
func (d *Dir) NewStage(base string) (*Stage, error) {
	if base != "" {
		if err := d.mkdirs(base); err != nil {
			return nil, err
		}
	}
	for range 10 {
		tmp := path.Join(base, ".staging-"+randomName())
		err := d.root.Mkdir(tmp, 0o755)
		if err == nil {
			return &Stage{d: d, base: base, tmp: tmp}, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("create staging directory: %w", err)
		}
	}
	return nil, errors.New("create staging directory: no free name")
}

// mkdirs creates each element of the slash-separated dir that is missing,
// refusing an element that exists as anything but a real directory.
func (d *Dir) mkdirs(dir string) error {
	p := ""
	for _, el := range splitPath(dir) {
		p = path.Join(p, el)
		fi, err := d.root.Lstat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := d.root.Mkdir(p, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("create %s: %w", p, err)
			}
		case err != nil:
			return err
		case !fi.IsDir():
			return fmt.Errorf("%s: not a directory (links are refused)", p)
		}
	}
	return nil
}

func splitPath(p string) []string {
	var out []string
	for p != "" && p != "." {
		dir, file := path.Split(p)
		out = append([]string{file}, out...)
		p = path.Clean(dir)
		if p == "/" {
			break
		}
	}
	return out
}

func randomName() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// MkdirUnique creates a new directory parent/name (parent made when
// missing, as real directories), or parent/name-2, -3, ... when the name is
// taken, and returns its path relative to d.
func (d *Dir) MkdirUnique(parent, name string) (string, error) {
	if err := d.mkdirs(parent); err != nil {
		return "", err
	}
	for i := 1; i <= 100; i++ {
		p := path.Join(parent, name)
		if i > 1 {
			p = fmt.Sprintf("%s-%d", p, i)
		}
		err := d.root.Mkdir(p, 0o755)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("create %s: %w", p, err)
		}
	}
	return "", fmt.Errorf("create %s: no free name", path.Join(parent, name))
}

// Rebase moves the stage, with what it holds, into base, an existing real
// directory below d: Commit then renames its outputs into base.
func (s *Stage) Rebase(base string) error {
	if s.done {
		return errors.New("stage already committed")
	}
	fi, err := s.d.root.Lstat(base)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s: not a directory (links are refused)", base)
	}
	tmp := path.Join(base, path.Base(s.tmp))
	if err := s.d.root.Rename(s.tmp, tmp); err != nil {
		return fmt.Errorf("move staged outputs to %s: %w", base, err)
	}
	s.tmp, s.base = tmp, base
	return nil
}

// Base is the directory the stage commits into, relative to the run dir.
func (s *Stage) Base() string { return s.base }

// file is an output being written: fsynced on Close.
type file struct{ *os.File }

func (f file) Close() error {
	if err := f.Sync(); err != nil {
		f.File.Close()
		return fmt.Errorf("sync %s: %w", f.Name(), err)
	}
	return f.File.Close()
}

// Create creates the output name (slash separated, may be in a
// subdirectory) exclusively in the staging directory. Close fsyncs it.
// Each name is committed once, in the order of its first Create unless
// Commit is given an order.
func (s *Stage) Create(name string) (io.WriteCloser, error) {
	if s.done {
		return nil, errors.New("stage already committed")
	}
	name = path.Clean(name)
	if !fs.ValidPath(name) || name == "." {
		return nil, fmt.Errorf("output %q: not a plain relative name", name)
	}
	p := path.Join(s.tmp, name)
	if dir := path.Dir(name); dir != "." {
		if err := s.d.mkdirs(path.Join(s.tmp, dir)); err != nil {
			return nil, err
		}
	}
	f, err := s.d.root.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	top := topName(name)
	if !slices.Contains(s.names, top) {
		s.names = append(s.names, top)
	}
	return file{f}, nil
}

// Has reports whether the output name (slash separated) has been created.
func (s *Stage) Has(name string) bool {
	fi, err := s.d.root.Lstat(path.Join(s.tmp, path.Clean(name)))
	return err == nil && fi.Mode().IsRegular() && !s.done
}

// WriteFile writes data to the output name.
func (s *Stage) WriteFile(name string, data []byte) error {
	w, err := s.Create(name)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, bytes.NewReader(data)); err != nil {
		w.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	return w.Close()
}

func topName(name string) string {
	for i := 0; i < len(name); i++ {
		if name[i] == '/' {
			return name[:i]
		}
	}
	return name
}

// Commit renames the staged outputs into base: first those not named in
// last, in creation order, then those of last in its order (results.json,
// the record of truth, goes last), and fsyncs base. A staged directory
// (history/) replaces the old one whole: the old one is moved into the
// staging directory first, then removed with it. A file replaces a link of
// the same name, never the link's target. On error the outputs not yet
// renamed are discarded, and whatever was renamed is complete.
func (s *Stage) Commit(last ...string) error {
	if s.done {
		return errors.New("stage already committed")
	}
	s.done = true
	defer s.cleanup()
	var order []string
	for _, n := range s.names {
		if !slices.Contains(last, n) {
			order = append(order, n)
		}
	}
	for _, n := range last {
		if slices.Contains(s.names, n) {
			order = append(order, n)
		}
	}
	if err := s.syncDir(s.tmp); err != nil {
		return err
	}
	old := path.Join(s.tmp, ".old")
	if err := s.d.root.Mkdir(old, 0o755); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	for _, n := range order {
		src, dst := path.Join(s.tmp, n), path.Join(s.base, n)
		fi, err := s.d.root.Lstat(src)
		if err != nil {
			return fmt.Errorf("commit %s: %w", n, err)
		}
		if fi.IsDir() {
			if err := s.syncDir(src); err != nil {
				return err
			}
			// A directory cannot be renamed over a non-empty one: move the
			// old one (or a link of that name) aside first.
			if _, err := s.d.root.Lstat(dst); err == nil {
				if err := s.d.root.Rename(dst, path.Join(old, n)); err != nil {
					return fmt.Errorf("commit %s: move the old one aside: %w", n, err)
				}
			}
		} else if dfi, err := s.d.root.Lstat(dst); err == nil && dfi.IsDir() {
			return fmt.Errorf("commit %s: %s is a directory", n, dst)
		}
		if err := s.d.root.Rename(src, dst); err != nil {
			return fmt.Errorf("commit %s: %w", n, err)
		}
	}
	return s.syncDir(cmpDot(s.base))
}

func cmpDot(p string) string {
	if p == "" {
		return "."
	}
	return p
}

// Abort discards the staged outputs.
func (s *Stage) Abort() {
	if !s.done {
		s.done = true
		s.cleanup()
	}
}

func (s *Stage) cleanup() { _ = s.d.root.RemoveAll(s.tmp) }

func (s *Stage) syncDir(p string) error {
	f, err := s.d.root.Open(p)
	if err != nil {
		return fmt.Errorf("sync %s: %w", p, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", p, err)
	}
	return nil
}

// WriteFileAtomic writes data to the file at p (a path the user gave, e.g.
// --junit FILE) through a temporary file created exclusively, with a random
// name, in the same directory, fsynced and renamed over p. A link at p is
// replaced, its target left alone.
func WriteFileAtomic(p string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(p)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
