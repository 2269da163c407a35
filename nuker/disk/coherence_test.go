package disk

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The coherence tests replay how a PostgreSQL standby uses a WAL segment: the
// segment is filled with zeros, synced and renamed into place; a writer then
// appends records in place with pwrite (partial pages at the tail) and
// reports each completed write; a reader with its own descriptors preads the
// 8 KiB pages that hold what was reported and must never see the zeros a
// completed write replaced. A writer in another process has its own FUSE
// handle; the kernel's page cache is shared per inode.

const (
	cohSize  = 1 << 20 // one segment
	cohPage  = 8 << 10 // the reader's page, as PostgreSQL's XLOG_BLCKSZ
	cohEnvWr = "FAULTLINE_COHERENCE_WRITER"
)

// cohSegment creates dir/name as PostgreSQL creates a WAL segment.
func cohSegment(dir, name string) (string, error) {
	tmp, p := filepath.Join(dir, "xlogtemp"), filepath.Join(dir, name)
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	zero := make([]byte, cohPage)
	for off := int64(0); off < cohSize; off += cohPage {
		if _, err := f.WriteAt(zero, off); err != nil {
			f.Close()
			return "", err
		}
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return "", err
	}
	return p, os.Rename(tmp, p)
}

// cohByte is the byte written at off: never zero.
func cohByte(off int64) byte { return byte(1 + off%251) }

// cohWrite appends records of 24 to 600 bytes to p from offset 0 until the
// file is full, calling done with the end of each completed write. With
// direct, it opens p with O_DIRECT and rewrites whole aligned pages (the
// tail page zero-padded), as PostgreSQL's WAL writer does.
func cohWrite(p string, direct bool, done func(end int64) error) error {
	flags := os.O_RDWR
	if direct {
		flags |= unix.O_DIRECT
	}
	f, err := os.OpenFile(p, flags, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := alignedBuf(cohSize + cohPage)
	var pos int64
	for i := int64(0); ; i++ {
		n := 24 + (i*7919)%577
		if pos+n > cohSize {
			return nil
		}
		for o := pos; o < pos+n; o++ {
			buf[o] = cohByte(o)
		}
		off, end := pos, pos+n
		if direct {
			off, end = pos/cohPage*cohPage, (pos+n+cohPage-1)/cohPage*cohPage
		}
		if _, err := f.WriteAt(buf[off:end], off); err != nil {
			return fmt.Errorf("write at %d: %w", off, err)
		}
		pos += n
		if i%64 == 63 {
			if err := unix.Fdatasync(int(f.Fd())); err != nil {
				return fmt.Errorf("fdatasync: %w", err)
			}
		}
		if err := done(pos); err != nil {
			return err
		}
	}
}

// alignedBuf is a zeroed buffer aligned for O_DIRECT.
func alignedBuf(n int) []byte {
	b := make([]byte, n+4096)
	a := int(uintptr(unsafe.Pointer(&b[0])) & 4095)
	if a == 0 {
		return b[:n]
	}
	return b[4096-a : 4096-a+n]
}

// cohReader checks what it reads of a segment being written.
type cohReader struct {
	p      string
	early  *os.File // opened before the first write
	late   *os.File // reopened now and then
	mapped []byte   // the segment mapped, when asked for
	reads  int
}

func (r *cohReader) close() {
	r.early.Close()
	if r.late != nil {
		r.late.Close()
	}
	if r.mapped != nil {
		unix.Munmap(r.mapped)
	}
}

// check reads the pages holding [from, end) and fails on a byte that is not
// what was written, in the way it read them.
func (r *cohReader) check(from, end int64) error {
	r.reads++
	if r.reads%50 == 0 {
		if r.late != nil {
			r.late.Close()
		}
		f, err := os.Open(r.p)
		if err != nil {
			return err
		}
		r.late = f
	}
	page := make([]byte, cohPage)
	for start := from / cohPage * cohPage; start < end; start += cohPage {
		for _, f := range []*os.File{r.early, r.late} {
			if f == nil {
				continue
			}
			n, err := f.ReadAt(page, start)
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			if err := cohVerify(page[:n], start, end, "pread via fd opened "+map[bool]string{true: "before", false: "after"}[f == r.early]); err != nil {
				return err
			}
		}
		if r.mapped != nil {
			if err := cohVerify(r.mapped[start:start+cohPage], start, end, "mmap"); err != nil {
				return err
			}
		}
	}
	return nil
}

// cohVerify checks that page, read at start, holds the written bytes below
// end.
func cohVerify(page []byte, start, end int64, how string) error {
	for i, b := range page {
		o := start + int64(i)
		if o >= end {
			return nil
		}
		if b != cohByte(o) {
			return fmt.Errorf("%s: byte at %d (written up to %d) reads %#x, want %#x", how, o, end, b, cohByte(o))
		}
	}
	if int64(len(page)) < min(end-start, cohPage) {
		return fmt.Errorf("%s: short read at %d: %d bytes, written up to %d", how, start, len(page), end)
	}
	return nil
}

func newCohReader(p string, mmap bool) (*cohReader, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	r := &cohReader{p: p, early: f}
	if mmap {
		m, err := unix.Mmap(int(f.Fd()), 0, cohSize, unix.PROT_READ, unix.MAP_SHARED)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("mmap: %w", err)
		}
		r.mapped = m
	}
	return r, nil
}

