package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/faultline/faultline/harness"
	"github.com/faultline/faultline/models/catalog"
	"github.com/faultline/faultline/models/history"
)

// historyFormats are the values of check --format.
var historyFormats = []string{"auto", history.FormatFaultline, history.FormatJepsenEDN, history.FormatJepsenLog}

// checkFlags validates check's flags before anything is read, reporting
// every problem: the format, the timeout, the models (a history file needs
// at least one).
func checkFlags(c *cli.Context, isDir bool) error {
	var errs []error
	if f := c.String("format"); !slices.Contains(historyFormats, f) {
		errs = append(errs, fmt.Errorf("--format %q: want %s or %s", f,
			strings.Join(historyFormats[:len(historyFormats)-1], ", "), historyFormats[len(historyFormats)-1]))
	}
	if d := c.Duration("timeout"); d < 0 {
		errs = append(errs, fmt.Errorf("--timeout must be >= 0, got %s", d))
	}
	models := c.StringSlice("model")
	for _, m := range models {
		if _, err := catalog.Default().Lookup(m); err != nil {
			errs = append(errs, err)
		}
	}
	if !isDir && len(models) == 0 && c.String("workload") == "" {
		errs = append(errs, errors.New("checking a history file needs --model (e.g. --model cas-register) or --workload"))
	}
	if len(errs) > 0 {
		return usageError{errors.Join(errs...)}
	}
	return nil
}

// checkOutputFile refuses, before anything runs, an output file the run
// could only fail to write at its end: a directory, or a file in a
// directory that does not exist.
func checkOutputFile(flag, path string) error {
	if path == "" {
		return nil
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("--%s %s is a directory", flag, path)
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("--%s %s: %s is not a directory", flag, path, dir)
	}
	return nil
}

// checkTestCount refuses a run count the harness would not take from a
// suite either.
func checkTestCount(n int) error {
	if n < 1 || n > harness.MaxSuiteRuns {
		return fmt.Errorf("--test-count must be 1..%d, got %d", harness.MaxSuiteRuns, n)
	}
	return nil
}

// checkError is the exit class of an error of harness.Check or
// CheckHistory: bad input is usage (64), anything else, such as failing to
// write the results, the harness (3).
func checkError(err error) error {
	if errors.Is(err, harness.ErrInput) {
		return usageError{err}
	}
	return harnessError{err}
}
