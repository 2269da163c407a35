package workloads

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/catalog"
	"github.com/faultline/faultline/models/history"
)

// This file proves that `faultline export` loses nothing a checker needs:
// for every workload, a history its own generator wrote against a fake
// target (correct, flaky, or with a bug the checkers catch) is exported to
// Jepsen EDN, read back as `check --format jepsen-edn` reads a file
// (history.ReadAny), and judged again by the workload's checkers: same
// verdict, same anomalies, same counts as the history itself.

// The register workload against the fake store: each key a list of the
// values written (the last is the register's value), so the fake needs no
// state of its own. Bug "stale-read" answers every third read with the
// value before the last.
func (c *fakeClient) Read(_ context.Context, key string) (int64, bool, error) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if refuse, timeout := s.step(); refuse || timeout {
		return 0, false, errFakeTimeout
	}
	vals := s.lists["register/"+key]
	if len(vals) > 1 && s.every("stale-read", 3) {
		return vals[len(vals)-2], true, nil
	}
	if len(vals) == 0 {
		return 0, false, nil
	}
	return vals[len(vals)-1], true, nil
}

func (c *fakeClient) Write(_ context.Context, key string, v int64) error {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	refuse, timeout := s.step()
	if refuse {
		return errFakeRefused
	}
	s.lists["register/"+key] = append(s.lists["register/"+key], v)
	if timeout {
		return errFakeTimeout
	}
	return nil
}

func (c *fakeClient) CAS(_ context.Context, key string, old, nw int64) (bool, error) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	refuse, timeout := s.step()
	if refuse {
		return false, errFakeRefused
	}
	vals := s.lists["register/"+key]
	if len(vals) == 0 || vals[len(vals)-1] != old {
		return false, nil
	}
	s.lists["register/"+key] = append(vals, nw)
	if timeout {
		return false, errFakeTimeout
	}
	return true, nil
}

var _ RegisterClient = (*fakeClient)(nil)

// kvOnly is the register workload judged by the kv model, which takes keys
// from Jepsen's [k v] tuples (export --independent).
type kvOnly struct{ Register }

func (kvOnly) Models() []string { return []string{"kv"} }

// withFaults adds a partition's four nuker ops around the middle third of
// ops, and lone node information ops (primaries, clock offsets) before,
// inside and after it, and renumbers the history, so the export's :nemesis
// ops are read back between client ops as a run records them.
func withFaults(ops []history.Op) []history.Op {
	a, b := len(ops)/3, 2*len(ops)/3
	fault := func(at int, f string, typ history.Type) history.Op {
		op := history.Op{Type: typ, Process: history.Nuker, F: f, Time: ops[at].Time}
		if typ == history.Info {
			op.Nodes, op.Value = []string{"n1"}, "isolated n1"
		}
		return op
	}
	info := func(at int, f string, v any) history.Op {
		return history.Op{Type: history.Info, Process: history.Nuker, F: f, Time: ops[at].Time, Value: v}
	}
	var out []history.Op
	for i, op := range ops {
		switch i {
		case 0:
			out = append(out, info(i, history.PrimariesF, []any{"n1"}))
		case a:
			out = append(out, fault(i, "start-partition", history.Invoke), fault(i, "start-partition", history.Info),
				info(i, history.PrimariesF, []any{"n2"}))
		case (a + b) / 2:
			out = append(out, info(i, history.ClockOffsetsF, map[string]any{"n1": 0.5, "n2": -1.25}))
		case b:
			out = append(out, fault(i, "stop-partition", history.Invoke), info(i, history.PrimariesF, []any{}),
				fault(i, "stop-partition", history.Info))
		}
		out = append(out, op)
	}
	for i := range out {
		out[i].Index = int64(i)
	}
	return out
}

