package linear

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

func readHistory(t testing.TB, path string) []history.Op {
	t.Helper()
	ops, _, err := history.ReadAny(path)
	if err != nil {
		t.Fatal(err)
	}
	return ops
}

func TestHandWritten(t *testing.T) {
	tests := []struct {
		file    string
		verdict models.Verdict
		key     string
		ops     []int64 // history indexes the anomaly names
		explain string  // part of the explanation
		kind    string  // anomaly kind; "" means AnomalyKind
	}{
		{file: "good-info-write-late.edn", verdict: models.Valid},
		{file: "good-fail-write-absent.edn", verdict: models.Valid},
		{file: "good-cut-short.edn", verdict: models.Valid},
		{file: "good-info-cas.edn", verdict: models.Valid},
		{file: "good-keys-faults.jsonl", verdict: models.Valid},
		{
			file: "bad-stale-read.edn", verdict: models.Invalid, ops: []int64{0, 1, 2, 3, 6, 7}, kind: StaleReadKind,
			explain: "Stale read on the history: process 1's read → 1 (ops 6–7), but 1 had been overwritten by process 0's write 2 (ops 2–3), which completed before the read began and started after process 0's write 1 (ops 0–1) had completed",
		},
		{
			file: "bad-lost-write.edn", verdict: models.Invalid, ops: []int64{0, 1, 2, 3, 4, 5}, kind: StaleReadKind,
			explain: "Stale read on the history: process 2's read → 1 (ops 4–5), but 1 had been overwritten by process 1's write 3 (ops 2–3), which completed before the read began and started after process 0's write 1 (ops 0–1) had completed",
		},
		{
			file: "bad-cas-wrong-value.edn", verdict: models.Invalid, ops: []int64{0, 1, 2, 3},
			explain: "Process 1's cas 2→3 (ops 2–3) cannot be linearized: after the longest linearizable prefix of the history (1 of its 3 ops) the register holds 1, from process 0's write 1 (ops 0–1), not the 2 the cas expected",
		},
		{
			file: "bad-info-write-early.edn", verdict: models.Invalid, ops: []int64{0, 1, 2, 3},
			explain: "Process 2's read → 2 (ops 2–3) cannot be linearized: after the longest linearizable prefix of the history (1 of its 3 ops) the register holds 1, from process 0's write 1 (ops 0–1), so the read cannot follow it, and no other order of the ops fits real time either",
		},
		{
			file: "bad-fail-write-visible.edn", verdict: models.Invalid, ops: []int64{0, 1, 4, 5},
			explain: "Process 2's read → 2 (ops 4–5) cannot be linearized: after the longest linearizable prefix of the history (1 of its 2 ops) the register holds 1, from process 0's write 1 (ops 0–1), so the read cannot follow it, and no other order of the ops fits real time either",
		},
		{
			file: "bad-cut-short.edn", verdict: models.Invalid, ops: []int64{2, 5, 6},
			explain: "Process 0's read → 1 (ops 5–6) cannot be linearized: after the longest linearizable prefix of the history (3 of its 4 ops) the register holds 2, from process 1's indeterminate write 2 (op 2), so the read cannot follow it, and no other order of the ops fits real time either",
		},
		{
			file: "bad-read-before-write.edn", verdict: models.Invalid, ops: []int64{0, 3},
			explain: "Process 0's read → 3 (ops 0–3) cannot be linearized: no op of the history can take effect before it, and initially the register is unset (nil), so the read should have returned nil",
		},
		{
			file: "bad-keys-faults.jsonl", verdict: models.Invalid, key: "b", ops: []int64{1, 3, 6, 7, 10, 11}, kind: StaleReadKind,
			explain: "Stale read on key b: process 0's read → 5 (ops 10–11), but 5 had been overwritten by process 1's write 6 (ops 6–7), which completed before the read began and started after process 1's write 5 (ops 1–3) had completed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			ops := readHistory(t, filepath.Join("testdata", tt.file))
			res := NewCASRegister().Check(context.Background(), ops, models.Options{})
			if res.Checker != Name || res.Model != CASRegister {
				t.Errorf("checker %q model %q", res.Checker, res.Model)
			}
			if res.Verdict != tt.verdict {
				t.Fatalf("verdict %s (%s), want %s", res.Verdict, res.Reason, tt.verdict)
			}
			if tt.verdict == models.Valid {
				if len(res.Anomalies) != 0 || res.Reason != "" {
					t.Errorf("valid with anomalies %+v, reason %q", res.Anomalies, res.Reason)
				}
				return
			}
			if len(res.Anomalies) != 1 {
				t.Fatalf("%d anomalies, want 1: %+v", len(res.Anomalies), res.Anomalies)
			}
			a := res.Anomalies[0]
			kind := tt.kind
			if kind == "" {
				kind = AnomalyKind
			}
			if a.Kind != kind || a.Key != tt.key || !reflect.DeepEqual(a.Ops, tt.ops) {
				t.Errorf("anomaly kind %q key %q ops %v, want %q %q %v", a.Kind, a.Key, a.Ops, kind, tt.key, tt.ops)
			}
			if !strings.Contains(a.Explanation, tt.explain) {
				t.Errorf("explanation\n  %s\nwant it to contain\n  %s", a.Explanation, tt.explain)
			}
			if !strings.Contains(res.Reason, a.Explanation) {
				t.Errorf("reason %q does not carry the explanation", res.Reason)
			}
			// The anomaly's time is that of its earliest op.
			want := int64(-1)
			for _, op := range ops {
				for _, i := range a.Ops {
					if op.Index == i && (want < 0 || op.Time < want) {
						want = op.Time
					}
				}
			}
			if a.Time != want {
				t.Errorf("anomaly time %d, want %d", a.Time, want)
			}
		})
	}
}

