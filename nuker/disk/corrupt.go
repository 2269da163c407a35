package disk

import (
	"cmp"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
)

// Corruption modes: where a corruption hits the files of the backing
// directory.
const (
	// CorruptFlipTail flips one bit in each of N distinct bytes among the
	// last TailSpan bytes of the newest file's data (the file modified
	// last; trailing zero bytes, as preallocated space, are not data).
	CorruptFlipTail = "flip-tail"
	// CorruptFlipRandom flips one bit in each of N distinct bytes, each in
	// a file and at an offset drawn at random.
	CorruptFlipRandom = "flip-random"
	// CorruptTruncate cuts between 1 and N bytes off the end of the newest
	// file's data, and the zero bytes after it.
	CorruptTruncate = "truncate"
)

// CorruptModes lists the corruption modes.
func CorruptModes() []string { return []string{CorruptFlipTail, CorruptFlipRandom, CorruptTruncate} }

// TailSpan is how far from a file's end the tail region reaches.
const TailSpan = 4096

// Change is one change a corruption made, as the control command answers
// it: a flipped byte (Old and New, in hex) or a truncation (Offset is the
// new size, Cut the bytes removed).
type Change struct {
	File   string `json:"file"` // relative to the mount
	Offset int64  `json:"offset"`
	Old    string `json:"old,omitempty"`
	New    string `json:"new,omitempty"`
	Cut    int64  `json:"cut,omitempty"`
}

// candidate is a non-empty regular file of the backing directory.
type candidate struct {
	rel  string
	size int64
	mod  int64 // mtime, ns
}

// Corrupt damages the backing directory's files as mode says, with up to n
// bytes, drawing every choice from seed: the same seed on the same files
// makes the same changes. It writes the backing files directly, as a
// failing disk would change what is stored; nothing can undo it. A later
// power failure still writes back the durable bytes that writes had
// replaced since the last sync, which may cover a change. The kernel's
// cache of each changed file is dropped, so the next read sees the change
// (a process may still hold the old bytes in its own memory).
func (d *FS) Corrupt(mode string, n int, seed uint64) ([]Change, error) {
	changes, err := d.corruptLocked(mode, n, seed)
	files := make([]string, 0, len(changes))
	for _, c := range changes {
		files = append(files, c.File)
	}
	return changes, errors.Join(err, d.invalidateFiles(files))
}

// corruptLocked makes Corrupt's changes; it takes d.mu.
func (d *FS) corruptLocked(mode string, n int, seed uint64) ([]Change, error) {
	if n < 1 {
		return nil, fmt.Errorf("corrupt: want at least 1 byte, got %d", n)
	}
	if !slices.Contains(CorruptModes(), mode) {
		return nil, fmt.Errorf("corrupt: unknown mode %q (known: %v)", mode, CorruptModes())
	}
	// Writes save the bytes they replace under d.mu: none may interleave.
	d.mu.Lock()
	defer d.mu.Unlock()
	files, err := candidates(d.opts.Backing)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, errors.New("corrupt: no non-empty file to corrupt")
	}
	r := rand.New(rand.NewPCG(seed, 0))
	newest := files[0]
	for _, f := range files[1:] {
		if f.mod > newest.mod {
			newest = f
		}
	}
	var end int64 // of the newest file's data
	if mode != CorruptFlipRandom {
		if end, err = dataEnd(filepath.Join(d.opts.Backing, newest.rel), newest.size); err != nil {
			return nil, err
		}
	}
	switch mode {
	case CorruptTruncate:
		size := end - 1 - r.Int64N(min(int64(n), end))
		if err := os.Truncate(filepath.Join(d.opts.Backing, newest.rel), size); err != nil {
			return nil, fmt.Errorf("corrupt: %w", err)
		}
		return []Change{{File: newest.rel, Offset: size, Cut: newest.size - size}}, nil
	case CorruptFlipTail:
		start := max(0, end-TailSpan)
		span := end - start
		var offs []int64
		for _, i := range r.Perm(int(span))[:min(n, int(span))] {
			offs = append(offs, start+int64(i))
		}
		slices.Sort(offs)
		var out []Change
		for _, off := range offs {
			c, err := d.flip(newest.rel, off, r)
			if err != nil {
				return out, err
			}
			out = append(out, c)
		}
		return out, nil
	}
	// flip-random: distinct (file, offset) pairs; a few redraws when one
	// repeats, so tiny directories end with fewer than n.
	var out []Change
	seen := map[string]bool{}
	for tries := 0; len(out) < n && tries < 4*n; tries++ {
		f := files[r.IntN(len(files))]
		off := r.Int64N(f.size)
		key := fmt.Sprintf("%s@%d", f.rel, off)
		if seen[key] {
			continue
		}
		seen[key] = true
		c, err := d.flip(f.rel, off, r)
		if err != nil {
			return out, err
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Change) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Offset, b.Offset))
	})
	return out, nil
}

// flip flips one bit, drawn from r, of the byte at off in the backing file
// rel.
func (d *FS) flip(rel string, off int64, r *rand.Rand) (Change, error) {
	f, err := os.OpenFile(filepath.Join(d.opts.Backing, rel), os.O_RDWR, 0)
	if err != nil {
		return Change{}, fmt.Errorf("corrupt: %w", err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		return Change{}, fmt.Errorf("corrupt: read %s at %d: %w", rel, off, err)
	}
	old := b[0]
	b[0] ^= 1 << r.IntN(8)
	if _, err := f.WriteAt(b, off); err != nil {
		return Change{}, fmt.Errorf("corrupt: write %s at %d: %w", rel, off, err)
	}
	return Change{File: rel, Offset: off, Old: hex.EncodeToString([]byte{old}), New: hex.EncodeToString(b)}, nil
}

// dataEnd returns where the data of the file at p (size bytes) ends: after
// its last non-zero byte, or size when every byte is zero.
func dataEnd(p string, size int64) (int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, fmt.Errorf("corrupt: %w", err)
	}
	defer f.Close()
	buf := make([]byte, 1<<16)
	for end := size; end > 0; {
		off := max(0, end-int64(len(buf)))
		b := buf[:end-off]
		if _, err := f.ReadAt(b, off); err != nil {
			return 0, fmt.Errorf("corrupt: read %s: %w", p, err)
		}
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] != 0 {
				return off + int64(i) + 1, nil
			}
		}
		end = off
	}
	return size, nil
}

// candidates lists the non-empty regular files under root, by path.
func candidates(root string) ([]candidate, error) {
	var out []candidate
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		// The target may remove files meanwhile: those are not candidates.
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) || err == nil && fi.Size() == 0 {
			return nil
		}
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		out = append(out, candidate{rel: rel, size: fi.Size(), mod: fi.ModTime().UnixNano()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("corrupt: list files: %w", err)
	}
	return out, nil
}
