package history

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/faultline/faultline/internal/ctxio"
)

// ReadAnyContext is ReadAny that stops reading with ctx's error once ctx
// is done, and refuses anything but a regular file up front: a FIFO, a
// device such as /dev/urandom or a directory would block or never end.
func ReadAnyContext(ctx context.Context, path string) ([]Op, string, error) {
	ops, format, _, err := ReadAnyInfoContext(ctx, path)
	return ops, format, err
}

// ReadAnyInfoContext is ReadAnyInfo that stops reading once ctx is done and
// refuses anything but a regular file.
func ReadAnyInfoContext(ctx context.Context, path string) ([]Op, string, ReadInfo, error) {
	f, err := OpenRegular(path)
	if err != nil {
		return nil, "", ReadInfo{}, err
	}
	defer f.Close()
	return ReadAnyInfoFrom(ctx, f, path)
}

// ReadAnyFrom reads a history of any format from r, like ReadAny, until
// ctx is done; name labels errors.
func ReadAnyFrom(ctx context.Context, r io.Reader, name string) ([]Op, string, error) {
	ops, format, _, err := ReadAnyInfoFrom(ctx, r, name)
	return ops, format, err
}

// ReadAnyInfoFrom is ReadAnyFrom that also returns what was found about the
// history (see ReadAnyInfo).
func ReadAnyInfoFrom(ctx context.Context, r io.Reader, name string) ([]Op, string, ReadInfo, error) {
	ops, format, info, err := readAnyInfo(ctxio.NewReader(ctx, r), name)
	if ctx.Err() != nil {
		return nil, "", ReadInfo{}, fmt.Errorf("%s: reading stopped: %w", name, context.Cause(ctx))
	}
	return ops, format, info, err
}

// ReadFileContext is ReadFile that stops reading with ctx's error once ctx
// is done and refuses anything but a regular file.
func ReadFileContext(ctx context.Context, path string) ([]Op, error) {
	ops, _, err := ReadFileInfoContext(ctx, path)
	return ops, err
}

// ReadFileInfoContext is ReadFileInfo that stops reading once ctx is done
// and refuses anything but a regular file.
func ReadFileInfoContext(ctx context.Context, path string) ([]Op, ReadInfo, error) {
	f, err := OpenRegular(path)
	if err != nil {
		return nil, ReadInfo{}, err
	}
	defer f.Close()
	ops, info, err := ReadWithInfoLines(ctxio.NewReader(ctx, f), CountLines(f))
	if ctx.Err() != nil {
		return nil, ReadInfo{}, fmt.Errorf("%s: reading stopped: %w", path, context.Cause(ctx))
	}
	if err != nil {
		return nil, ReadInfo{}, fmt.Errorf("%s: %w", path, err)
	}
	return ops, info, nil
}

// OpenRegular opens path for reading if it is a regular file (after
// symbolic links). Anything else is refused before it is opened, since
// opening a FIFO blocks until a writer comes.
func OpenRegular(path string) (*os.File, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s): a history must be a file", path, kind(fi.Mode()))
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	// The name may have been replaced in between: check what was opened.
	if fi, err = f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file: a history must be a file", path)
	}
	return f, nil
}

// kind names a file's type in an error.
func kind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a device"
	case m&os.ModeSocket != 0:
		return "a socket"
	}
	return m.Type().String()
}

// CountLines returns the number of lines of the file f, read from its
// start without moving its offset, as a size hint for ReadWithInfoLines;
// 0 when it cannot be read or holds more than maxHintLines.
func CountLines(f io.ReaderAt) int {
	buf := make([]byte, 1<<20)
	n := 0
	for off := int64(0); ; {
		k, err := f.ReadAt(buf, off)
		n += bytes.Count(buf[:k], []byte{'\n'})
		off += int64(k)
		if n > maxHintLines {
			return 0
		}
		if err == io.EOF {
			return n
		}
		if err != nil {
			return 0
		}
	}
}

// maxHintLines bounds CountLines' hint, so a huge file cannot make a
// reader ask for more memory up front than its ops would take.
const maxHintLines = 1 << 27