// TestCoherenceWriterProcess is the writer of TestReadAfterWriteCoherence in
// a process of its own: it prints the end of each completed write.
func TestCoherenceWriterProcess(t *testing.T) {
	p := os.Getenv(cohEnvWr)
	if p == "" {
		t.Skip("helper process only")
	}
	w := bufio.NewWriter(os.Stdout)
	err := cohWrite(p, os.Getenv(cohEnvWr+"_DIRECT") != "", func(end int64) error {
		fmt.Fprintln(w, end)
		return w.Flush()
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// TestReadAfterWriteCoherence: a reader never reads zeros where a completed
// write put data, whether the writer is in this process or another, buffered
// or O_DIRECT, and whether the reader preads or maps the file.
func TestReadAfterWriteCoherence(t *testing.T) {
	cases := []struct {
		name                  string
		process, direct, mmap bool
		plain                 bool // no filesystem: the test's own control
	}{
		{name: "plain-directory", process: true, plain: true},
		{name: "same-process"},
		{name: "two-processes", process: true},
		{name: "same-process-direct-writer", direct: true},
		{name: "two-processes-direct-writer", process: true, direct: true},
		{name: "same-process-mmap-reader", mmap: true},
		{name: "two-processes-mmap-reader", process: true, mmap: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var mnt string
			if c.plain {
				mnt = t.TempDir()
			} else {
				_, mnt = mountTest(t, false)
			}
			for seg := range 3 {
				p, err := cohSegment(mnt, fmt.Sprintf("seg%d", seg))
				if err != nil {
					t.Fatal(err)
				}
				r, err := newCohReader(p, c.mmap)
				if err != nil {
					t.Fatal(err)
				}
				ends, errc := make(chan int64, 1<<16), make(chan error, 1)
				if c.process {
					go func() { errc <- cohWriterProcess(p, c.direct, ends) }()
				} else {
					go func() {
						defer close(ends)
						errc <- cohWrite(p, c.direct, func(end int64) error { ends <- end; return nil })
					}()
				}
				var checked, writes int64
				var bad error
				for end := range ends {
					writes++
					// Take every end already reported: the reader lags the
					// writer by whatever it has not read yet.
					for more := true; more; {
						select {
						case e, ok := <-ends:
							if !ok {
								more = false
								break
							}
							end = e
							writes++
						default:
							more = false
						}
					}
					if bad == nil {
						bad = r.check(checked, end)
					}
					checked = end
				}
				r.close()
				if err := <-errc; err != nil {
					t.Fatalf("writer: %v", err)
				}
				if bad != nil {
					t.Fatalf("segment %d, %d writes, %d reads: %v", seg, writes, r.reads, bad)
				}
				t.Logf("segment %d: %d writes, %d reads, no stale byte", seg, writes, r.reads)
			}
		})
	}
}

// cohWriterProcess runs cohWrite in a child process and sends the ends it
// reports to ends, closing it.
func cohWriterProcess(p string, direct bool, ends chan<- int64) error {
	defer close(ends)
	cmd := exec.Command(os.Args[0], "-test.run=^TestCoherenceWriterProcess$")
	cmd.Env = append(os.Environ(), cohEnvWr+"="+p)
	if direct {
		cmd.Env = append(cmd.Env, cohEnvWr+"_DIRECT=1")
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		end, err := strconv.ParseInt(sc.Text(), 10, 64)
		if err != nil {
			continue // the test binary's own output
		}
		ends <- end
	}
	return errors.Join(sc.Err(), cmd.Wait())
}
