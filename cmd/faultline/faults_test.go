package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/harness"
	"github.com/faultline/faultline/models/history"
)

// writeStoredRun writes a run directory holding spec and ops, as a run
// leaves it when it finished (end record, no results.json).
func writeStoredRun(t *testing.T, spec harness.Spec, ops []history.Op) string {
	t.Helper()
	dir := t.TempDir()
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, harness.SpecFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := history.WriteFile(filepath.Join(dir, harness.HistoryFile), ops); err != nil {
		t.Fatal(err)
	}
	return dir
}

// faultHistory is a valid register history (a write, then reads of it)
// with the given fault ops between the write and the last read.
func faultHistory(faults ...history.Op) []history.Op {
	const ms = int64(time.Millisecond)
	ops := []history.Op{
		{Time: 0, Type: history.Invoke, Process: 0, F: "write", Key: "1", Value: 1},
		{Time: 10 * ms, Type: history.OK, Process: 0, F: "write", Key: "1", Value: 1},
	}
	t := 20 * ms
	for _, f := range faults {
		f.Process, f.Time = history.Nuker, t
		ops = append(ops, f)
		t += ms
	}
	return append(ops,
		history.Op{Time: t, Type: history.Invoke, Process: 1, F: "read", Key: "1"},
		history.Op{Time: t + 5*ms, Type: history.OK, Process: 1, F: "read", Key: "1", Value: 1})
}

// fault is one fault's four ops; err and failed mark its start's
// completion as the nuker does when injection fails.
func fault(kind string, err string, failed ...string) []history.Op {
	nodes := []string{"n1", "n2", "n3"}
	var done any = nodes
	if kind == "partition" {
		done = map[string][]string{"n1": {"n2", "n3"}, "n2": {"n1"}, "n3": {"n1"}}
	}
	return []history.Op{
		{Type: history.Invoke, F: "start-" + kind, Nodes: nodes, Value: map[string]any{"nodes": nodes}},
		{Type: history.Info, F: "start-" + kind, Nodes: nodes, Value: done, Error: err, Failed: failed},
		{Type: history.Invoke, F: "stop-" + kind, Nodes: nodes, Value: nodes},
		{Type: history.Info, F: "stop-" + kind, Nodes: nodes, Value: nodes},
	}
}

func joinOps(parts ...[]history.Op) []history.Op {
	var out []history.Op
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// TestCheckFaultsThatNeverTookEffect (issue 12, item 1): a stored run whose
// requested fault never took effect re-checks as unknown (exit 2) with the
// reason, not VALID; faults that took effect at least once leave it valid,
// counted on the summary line.
func TestCheckFaultsThatNeverTookEffect(t *testing.T) {
	tests := []struct {
		name    string
		nemesis []string
		time    time.Duration
		ops     []history.Op
		code    int
		want    []string // in the output
	}{
		{"every start marked failed (the issue's reproduction)", []string{"partition", "kill"}, time.Minute,
			faultHistory(joinOps(fault("partition", "injection failed"), fault("kill", "injection failed"), fault("partition", "injection failed"))...),
			ExitUnknown, []string{
				"fault partition was requested but never took effect (2 of 2 injections failed: injection failed)",
				"fault kill was requested but never took effect (1 of 1 injections failed: injection failed)",
				"faults: partition 0/2 (2 failed), kill 0/1 (1 failed)",
			}},
		{"one kind never took effect, the other did", []string{"partition", "clock"}, time.Minute,
			faultHistory(joinOps(fault("partition", ""), fault("clock", "n1: ptrace: operation not permitted\nn2: x\nn3: y", "n1", "n2", "n3"))...),
			ExitUnknown, []string{"fault clock was requested but never took effect (1 of 1 injections failed: n1: ptrace: operation not permitted", "faults: partition 1/1, clock 0/1 (1 failed)"}},
		{"faults requested, none scheduled", []string{"partition"}, 5 * time.Second,
			faultHistory(), ExitUnknown, []string{"faults [partition] were requested but none was injected", "faults: partition 0 (never drawn)"}},
		{"some failed: valid, counted", []string{"partition", "kill"}, time.Minute,
			faultHistory(joinOps(fault("partition", ""), fault("kill", "n2: gone", "n2"), fault("kill", "boom"))...),
			ExitValid, []string{"faults: partition 1/1, kill 1/2 (1 partial, 1 failed)"}},
		{"a kind not drawn beside one that worked: valid", []string{"partition", "kill", "pause"}, time.Minute,
			faultHistory(fault("partition", "")...),
			ExitValid, []string{"faults: partition 1/1, kill 0 (never drawn), pause 0 (never drawn)"}},
		{"none failed", []string{"kill"}, time.Minute, faultHistory(fault("kill", "")...), ExitValid, []string{"faults: kill 1/1"}},
		{"no faults asked for", nil, time.Minute, faultHistory(), ExitValid, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := harness.DefaultSpec()
			spec.Test, spec.Nodes, spec.Nemesis, spec.TimeLimit = "faults", 3, tt.nemesis, harness.Duration(tt.time)
			dir := writeStoredRun(t, spec, tt.ops)
			var out, errb bytes.Buffer
			code := run([]string{"faultline", "check", dir}, &out, &errb)
			if code != tt.code {
				t.Errorf("exit %d, want %d\n%s%s", code, tt.code, out.String(), errb.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			res := readStoredResults(t, dir)
			if len(res.Faults) != len(tt.nemesis) {
				t.Errorf("results.json faults %+v, want one tally per requested kind %v", res.Faults, tt.nemesis)
			}
		})
	}
}

// readStoredResults reads the results.json of the run directory dir.
func readStoredResults(t *testing.T, dir string) harness.Results {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, harness.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	var res harness.Results
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	return res
}
