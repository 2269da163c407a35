package reports

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// maxTailBytes bounds how much of a log's end is read for its tail.
const maxTailBytes = 256 << 10

type logFile struct {
	Path string
	// Tail is the file's last lines; Lines how many, Skipped whether the
	// file has more before them.
	Tail    string
	Lines   int
	Skipped bool
	// Problem says why there is no tail (missing, unreadable).
	Problem string
}

// readLogs reads the tail of every node's log files, nodes in cluster order
// first, then any others by name.
func readLogs(dir string, nodes []string, logs map[string][]string) []nodeLogs {
	var order []string
	for _, n := range nodes {
		if _, ok := logs[n]; ok && !slices.Contains(order, n) {
			order = append(order, n)
		}
	}
	var rest []string
	for n := range logs {
		if !slices.Contains(order, n) {
			rest = append(rest, n)
		}
	}
	sort.Strings(rest)
	var out []nodeLogs
	for _, n := range append(order, rest...) {
		nl := nodeLogs{Node: n}
		for _, p := range logs[n] {
			lf := logFile{Path: p}
			tail, lines, skipped, err := tailFile(filepath.Join(dir, filepath.FromSlash(p)), logTailLines)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				lf.Problem = "missing"
			case err != nil:
				lf.Problem = err.Error()
			default:
				lf.Tail, lf.Lines, lf.Skipped = tail, lines, skipped
			}
			nl.Files = append(nl.Files, lf)
		}
		out = append(out, nl)
	}
	return out
}

// tailFile returns the last n lines of the file at path, reading at most
// maxTailBytes from its end, and whether lines were left out before them.
func tailFile(path string, n int) (string, int, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", 0, false, fmt.Errorf("stat log %s: %w", path, err)
	}
	size := st.Size()
	off := max(size-maxTailBytes, 0)
	buf := make([]byte, size-off)
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return "", 0, false, fmt.Errorf("read log %s: %w", path, err)
	}
	buf = bytes.TrimRight(buf, "\n")
	lines := strings.Split(string(bytes.ToValidUTF8(buf, []byte("\uFFFD"))), "\n")
	skipped := off > 0
	if off > 0 && len(lines) > 1 {
		lines = lines[1:] // the first line is probably cut
	}
	if len(lines) > n {
		lines, skipped = lines[len(lines)-n:], true
	}
	if len(buf) == 0 {
		return "", 0, false, nil
	}
	return strings.Join(lines, "\n"), len(lines), skipped, nil
}