// judge runs wl's checkers, configured as the harness configures them.
func judge(t *testing.T, wl Workload, ops []history.Op) []models.Result {
	t.Helper()
	var out []models.Result
	for _, name := range wl.Models() {
		e, err := catalog.Default().Lookup(name)
		if err != nil {
			t.Fatalf("workload %s names model %q: %v", wl.Name(), name, err)
		}
		c := e.New()
		if cm, ok := wl.(CheckerMaker); ok {
			if own := cm.Checker(name); own != nil {
				c = own
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out = append(out, c.Check(ctx, ops, models.Options{}))
		cancel()
	}
	return out
}

// exportAndRead writes ops as EDN to a file and reads it back the way
// `faultline check --format jepsen-edn` does.
func exportAndRead(t *testing.T, ops []history.Op, opt history.EDNOptions) []history.Op {
	t.Helper()
	var buf bytes.Buffer
	if err := history.WriteEDN(&buf, ops, opt); err != nil {
		t.Fatalf("export: %v", err)
	}
	path := filepath.Join(t.TempDir(), "history.edn")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	back, format, err := history.ReadAny(path)
	if err != nil {
		t.Fatalf("read the export back: %v", err)
	}
	if format != history.FormatJepsenEDN {
		t.Fatalf("export read back as %s, want %s", format, history.FormatJepsenEDN)
	}
	return back
}

func anomalyKinds(r models.Result) []string {
	var out []string
	for _, a := range r.Anomalies {
		out = append(out, a.Kind)
	}
	return out
}

// TestExportRoundTripEveryWorkload: export to EDN, read back, check: the
// same verdict, anomaly kinds and checker stats as the history itself, for
// every workload, correct and buggy; and the verdict is the one expected,
// so a round trip that turned everything valid (or invalid) is caught.
func TestExportRoundTripEveryWorkload(t *testing.T) {
	lock := Lock{Hold: 2 * time.Millisecond}
	cases := []struct {
		name   string
		wl     Workload
		bug    string
		flaky  bool
		queue  bool // simulated with the fake queue (simulateQueue)
		opt    history.EDNOptions
		as     Workload // judge the export with these models (default wl)
		want   models.Verdict
		ops    int
		anyBad bool // want is the combined verdict rather than every checker's
	}{
		{name: "register", wl: Register{}, want: models.Valid},
		{name: "register flaky", wl: Register{}, flaky: true, want: models.Valid},
		{name: "register stale reads", wl: Register{}, bug: "stale-read", want: models.Invalid},
		{name: "register independent as kv", wl: Register{}, flaky: true, opt: history.EDNOptions{Independent: true}, as: kvOnly{}, want: models.Valid},
		{name: "register independent as kv, stale reads", wl: Register{}, bug: "stale-read", opt: history.EDNOptions{Independent: true}, as: kvOnly{}, want: models.Invalid},
		{name: "set", wl: Set{}, want: models.Valid},
		{name: "set flaky", wl: Set{}, flaky: true, want: models.Valid},
		{name: "set lost adds", wl: Set{}, bug: "lose-add", want: models.Invalid, anyBad: true},
		{name: "broadcast flaky", wl: Broadcast{}, flaky: true, want: models.Valid},
		{name: "broadcast lost adds", wl: Broadcast{}, bug: "lose-add", want: models.Invalid, anyBad: true},
		{name: "g-set", wl: Broadcast{GSet: true}, want: models.Valid},
		{name: "counter", wl: Counter{}, flaky: true, want: models.Valid},
		{name: "counter lost increments", wl: Counter{}, bug: "lose-increment", want: models.Invalid},
		{name: "bank", wl: Bank{}, flaky: true, want: models.Valid},
		{name: "bank lost credits", wl: Bank{}, bug: "lose-credit", want: models.Invalid},
		{name: "list-append", wl: ListAppend{}, want: models.Valid},
		{name: "list-append flaky", wl: ListAppend{}, flaky: true, want: models.Valid},
		{name: "list-append lost appends", wl: ListAppend{}, bug: "lose-append", want: models.Invalid},
		{name: "rw-register flaky", wl: RWRegister{}, flaky: true, want: models.Valid},
		{name: "rw-register stale reads", wl: RWRegister{}, bug: "stale-read", want: models.Invalid},
		{name: "g-counter", wl: EventualCounter{}, flaky: true, want: models.Valid},
		{name: "pn-counter lost increments", wl: EventualCounter{Decrements: true}, bug: "lose-increment", want: models.Invalid},
		{name: "lock", wl: lock, flaky: true, want: models.Valid, ops: 100},
		{name: "lock two holders", wl: lock, bug: "double-grant", want: models.Invalid, ops: 100},
		{name: "lock repeated token", wl: lock, bug: "stuck-token", want: models.Invalid, ops: 100},
		{name: "lock as mutex", wl: mutexOnly{lock}, flaky: true, want: models.Valid, ops: 100},
		{name: "lock as mutex, two holders", wl: mutexOnly{lock}, bug: "double-grant", want: models.Invalid, ops: 100},
		{name: "queue", wl: Queue{}, queue: true, flaky: true, want: models.Valid},
		{name: "queue loses messages", wl: Queue{}, queue: true, bug: "lose", want: models.Invalid},
		{name: "queue redelivers acked", wl: Queue{}, queue: true, bug: "redeliver-acked", want: models.Invalid},
		{name: "queue reorders", wl: Queue{}, queue: true, bug: "reorder", want: models.Invalid},
		{name: "kafka", wl: Kafka{}, flaky: true, want: models.Valid},
		{name: "kafka lost sends", wl: Kafka{}, bug: "lose-send", want: models.Invalid},
		{name: "kafka forgotten commits", wl: Kafka{}, bug: "forget-commit", want: models.Invalid},
		{name: "echo", wl: Echo{}, flaky: true, want: models.Valid},
		{name: "echo garbled", wl: Echo{}, bug: "bad-echo", want: models.Invalid},
		{name: "unique-ids", wl: UniqueIDs{}, flaky: true, want: models.Valid},
		{name: "unique-ids reused", wl: UniqueIDs{}, bug: "reuse-id", want: models.Invalid},
	}
	covered := map[string]bool{}
	for _, tc := range cases {
		covered[tc.wl.Name()] = true
		t.Run(tc.name, func(t *testing.T) {
			n := tc.ops
			if n == 0 {
				n = 150
			}
			var ops []history.Op
			if tc.queue {
				ops = simulateQueue(t, &fakeQueue{bug: tc.bug, flaky: tc.flaky, inFlight: map[int64]bool{}}, 6, n)
			} else {
				ops, _ = simulate(t, tc.wl, newFakeStore(tc.bug, tc.flaky), 6, n)
			}
			ops = withFaults(ops)
			back := exportAndRead(t, ops, tc.opt)
			if len(back) != len(ops) {
				t.Fatalf("%d ops read back from the export, %d written", len(back), len(ops))
			}
			for i, op := range ops {
				if b := back[i]; op.Process == history.Nuker && (b.Process != op.Process || b.Type != op.Type || b.F != op.F) {
					t.Errorf("nuker op %d: %s %s %s from the export, %s %s %s in the history", i, b.Process, b.Type, b.F, op.Process, op.Type, op.F)
				}
			}
			if w, g := history.FaultWindows(ops), history.FaultWindows(back); len(w) != 1 || len(g) != 1 || w[0].Kind != g[0].Kind || w[0].StartOp != g[0].StartOp || w[0].EndOp != g[0].EndOp {
				t.Errorf("fault windows: %+v from the export, %+v from the history", g, w)
			}
			as := tc.as
			if as == nil {
				as = tc.wl
			}
			orig, again := judge(t, tc.wl, ops), judge(t, as, back)
			if len(orig) != len(again) {
				t.Fatalf("%d results from the export, %d from the history", len(again), len(orig))
			}
			var vs []models.Verdict
			for i, r := range orig {
				g := again[i]
				vs = append(vs, r.Verdict)
				if !tc.anyBad && r.Verdict != tc.want {
					t.Errorf("history: %s says %s (%s), want %s", r.Checker, r.Verdict, r.Reason, tc.want)
				}
				if g.Verdict != r.Verdict {
					t.Errorf("%s: %s from the export (%s), %s from the history (%s)", r.Checker, g.Verdict, g.Reason, r.Verdict, r.Reason)
				}
				if gk, rk := anomalyKinds(g), anomalyKinds(r); !slices.Equal(gk, rk) {
					t.Errorf("%s: %d anomalies from the export (%v), %d from the history (%v)", r.Checker, len(gk), firstAnomalies(g), len(rk), firstAnomalies(r))
				}
				if tc.as == nil && !reflect.DeepEqual(g.Stats, r.Stats) {
					t.Errorf("%s: stats %v from the export, %v from the history", r.Checker, g.Stats, r.Stats)
				}
			}
			if got := models.Combine(vs...); got != tc.want {
				t.Errorf("history judged %s, want %s", got, tc.want)
			}
		})
	}
	for _, name := range Default().Names() {
		if !covered[name] {
			t.Errorf("workload %s has no round-trip case", name)
		}
	}
}