func TestStats(t *testing.T) {
	ops := readHistory(t, filepath.Join("testdata", "good-keys-faults.jsonl"))
	res := NewCASRegister().Check(context.Background(), ops, models.Options{})
	want := map[string]int64{"keys": 2, "ops": 5, "indeterminate": 0, "failed": 1, "invalid_keys": 0, "unknown_keys": 0}
	if !reflect.DeepEqual(res.Stats, want) {
		t.Errorf("stats %v, want %v", res.Stats, want)
	}
	ops = readHistory(t, filepath.Join("testdata", "good-cut-short.edn"))
	res = NewCASRegister().Check(context.Background(), ops, models.Options{})
	if res.Stats["indeterminate"] != 1 || res.Stats["ops"] != 4 {
		t.Errorf("cut short: stats %v, want 4 ops of which 1 indeterminate (the unfinished read is dropped)", res.Stats)
	}
	if res.DurationNS <= 0 {
		t.Errorf("duration %d", res.DurationNS)
	}
}

func op(i int64, p history.Process, typ history.Type, f string, v any) history.Op {
	return history.Op{Index: i, Time: i * 10, Process: p, Type: typ, F: f, Value: v}
}

func TestUncheckable(t *testing.T) {
	tests := []struct {
		name    string
		checker *Checker
		ops     []history.Op
		reason  string
	}{
		{"empty", NewCASRegister(), nil, "no read, write or cas ops"},
		{"only failures", NewCASRegister(), []history.Op{
			op(0, 0, history.Invoke, "write", 1), op(1, 0, history.Fail, "write", 1),
		}, "no read, write or cas ops"},
		{"unknown f", NewCASRegister(), []history.Op{
			op(0, 0, history.Invoke, "add", 1), op(1, 0, history.OK, "add", 1),
		}, `the history cannot be checked: op 0 (process 0): f "add" is not read, write or cas`},
		{"bad read value", NewCASRegister(), []history.Op{
			op(0, 0, history.Invoke, "read", nil), op(1, 0, history.OK, "read", "x"),
		}, "read returned x: not an integer or nil"},
		{"cas in a register", NewRegister(), []history.Op{
			op(0, 0, history.Invoke, "cas", []any{1, 2}), op(1, 0, history.OK, "cas", []any{1, 2}),
		}, "cas is not an operation of the register model"},
		{"bad cas", NewCASRegister(), []history.Op{
			op(0, 0, history.Invoke, "cas", []any{1}), op(1, 0, history.OK, "cas", []any{1}),
		}, "cas of [1]: not [old new] integers"},
		{"unknown model", &Checker{Model: "queue"}, nil, `unknown model "queue"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tt.checker.Check(context.Background(), tt.ops, models.Options{})
			if res.Verdict != models.Unknown || !strings.Contains(res.Reason, tt.reason) {
				t.Errorf("verdict %s reason %q, want unknown with %q", res.Verdict, res.Reason, tt.reason)
			}
		})
	}
}

func TestRegisterModel(t *testing.T) {
	ops := readHistory(t, filepath.Join("testdata", "bad-stale-read.edn"))
	res := NewRegister().Check(context.Background(), ops, models.Options{})
	if res.Verdict != models.Invalid || res.Model != Register {
		t.Errorf("register: %s %s (%s), want invalid register", res.Model, res.Verdict, res.Reason)
	}
	ops = readHistory(t, filepath.Join("testdata", "good-info-write-late.edn"))
	if res := NewRegister().Check(context.Background(), ops, models.Options{}); res.Verdict != models.Valid {
		t.Errorf("register: %s (%s), want valid", res.Verdict, res.Reason)
	}
}

// hardHistory is a key porcupine needs long to reject: n writes of unknown
// outcome, then one process reading each value in turn and the first
// again, which no order allows; any subset of the writes may be placed
// early, so porcupine tries about 2ⁿ of them. Every value is read, so no
// write can be left out as unobserved.
func hardHistory(n int, key string, first int64) []history.Op {
	var ops []history.Op
	add := func(o history.Op) {
		o.Index = first + int64(len(ops))
		o.Time = o.Index * 10
		o.Key = key
		ops = append(ops, o)
	}
	for i := range n {
		add(history.Op{Process: history.Process(100 + i), Type: history.Invoke, F: "write", Value: int64(i + 1)})
	}
	for i := range n + 1 {
		add(history.Op{Process: 99, Type: history.Invoke, F: "read"})
		add(history.Op{Process: 99, Type: history.OK, F: "read", Value: int64(i%n + 1)})
	}
	return ops
}

// hardOwnHistory is a key the own search needs long to reject: n
// concurrent writes of 1..n and n concurrent reads, read i returning i,
// then one process reading 1 and then 2, which no order allows. Writes 1
// and 2 must each come last, and before finding that out the search tries
// about 2ⁿ subsets of the other writes.
func hardOwnHistory(n int, key string, first int64) []history.Op {
	var ops []history.Op
	add := func(o history.Op) {
		o.Index = first + int64(len(ops))
		o.Time = o.Index * 10
		o.Key = key
		ops = append(ops, o)
	}
	for i := range n {
		add(history.Op{Process: history.Process(100 + i), Type: history.Invoke, F: "write", Value: int64(i + 1)})
		add(history.Op{Process: history.Process(200 + i), Type: history.Invoke, F: "read"})
	}
	for i := range n {
		add(history.Op{Process: history.Process(100 + i), Type: history.OK, F: "write", Value: int64(i + 1)})
		add(history.Op{Process: history.Process(200 + i), Type: history.OK, F: "read", Value: int64(i + 1)})
	}
	for _, v := range []int64{1, 2} {
		add(history.Op{Process: 99, Type: history.Invoke, F: "read"})
		add(history.Op{Process: 99, Type: history.OK, F: "read", Value: v})
	}
	return ops
}

// hardCases are histories each search needs long to reject, with the
// checker that uses that search.
var hardCases = []struct {
	name    string
	hard    func(n int, key string, first int64) []history.Op
	checker Checker
	desc    string // how the key is described, for 22 writes
}{
	{"porcupine", hardHistory, Checker{Porcupine: true}, "45 ops, 22 indeterminate"},
	{"own", hardOwnHistory, Checker{}, "46 ops, 0 indeterminate"},
}

func TestTimeout(t *testing.T) {
	for _, hc := range hardCases {
		t.Run(hc.name, func(t *testing.T) { testTimeout(t, hc.hard, hc.checker, hc.desc) })
	}
}

func testTimeout(t *testing.T, hard func(int, string, int64) []history.Op, base Checker, desc string) {
	ops := hard(22, "7", 0)
	c := base
	c.Timeout = 50 * time.Millisecond
	start := time.Now()
	res := c.Check(context.Background(), ops, models.Options{})
	took := time.Since(start)
	if res.Verdict != models.Unknown {
		t.Fatalf("verdict %s (%s), want unknown", res.Verdict, res.Reason)
	}
	want := "linearizability check of key 7 (" + desc + ") timed out after 50ms"
	if res.Reason != want {
		t.Errorf("reason %q, want %q", res.Reason, want)
	}
	if took > 2*time.Second {
		t.Errorf("check took %v after a 50ms timeout", took)
	}
	if res.Stats["unknown_keys"] != 1 {
		t.Errorf("stats %v", res.Stats)
	}

	// Small enough to finish: the same shape is decided invalid.
	c = base
	if res := c.Check(context.Background(), hard(6, "7", 0), models.Options{}); res.Verdict != models.Invalid {
		t.Errorf("6 writes: %s (%s), want invalid", res.Verdict, res.Reason)
	}

	// A tiny timeout, even on an easy history.
	easy := readHistory(t, filepath.Join("testdata", "good-info-write-late.edn"))
	c = base
	c.Timeout = time.Nanosecond
	res = c.Check(context.Background(), easy, models.Options{})
	if res.Verdict != models.Unknown || !strings.Contains(res.Reason, "linearizability check (4 ops, 1 indeterminate) timed out after 1ns") {
		t.Errorf("tiny timeout: %s %q", res.Verdict, res.Reason)
	}
}

func TestContext(t *testing.T) {
	for _, hc := range hardCases {
		t.Run(hc.name, func(t *testing.T) { testContext(t, hc.hard(22, "", 0), hc.checker, hc.desc) })
	}
}

func testContext(t *testing.T, ops []history.Op, c Checker, desc string) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := c.Check(ctx, ops, dirOptions(t.TempDir()))
	if res.Verdict != models.Unknown || !strings.Contains(res.Reason, "stopped after") || !strings.Contains(res.Reason, "context canceled") {
		t.Errorf("cancelled: %s %q", res.Verdict, res.Reason)
	}
	if len(res.Artifacts) != 0 {
		t.Errorf("artifacts %v after cancellation", res.Artifacts)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	res = c.Check(ctx, ops, models.Options{})
	if res.Verdict != models.Unknown || !strings.Contains(res.Reason, "linearizability check ("+desc+") timed out after") || !strings.Contains(res.Reason, "(the check's deadline)") {
		t.Errorf("deadline: %s %q", res.Verdict, res.Reason)
	}
}

// TestKeysIndependent: a key that times out must not hide another key's
// violation.
func TestKeysIndependent(t *testing.T) {
	for _, hc := range hardCases {
		t.Run(hc.name, func(t *testing.T) { testKeysIndependent(t, hc.hard(22, "slow", 0), hc.checker, hc.desc) })
	}
}

func testKeysIndependent(t *testing.T, ops []history.Op, c Checker, desc string) {
	bad := readHistory(t, filepath.Join("testdata", "bad-stale-read.edn"))
	base := int64(len(ops))
	for _, o := range bad {
		o.Index += base
		o.Time = o.Index * 10
		o.Process += 1000
		o.Key = "fast"
		ops = append(ops, o)
	}
	c.Timeout, c.Parallelism = 100*time.Millisecond, 1
	res := c.Check(context.Background(), ops, models.Options{})
	if res.Verdict != models.Invalid {
		t.Fatalf("verdict %s (%s), want invalid", res.Verdict, res.Reason)
	}
	if res.Stats["invalid_keys"] != 1 || res.Stats["unknown_keys"] != 1 || res.Stats["keys"] != 2 {
		t.Errorf("stats %v", res.Stats)
	}
	if len(res.Anomalies) != 1 || res.Anomalies[0].Key != "fast" {
		t.Errorf("anomalies %+v", res.Anomalies)
	}
	if !strings.Contains(res.Reason, fmt.Sprintf("process 1001's read → 1 (ops %d–%d)", base+6, base+7)) || !strings.Contains(res.Reason, "key slow ("+desc+") timed out") {
		t.Errorf("reason %q should name both keys' outcomes", res.Reason)
	}
}

func TestVisualization(t *testing.T) {
	tests := []struct {
		file     string
		contains []string
	}{
		{"bad-stale-read.edn", []string{"read → 1", "anomalies", "Stale read"}},
		{"good-keys-faults.jsonl", []string{"fault: partition", "n1,n2,n3", "cas 1→2", "ops 6→9, ok, process 0, node n1"}},
		{"bad-keys-faults.jsonl", []string{"fault: kill", "never healed", "anomalies", "stale-read (key b)"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			dir := t.TempDir()
			ops := readHistory(t, filepath.Join("testdata", tt.file))
			res := NewCASRegister().Check(context.Background(), ops, dirOptions(dir))
			if !reflect.DeepEqual(res.Artifacts, []string{VisualizationFile}) {
				t.Fatalf("artifacts %v (reason %q)", res.Artifacts, res.Reason)
			}
			b, err := os.ReadFile(filepath.Join(dir, VisualizationFile))
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tt.contains {
				if !strings.Contains(string(b), s) {
					t.Errorf("%s lacks %q", VisualizationFile, s)
				}
			}
		})
	}
}

// TestVisualizationBounded: with many keys only invalid keys and as many
// valid ones as the budget allows are drawn.
func TestVisualizationBounded(t *testing.T) {
	var ops []history.Op
	for k := range 50 {
		for i, o := range []history.Op{
			{Type: history.Invoke, F: "write", Value: int64(k)},
			{Type: history.OK, F: "write", Value: int64(k)},
			{Type: history.Invoke, F: "read"},
			{Type: history.OK, F: "read", Value: int64(k)},
		} {
			o.Index = int64(len(ops))
			o.Process = history.Process(k)
			o.Key = fmt.Sprint(k)
			if k == 42 && i == 3 {
				o.Value = int64(-1) // the one bad key
			}
			ops = append(ops, o)
		}
	}
	dir := t.TempDir()
	c := &Checker{MaxVisualizedOps: 6}
	res := c.Check(context.Background(), ops, dirOptions(dir))
	if res.Verdict != models.Invalid || len(res.Artifacts) != 1 {
		t.Fatalf("%s %v %q", res.Verdict, res.Artifacts, res.Reason)
	}
	b, err := os.ReadFile(filepath.Join(dir, VisualizationFile))
	if err != nil {
		t.Fatal(err)
	}
	// One invalid key plus three valid keys of two ops each.
	if n := strings.Count(string(b), `"PartialLinearizations"`); n != 4 {
		t.Errorf("%d partitions drawn, want 4", n)
	}
	if !strings.Contains(string(b), "read → -1") {
		t.Error("the invalid key is not drawn")
	}
}

// TestRecordedMinIOLostObject: key 1 of a run faultline recorded against
// MinIO under kills (docs/targets.md): cas 71→80 and a read of 80 were
// acknowledged, an overwrite timed out, a majority was killed, and every
// node's final read found no object. Linearizability must reject it as a
// read of "unset" after acknowledged writes.
func TestRecordedMinIOLostObject(t *testing.T) {
	ops := readHistory(t, filepath.Join("testdata", "bad-minio-lost-object.jsonl"))
	res := NewCASRegister().Check(context.Background(), ops, models.Options{})
	if res.Verdict != models.Invalid || len(res.Anomalies) == 0 {
		t.Fatalf("verdict %s (%s), want invalid", res.Verdict, res.Reason)
	}
	a := res.Anomalies[0]
	if a.Kind != StaleReadKind || a.Key != "1" || !strings.Contains(a.Explanation, "read → nil") {
		t.Errorf("anomaly %s on key %q: %s; want a stale read of nil on key 1", a.Kind, a.Key, a.Explanation)
	}
}

// dirOptions creates artifacts as files in dir.
func dirOptions(dir string) models.Options {
	return models.Options{Create: func(name string) (io.WriteCloser, error) {
		return os.Create(filepath.Join(dir, name))
	}}
}
