package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/faultline/faultline/harness"
	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/reports"
)

// bigRun stores a run of 40,000 register ops (4 processes, one op every
// 2ms each, 20 s) with its report and views but no checker, for the
// timeline view's bounds: its rows fill 8 of the history view's data
// files. It returns the run's path in the store and the history index of
// process 0's invocation at 10 s.
func bigRun(t *testing.T, store, test, stamp string) (string, int64) {
	t.Helper()
	dir := filepath.Join(store, test, stamp)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	spec := harness.DefaultSpec()
	spec.Test, spec.Nodes, spec.Concurrency = test, 3, 4
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, harness.SpecFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	const ms = int64(time.Millisecond)
	var ops []history.Op
	for k := range 10000 {
		for p := range 4 {
			at := int64(k)*2*ms + int64(p)*ms/4
			inv := history.Op{Time: at, Type: history.Invoke, Process: history.Process(p), F: "read", Key: "x"}
			done := inv
			done.Time, done.Type, done.Value = at+3*ms/2, history.OK, 0
			ops = append(ops, inv, done)
		}
	}
	sortByTime(ops)
	var mid int64 = -1
	for i := range ops {
		ops[i].Index = int64(i)
		if mid < 0 && ops[i].Process == 0 && ops[i].Type == history.Invoke && ops[i].Time >= 10000*ms {
			mid = int64(i)
		}
	}
	in := reports.Input{Run: reports.Run{Test: test, Nodes: []string{"n1", "n2", "n3"}}, Ops: ops}
	if err := reports.Write(filepath.Join(dir, harness.ReportFile), in); err != nil {
		t.Fatal(err)
	}
	return test + "/" + stamp, mid
}
