package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/faultline/faultline/harness"
	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/models/resources"
	"github.com/faultline/faultline/reports"
)

// picturesRun stores a list-append run without Docker whose report has
// every picture: fifteen transactions in a G2-item cycle (each reads the
// key the next appends to before that append), committed during a halves
// partition, then a one-way partition, a kill of n3 and a failover, with
// primaries moving from n1 to n2. harness.Check runs the real txn checker.
func picturesRun(t *testing.T, store, test, stamp string) string {
	t.Helper()
	dir := filepath.Join(store, test, stamp)
	if err := os.MkdirAll(filepath.Join(dir, "nodes"), 0o755); err != nil {
		t.Fatal(err)
	}
	spec := harness.DefaultSpec()
	spec.Test, spec.Target, spec.Workload = test, "postgres", "list-append"
	spec.Nodes, spec.Concurrency, spec.Nemesis = 3, 15, []string{"partition", "kill", "failover"}
	spec.Store = store
	start, err := time.Parse(time.RFC3339, "2026-11-24T06:00:00Z")
	if err != nil {
		t.Fatal(err)
	}
	prev := harness.Results{Run: harness.RunInfo{Started: start, Duration: harness.Duration(8 * time.Second), Nodes: []string{"n1", "n2", "n3"}}}
	for name, v := range map[string]any{harness.SpecFile: spec, harness.ResultsFile: prev} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const ms = int64(time.Millisecond)
	var ops []history.Op
	nuker := func(at int64, typ history.Type, fn string, v any, nodes ...string) {
		ops = append(ops, history.Op{Time: at, Type: typ, Process: history.Nuker, F: fn, Value: v, Nodes: nodes})
	}
	halves := map[string][]string{"n1": {"n2", "n3"}, "n2": {"n1"}, "n3": {"n1"}}
	nuker(0, history.Info, history.PrimariesF, []string{"n1"})
	nuker(1000*ms, history.Invoke, "start-partition", map[string]any{"partition": "halves", "grudge": halves})
	nuker(1001*ms, history.Info, "start-partition", halves, "n1", "n2", "n3")
	nuker(2500*ms, history.Invoke, "stop-partition", halves)
	nuker(2501*ms, history.Info, "stop-partition", []string{"n1", "n2", "n3"}, "n1", "n2", "n3")
	oneWay := map[string][]string{"n2": {"n3"}}
	nuker(3000*ms, history.Invoke, "start-partition", map[string]any{"partition": "one-way", "grudge": oneWay})
	nuker(3001*ms, history.Info, "start-partition", oneWay, "n2", "n3")
	nuker(4000*ms, history.Invoke, "stop-partition", oneWay)
	nuker(4001*ms, history.Info, "stop-partition", []string{"n2", "n3"}, "n2", "n3")
	nuker(4500*ms, history.Invoke, "start-kill", map[string]any{"targets": "one", "nodes": []string{"n3"}})
	nuker(4501*ms, history.Info, "start-kill", []string{"n3"}, "n3")
	nuker(5500*ms, history.Invoke, "stop-kill", []string{"n3"})
	nuker(5501*ms, history.Info, "stop-kill", []string{"n3"}, "n3")
	nuker(6000*ms, history.Invoke, "start-failover", nil)
	nuker(6100*ms, history.Info, "start-failover", "promoted n2", "n1", "n2")
	nuker(6200*ms, history.Info, history.PrimariesF, []string{"n2"})
	nuker(7000*ms, history.Invoke, "stop-failover", nil)
	nuker(7001*ms, history.Info, "stop-failover", "n1 follows n2", "n1", "n2")
	const n = 15
	key := func(i int) int { return i % n }
	for i := range n {
		at := 1200*ms + int64(i)*20*ms
		node := fmt.Sprintf("n%d", 1+i%3)
		ops = append(ops,
			history.Op{Time: at, Type: history.Invoke, Process: history.Process(i), F: "txn", Node: node,
				Value: []any{[]any{"r", key(i + 1), nil}, []any{"append", key(i), i + 1}}},
			history.Op{Time: at + 900*ms, Type: history.OK, Process: history.Process(i), F: "txn", Node: node,
				Value: []any{[]any{"r", key(i + 1), []any{}}, []any{"append", key(i), i + 1}}})
	}
	// A later read of every key, so every append is seen.
	for i := range n {
		at := 7500*ms + int64(i)*ms
		ops = append(ops,
			history.Op{Time: at, Type: history.Invoke, Process: history.Process(i), F: "txn", Node: "n2", Value: []any{[]any{"r", key(i), nil}}},
			history.Op{Time: at + ms/2, Type: history.OK, Process: history.Process(i), F: "txn", Node: "n2", Value: []any{[]any{"r", key(i), []any{i + 1}}}})
	}
	writeHistoryFile(t, dir, ops)
	writeKillResources(t, dir, "n3", 4500*ms, 5500*ms)
	if _, err := harness.Check(context.Background(), dir, nil, time.Minute, nil); err != nil {
		t.Fatal(err)
	}
	return test + "/" + stamp
}

// writeKillResources stores resource samples of n1..n3 every 250 ms for
// 8 s: each node busy with a fifth of a core and growing memory, but the
// killed node idle from killed to restarted.
func writeKillResources(t *testing.T, dir, killed string, from, to int64) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, harness.ResourcesFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := resources.NewWriter(f, 250*time.Millisecond, "test")
	if err != nil {
		t.Fatal(err)
	}
	cpu := map[string]uint64{}
	const step = int64(250 * time.Millisecond)
	for at := int64(0); at <= 8*int64(time.Second); at += step {
		var round []resources.Sample
		for _, n := range []string{"n1", "n2", "n3"} {
			if at > 0 && (n != killed || at <= from || at > to) {
				cpu[n] += uint64(step / 5)
			}
			round = append(round, resources.Sample{Time: at, Node: n, CPUNS: cpu[n], Mem: uint64(20+at/int64(time.Second)) << 20,
				NetRxBytes: uint64(at / 100), NetTxBytes: uint64(at / 80), BlkWrite: uint64(at / 1000)})
		}
		if err := w.Write(round); err != nil {
			t.Fatal(err)
		}
	}
}

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
