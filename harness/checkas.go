package harness

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/faultline/faultline/internal/rundir"
	"github.com/faultline/faultline/workloads"
)

// CheckHistoryAs checks a history file (any supported format) as a run of
// the named workload is checked: with the workload's models, or modelNames
// when given, each configured as the workload configures it (the bank's
// total and accounts, the queue's acks and per-subject order). A history
// exported from a run and checked this way gets the run's verdict. With no
// workload, modelNames are checked as they are.
func CheckHistoryAs(ctx context.Context, path, format, workload string, modelNames []string, timeout time.Duration, outDir string) (Results, error) {
	var wl workloads.Workload
	if workload != "" {
		var err error
		if wl, err = workloads.Default().Lookup(workload); err != nil {
			return Results{}, badInput(err)
		}
		if len(modelNames) == 0 {
			modelNames = wl.Models()
		}
	}
	ops, got, hc, err := readHistoryFile(ctx, path)
	if err != nil {
		return Results{}, badInput(err)
	}
	if format != "" && format != got {
		return Results{}, badInput(fmt.Errorf("%s: expected format %s, found %s", path, format, got))
	}
	var create func(string) (io.WriteCloser, error)
	var st *rundir.Stage
	if outDir != "" {
		// A directory the user named: made if missing, written through a
		// stage like a run directory.
		if err := os.MkdirAll(outDir, 0o755); err != nil {
			return Results{}, fmt.Errorf("--out: %w", err)
		}
		od, err := rundir.Open(outDir)
		if err != nil {
			return Results{}, err
		}
		defer od.Close()
		if st, err = od.NewStage(""); err != nil {
			return Results{}, err
		}
		defer st.Abort()
		create = st.Create
	}
	results, err := judge(ctx, hc, modelNames, wl, ops, create, timeout)
	if err != nil {
		return Results{}, err
	}
	if st != nil {
		if err := st.Commit(); err != nil {
			return Results{}, fmt.Errorf("--out: %w", err)
		}
	}
	res := assemble(Spec{Test: path, Workload: workload}, ops, results, RunInfo{})
	hc.settle(&res)
	return res, nil
}
