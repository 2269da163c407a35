package reports

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"slices"
	"sort"
	"strings"

	"github.com/faultline/faultline/internal/rundir"
)

// maxTailBytes bounds how much of a log's end is read for its tail.
const maxTailBytes = 256 << 10

type logFile struct {
	Path string
	Href string
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
func readLogs(dir runFiles, nodes []string, logs map[string][]string) []nodeLogs {
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
			lf := logFile{Path: p, Href: dir.up + p}
			tail, lines, skipped, err := tailFile(dir.src, p, logTailLines)
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

// tailFile returns the last n lines of the regular file path of src,
// reading at most maxTailBytes from its end, and whether lines were left
// out before them.
func tailFile(src *rundir.Dir, path string, n int) (string, int, bool, error) {
	f, err := src.Open(path)
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

// The node logs view: nodes.html next to report.html embeds each node log's
// last maxViewLogBytes (JSON, escaped by html/template) and filters its lines
// as the user types, in plain embedded script.
const (
	NodeLogsViewFile = "nodes.html"
	maxViewLogBytes  = 2 << 20
)

type viewLog struct {
	Node    string   `json:"node"`
	Path    string   `json:"path"`
	Href    string   `json:"href"`
	Lines   []string `json:"lines"`
	First   int      `json:"first"` // line number of Lines[0], 0 when unknown (tail of a cut file)
	Skipped bool     `json:"skipped"`
	Problem string   `json:"problem,omitempty"`
	// Marks are the faults acting on the node, placed among the lines.
	Marks []faultMark `json:"marks,omitempty"`
}

type logsPage struct {
	Title   string
	Verdict string
	Nodes   []string
	Logs    []viewLog
}

// readViewLogs reads each node log's tail for the logs view, with the
// node's fault marks placed among its lines.
func readViewLogs(dir runFiles, nodes []string, logs map[string][]string, marks map[string][]faultMark) []viewLog {
	var out []viewLog
	order := logOrder(nodes, logs)
	for _, n := range order {
		for _, p := range logs[n] {
			vl := viewLog{Node: n, Path: p, Href: dir.up + p}
			lines, first, skipped, err := readTail(dir.src, p, maxViewLogBytes)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				vl.Problem = "missing"
			case err != nil:
				vl.Problem = err.Error()
			default:
				vl.Lines, vl.First, vl.Skipped = lines, first, skipped
				vl.Marks = placeMarks(lines, skipped, marks[n])
			}
			out = append(out, vl)
		}
	}
	return out
}

// logOrder lists the nodes of logs: those of nodes in cluster order, then
// the others by name.
func logOrder(nodes []string, logs map[string][]string) []string {
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
	slices.SortFunc(rest, compareNodes)
	return append(order, rest...)
}

// readTail returns the lines of the file's last limit bytes (the first,
// probably cut, line dropped when the file is longer), the number of the
// first line when the whole file was read (1) or 0, and whether lines were
// left out.
func readTail(src *rundir.Dir, path string, limit int64) ([]string, int, bool, error) {
	f, err := src.Open(path)
	if err != nil {
		return nil, 0, false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, 0, false, fmt.Errorf("stat log %s: %w", path, err)
	}
	off := max(st.Size()-limit, 0)
	buf := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, false, fmt.Errorf("read log %s: %w", path, err)
	}
	buf = bytes.TrimRight(buf, "\n")
	if len(buf) == 0 {
		return []string{}, 1, false, nil
	}
	lines := strings.Split(string(bytes.ToValidUTF8(buf, []byte("\uFFFD"))), "\n")
	if off > 0 {
		if len(lines) > 1 {
			lines = lines[1:]
		}
		return lines, 0, true, nil
	}
	return lines, 1, false, nil
}

// writeLogsView writes nodes.html into dir's outputs.
func writeLogsView(dir runFiles, title, verdict string, nodes []string, logs map[string][]string, marks map[string][]faultMark) error {
	pg := logsPage{Title: title, Verdict: verdict, Logs: readViewLogs(dir, nodes, logs, marks)}
	pg.Nodes = logOrder(nodes, logs)
	if pg.Logs == nil {
		pg.Logs = []viewLog{}
	}
	t, err := template.New("nodes.html.tmpl").ParseFS(templates, "templates/nodes.html.tmpl")
	if err != nil {
		return fmt.Errorf("parse node logs template: %w", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, pg); err != nil {
		return fmt.Errorf("render node logs view: %w", err)
	}
	return dir.out.WriteFile(NodeLogsViewFile, b.Bytes())
}
