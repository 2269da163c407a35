package harness

import (
	"fmt"
	"path/filepath"

	"github.com/faultline/faultline/internal/rundir"
	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/nuker"
)

// ReplaySpec returns the spec of the stored run in dir, set up to replay
// it: the same target, options, workload, seed and nodes, and the fault
// schedule the run drew, read back from its history. The system's answers
// will differ; the inputs will not.
func ReplaySpec(dir string) (Spec, error) {
	var spec Spec
	rd, err := rundir.Open(dir)
	if err != nil {
		return spec, fmt.Errorf("replay: %w", err)
	}
	defer rd.Close()
	if err := readJSONIn(rd, SpecFile, &spec); err != nil {
		return spec, fmt.Errorf("replay: read run spec: %w", err)
	}
	hf, err := rd.Open(HistoryFile)
	if err != nil {
		return spec, fmt.Errorf("replay: read history: %w", err)
	}
	ops, err := history.Read(hf)
	hf.Close()
	if err != nil {
		return spec, fmt.Errorf("replay: %s: %w", filepath.Join(dir, HistoryFile), err)
	}
	sched, err := nuker.ScheduleFromHistory(ops)
	if err != nil {
		return spec, fmt.Errorf("replay: fault schedule of %s: %w", dir, err)
	}
	spec.Schedule = sched
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	if resolved, err := filepath.EvalSymlinks(dir); err == nil {
		dir = resolved
	}
	spec.ReplayOf = dir
	return spec, nil
}
