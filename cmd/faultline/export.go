package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/faultline/faultline/harness"
	"github.com/faultline/faultline/internal/rundir"
	"github.com/faultline/faultline/models/history"
)

func exportCommand() *cli.Command {
	return &cli.Command{
		Name:      "export",
		Usage:     "write a run's history as Jepsen EDN (history.edn), for Knossos and Elle",
		ArgsUsage: "RUN_DIR | HISTORY_FILE",
		Description: `Writes the history of a stored run (RUN_DIR/history.jsonl) or of a history
file in any format check reads, as a Jepsen history.edn: a vector of op maps
{:type :invoke, :f :read, :value nil, :time <ns>, :process 0, :index 0}, with
the fault injector's ops as :process :nemesis. A keyed op carries :key "k";
with --independent its value becomes Jepsen's [k v] tuple instead (for
jepsen.independent/checker; faultline reads that back with --model kv).

faultline check --format jepsen-edn --workload W FILE reads the export back to
the run's verdict (W's models, configured as in the run; --model M alone runs
M with its defaults). Output goes to stdout, or with -o to FILE, written
whole (a temporary file in the same directory, then renamed; a symlink at
FILE is refused, a FIFO or device written into). See docs/jepsen.md.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "-", Usage: "write to `FILE` (- for stdout)"},
			&cli.BoolFlag{Name: "independent", Usage: "put keys in values as Jepsen's [k v] tuples instead of :key"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usage("export takes one RUN_DIR or HISTORY_FILE, got %d arguments", c.NArg())
			}
			ops, err := readForExport(c.Context, c.Args().First())
			if err != nil {
				return usageError{err}
			}
			if note := runNote(c.Args().First()); note != "" {
				fmt.Fprintln(c.App.ErrWriter, "faultline: note:", note)
			}
			var buf bytes.Buffer
			if err := history.WriteEDN(&buf, ops, history.EDNOptions{Independent: c.Bool("independent")}); err != nil {
				return usageError{fmt.Errorf("export %s: %w", c.Args().First(), err)}
			}
			out := c.String("output")
			if out == "" || out == "-" {
				if _, err := c.App.Writer.Write(buf.Bytes()); err != nil {
					return harnessError{fmt.Errorf("write to stdout: %w", err)}
				}
				return nil
			}
			if err := writeFileWhole(out, buf.Bytes()); err != nil {
				return harnessError{err}
			}
			fmt.Fprintf(c.App.ErrWriter, "wrote %d ops to %s\n", len(ops), out)
			return nil
		},
	}
}

// checkAsWorkload is `check --workload W HISTORY_FILE`: the file judged as
// a run of W is judged (see harness.CheckHistoryAs), so that an export gets
// its run's verdict back.
func checkAsWorkload(c *cli.Context, code *int, path, format, workload string) error {
	timeout := c.Duration("timeout")
	if timeout <= 0 {
		timeout = harness.DefaultSpec().CheckTimeout.D()
	}
	res, err := harness.CheckHistoryAs(c.Context, path, format, workload, c.StringSlice("model"), timeout, c.String("out"))
	if err := interrupted(c.Context, err); err != nil {
		return err
	}
	if err != nil {
		return usageError{err}
	}
	*code = verdictCode(res.Verdict)
	if c.Bool("json") {
		return printCheckJSON(c.App.Writer, c.String("out"), res)
	}
	printResults(c.App.Writer, "", res)
	return nil
}

// readForExport reads the history of a run directory (inside it only: a
// planted link is refused), or a history file in any format faultline
// reads, until ctx is done.
func readForExport(ctx context.Context, path string) ([]history.Op, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		ops, _, err := history.ReadAnyContext(ctx, path)
		return ops, err
	}
	rd, err := rundir.Open(path)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	f, err := rd.Open(harness.HistoryFile)
	if err != nil {
		return nil, fmt.Errorf("%s is not a run directory: %w", path, err)
	}
	defer f.Close()
	ops, _, err := history.ReadAnyFrom(ctx, f, filepath.Join(path, harness.HistoryFile))
	return ops, err
}

// runNote says why a stored run's verdict was not its history's alone (it
// was interrupted or did not complete), which the export cannot carry: a
// check of the export judges the history only. "" for a history file or a
// run that completed.
func runNote(path string) string {
	b, err := os.ReadFile(filepath.Join(path, harness.ResultsFile))
	if err != nil {
		return ""
	}
	var res harness.Results
	if json.Unmarshal(b, &res) != nil {
		return ""
	}
	switch {
	case res.Run.Interrupted:
		return "the run was interrupted; the export holds its history only, a check of it judges that"
	case res.Run.HarnessError != "":
		return "the run did not complete (see its results.json); the export holds its history only, a check of it judges that"
	}
	return ""
}

// writeFileWhole writes b to path. A new or regular file is written
// through a temporary file created exclusively in the same directory and
// renamed over path once complete, so a reader never sees half an export.
// A symlink at path is refused, never followed; a FIFO or device (such as
// /dev/null) is written into, never replaced; a directory is an error.
func writeFileWhole(path string, b []byte) error {
	fi, err := os.Lstat(path)
	switch {
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("write %s: %w", path, err)
	case err != nil, fi.Mode().IsRegular():
		return replaceFile(path, b)
	case fi.Mode()&os.ModeSymlink != 0:
		return fmt.Errorf("write %s: is a symlink; not following it (remove it, or use -o - and redirect)", path)
	case fi.IsDir():
		return fmt.Errorf("write %s: is a directory", path)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// replaceFile writes b to a new temporary file next to path and renames it
// over path.
func replaceFile(path string, b []byte) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	fail := func(err error) error {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(b); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
