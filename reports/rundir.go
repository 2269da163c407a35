package reports

import (
	"fmt"
	"path/filepath"

	"github.com/faultline/faultline/internal/rundir"
)

// Outputs receives the files a report writes (report.html, history.html and
// history/ data, nodes.html). A *rundir.Stage is one: the files land in
// place only when the stage is committed.
type Outputs interface {
	WriteFile(name string, data []byte) error
}

// stagedOutputs is Outputs that can say what it has been given.
type stagedOutputs interface {
	Has(name string) bool
}

// runFiles is how a report sees the run: src to read from (node logs,
// artifacts), out to write to, and up, the link from the report's
// directory to the run directory ("" when the report is in it).
type runFiles struct {
	src *rundir.Dir
	out Outputs
	up  string
}

// exists reports whether the run has the regular file p, among the new
// outputs or in the run directory.
func (f runFiles) exists(p string) bool {
	if s, ok := f.out.(stagedOutputs); ok && s.Has(p) {
		return true
	}
	return f.src != nil && f.src.IsRegular(filepath.ToSlash(p))
}

// href is the link to p: in the report's own directory when it is a new
// output, else in the run directory.
func (f runFiles) href(p string) string {
	if s, ok := f.out.(stagedOutputs); ok && s.Has(p) {
		return p
	}
	return f.up + p
}

// WriteTo renders the report of in as name (normally report.html), with its
// history and node log views, into out. Node logs and artifacts are read
// from src, the run directory, through which nothing outside it is reached
// and links and non-regular files are refused. up is the link from out's
// directory to src's ("" when they are the same, "../../" for a re-check
// under checks/<stamp>/).
func WriteTo(src *rundir.Dir, out Outputs, name, up string, in Input) error {
	rf := runFiles{src: src, out: out, up: up}
	pg, err := buildPage(rf, in)
	if err != nil {
		return err
	}
	if err := writeHistoryView(rf, pg.Title, pg.Verdict, in.Ops, in.Results); err != nil {
		return err
	}
	if err := writeLogsView(rf, pg.Title, pg.Verdict, in.Run.Nodes, in.NodeLogs, nodeMarks(in)); err != nil {
		return err
	}
	html, err := renderPage(pg)
	if err != nil {
		return err
	}
	if err := out.WriteFile(name, html); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
