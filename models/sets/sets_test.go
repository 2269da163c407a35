package sets

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/faultline/faultline/internal/histtest"
	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// hist builds a history from one line per op (see histtest.Build).
func hist(t testing.TB, lines ...string) []history.Op { return histtest.Build(t, lines...) }

func TestHandWritten(t *testing.T) {
	tests := []struct {
		name         string
		linearizable bool
		ops          []string
		verdict      models.Verdict
		kind         string
		anomaly      []int64 // ops of the first anomaly
		explain      string
		stats        map[string]int64 // some stats to check
	}{
		{name: "stable", verdict: models.Valid, ops: []string{
			"0 invoke add 1", "0 ok add 1",
			"1 invoke add 2", // never completes: unconfirmed
			"2 invoke read nil", "2 ok read [1]",
		}, stats: map[string]int64{"stable": 1, "unconfirmed": 1, "indeterminate": 1}},
		{name: "concurrent read may miss the add", verdict: models.Valid, ops: []string{
			"0 invoke add 1", "1 invoke read nil", "1 ok read []", "0 ok add 1",
			"1 invoke read nil", "1 ok read [1]",
		}, stats: map[string]int64{"stable": 1, "stale": 0}},
		{name: "stale then stable", verdict: models.Valid, ops: []string{
			"0 invoke add 1", "0 ok add 1",
			"1 invoke read nil", "1 ok read []",
			"1 invoke read nil", "1 ok read [1]",
		}, stats: map[string]int64{"stable": 1, "stale": 1}},
		{
			name: "stale in a linearizable set", linearizable: true, verdict: models.Invalid, kind: StaleKind, anomaly: []int64{0, 1, 2, 3, 4, 5},
			ops: []string{
				"0 invoke add 1", "0 ok add 1",
				"1 invoke read nil", "1 ok read []",
				"1 invoke read nil", "1 ok read [1]",
			},
			explain: "Element 1 was stale for 10ns: it was known from op 1 (process 0's add of 1 (ops 0–1)), yet process 1's read (ops 2–3), which began after, lacks it; every read from process 1's read (ops 4–5) on has it",
		},
		{name: "info add absent, present, both fine", verdict: models.Valid, ops: []string{
			"0 invoke add 1", "0 info add 1",
			"1 invoke add 2", "1 info add 2",
			"3 invoke add 3", "3 ok add 3",
			"3 invoke read nil", "3 ok read [2 3]",
		}, stats: map[string]int64{"stable": 2, "unconfirmed": 1, "recovered": 1, "indeterminate": 2}},
		{name: "never read", verdict: models.Valid, ops: []string{
			"0 invoke add 1", "0 ok add 1",
			"1 invoke read nil", "1 ok read [1]",
			"0 invoke add 2", "0 ok add 2",
		}, stats: map[string]int64{"stable": 1, "never_read": 1}},
		{name: "read concurrent with the add lacks it at the end", verdict: models.Valid, ops: []string{
			"0 invoke add 1", "0 ok add 1",
			"0 invoke add 2", "1 invoke read nil", "0 ok add 2", "1 ok read [1]",
		}, stats: map[string]int64{"stable": 1, "never_read": 1, "lost": 0}},
		{
			name: "lost element", verdict: models.Invalid, kind: LostKind, anomaly: []int64{0, 1, 2, 3, 4, 5},
			ops: []string{
				"0 invoke add 1", "0 ok add 1",
				"1 invoke read nil", "1 ok read [1]",
				"1 invoke read nil", "1 ok read []",
			},
			explain: "Element 1 was lost: process 0's add of 1 (ops 0–1) completed, process 1's read (ops 2–3) last saw it, but the last read, process 1's read (ops 4–5), lacks it",
		},
		{
			name: "lost: acknowledged, never seen", verdict: models.Invalid, kind: LostKind, anomaly: []int64{0, 1, 4, 5, 6, 7},
			ops: []string{
				"0 invoke add 1", "0 ok add 1",
				"0 invoke add 2", "0 ok add 2",
				"1 invoke read nil", "1 ok read [2]",
				"1 invoke read nil", "1 ok read [2]",
			},
			explain: "Element 1 was lost: process 0's add of 1 (ops 0–1) completed, but all 2 reads that began after that lack it, from process 1's read (ops 4–5) to process 1's read (ops 6–7)",
		},
		{
			name: "lost info add once seen", verdict: models.Invalid, kind: LostKind, anomaly: []int64{0, 1, 2, 3, 4, 5},
			ops: []string{
				"0 invoke add 1", "0 info add 1",
				"1 invoke read nil", "1 ok read [1]",
				"1 invoke read nil", "1 ok read []",
			},
			explain: "Element 1 was lost: process 1's read (ops 2–3) saw it, added by process 0's indeterminate add of 1 (ops 0–1), but the last read, process 1's read (ops 4–5), lacks it",
		},
		{
			name: "lost after a power failure", verdict: models.Invalid, kind: LostAfterPowerKind, anomaly: []int64{0, 1, 2, 3, 8, 9},
			ops: []string{
				"0 invoke add 1", "0 ok add 1",
				"1 invoke read nil", "1 ok read [1]",
				"nuker invoke start-power nodes=n1", "nuker info start-power nodes=n1",
				"nuker invoke stop-power", "nuker info stop-power",
				"1 invoke read nil", "1 ok read []",
			},
			explain: "the last read, process 1's read (ops 8–9), lacks it, and a power failure of n1 (op 4, at 40ns) lies between",
			stats:   map[string]int64{"lost": 1, "lost_after_power_failure": 1},
		},
		{
			name: "seen while the power failure began: still after it", verdict: models.Invalid, kind: LostAfterPowerKind, anomaly: []int64{0, 1, 2, 4, 7, 8},
			ops: []string{
				"0 invoke add 1", "0 ok add 1",
				"1 invoke read nil",
				"nuker invoke start-power nodes=n1",
				"1 ok read [1]",
				"nuker info start-power nodes=n1",
				"nuker invoke stop-power",
				"1 invoke read nil", "1 ok read []",
			},
			explain: "and a power failure of n1 (op 3, at 30ns) lies between",
			stats:   map[string]int64{"lost": 1, "lost_after_power_failure": 1},
		},
		{
			name: "power failure before the ack: a plain loss", verdict: models.Invalid, kind: LostKind, anomaly: []int64{4, 5, 6, 7},
			ops: []string{
				"nuker invoke start-power nodes=n1", "nuker info start-power nodes=n1",
				"nuker invoke stop-power", "nuker info stop-power",
				"0 invoke add 1", "0 ok add 1",
				"1 invoke read nil", "1 ok read []",
			},
			explain: "the last read, process 1's read (ops 6–7), lacks it",
			stats:   map[string]int64{"lost": 1, "lost_after_power_failure": 0},
		},
		{
			name: "power failure after the read that missed it: a plain loss", verdict: models.Invalid, kind: LostKind, anomaly: []int64{0, 1, 2, 5},
			ops: []string{
				"0 invoke add 1", "0 ok add 1",
				"1 invoke read nil",
				"nuker invoke start-power nodes=n1,n2,n3", "nuker info start-power nodes=n1,n2,n3",
				"1 ok read []",
			},
			stats: map[string]int64{"lost": 1, "lost_after_power_failure": 0},
		},
		{
			name: "seen after the power failure, then lost: a plain loss", verdict: models.Invalid, kind: LostKind, anomaly: []int64{0, 1, 4, 5, 6, 7},
			ops: []string{
				"0 invoke add 1", "0 ok add 1",
				"nuker invoke start-power nodes=n1", "nuker info start-power nodes=n1",
				"1 invoke read nil", "1 ok read [1]",
				"1 invoke read nil", "1 ok read []",
			},
			stats: map[string]int64{"lost": 1, "lost_after_power_failure": 0},
		},
		{
			name: "a power failure that never took effect: a plain loss", verdict: models.Invalid, kind: LostKind, anomaly: []int64{0, 1, 4, 5},
			ops: []string{
				"0 invoke add 1", "0 ok add 1",
				"nuker invoke start-power nodes=n1", "nuker info start-power nodes=n1 failed=n1",
				"1 invoke read nil", "1 ok read []",
			},
			stats: map[string]int64{"lost": 1, "lost_after_power_failure": 0},
		},
		{name: "power failure, nothing lost", verdict: models.Valid, ops: []string{
			"0 invoke add 1", "0 ok add 1",
			"nuker invoke start-power nodes=n1", "nuker info start-power nodes=n1",
			"nuker invoke stop-power", "nuker info stop-power",
			"1 invoke read nil", "1 ok read [1]",
		}, stats: map[string]int64{"stable": 1, "lost": 0, "lost_after_power_failure": 0}},
		{
			name: "unexpected element", verdict: models.Invalid, kind: UnexpectedKind, anomaly: []int64{2, 3},
			ops:     []string{"0 invoke add 1", "0 ok add 1", "1 invoke read nil", "1 ok read [1 9]"},
			explain: "Process 1's read (ops 2–3) returned 9, which no add attempted",
		},
		{
			name: "failed add visible", verdict: models.Invalid, kind: UnexpectedKind, anomaly: []int64{0, 1, 2, 3},
			ops:     []string{"0 invoke add 1", "0 fail add 1", "1 invoke read nil", "1 ok read [1]"},
			explain: "Process 1's read (ops 2–3) returned 1, which only process 0's failed add of 1 (ops 0–1) tried to add, and a failed add certainly did not take effect",
		},
		{
			name: "read before the add began", verdict: models.Invalid, kind: UnexpectedKind, anomaly: []int64{0, 1, 2, 3},
			ops:     []string{"1 invoke read nil", "1 ok read [1]", "0 invoke add 1", "0 ok add 1", "1 invoke read nil", "1 ok read [1]"},
			explain: "Process 1's read (ops 0–1) returned 1, before process 0's add of 1 (ops 2–3) was invoked",
		},
		{
			name: "duplicated element", verdict: models.Invalid, kind: DuplicatedKind, anomaly: []int64{2, 3},
			ops:     []string{"0 invoke add 1", "0 ok add 1", "1 invoke read nil", "1 ok read [1 1]"},
			explain: "Process 1's read (ops 2–3) returned 1 more than once",
		},
		{
			name: "keys are independent", verdict: models.Invalid, kind: LostKind, anomaly: []int64{0, 1, 4, 5},
			ops: []string{
				"0 invoke add 1 key=a", "0 ok add 1 key=a",
				"0 invoke add 1 key=b", "0 ok add 1 key=b",
				"1 invoke read nil key=a", "1 ok read [] key=a",
				"1 invoke read nil key=b", "1 ok read [1] key=b",
			},
			explain: "Element 1 of key a was lost",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := (&Checker{Linearizable: tt.linearizable}).Check(context.Background(), hist(t, tt.ops...), models.Options{})
			if res.Checker != Name || res.Model != Name {
				t.Errorf("checker %q model %q", res.Checker, res.Model)
			}
			if res.Verdict != tt.verdict {
				t.Fatalf("verdict %s (%s), want %s; stats %v", res.Verdict, res.Reason, tt.verdict, res.Stats)
			}
			for k, v := range tt.stats {
				if res.Stats[k] != v {
					t.Errorf("stat %s = %d, want %d (%v)", k, res.Stats[k], v, res.Stats)
				}
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
			if a.Kind != tt.kind || !reflect.DeepEqual(a.Ops, tt.anomaly) {
				t.Errorf("anomaly %q ops %v, want %q %v", a.Kind, a.Ops, tt.kind, tt.anomaly)
			}
			if !strings.Contains(a.Explanation, tt.explain) {
				t.Errorf("explanation\n  %s\nwant it to contain\n  %s", a.Explanation, tt.explain)
			}
			if a.Time != 10*a.Ops[0] {
				t.Errorf("time %d, want %d", a.Time, 10*a.Ops[0])
			}
			if res.Reason != a.Explanation {
				t.Errorf("reason %q", res.Reason)
			}
		})
	}
}

func TestStaleProperties(t *testing.T) {
	ops := hist(t,
		"0 invoke add 1", "0 ok add 1",
		"0 invoke add 2", "0 ok add 2",
		"1 invoke read nil", "1 ok read [1]",
		"1 invoke read nil", "1 ok read [1]",
		"1 invoke read nil", "1 ok read [1 2]",
	)
	res := New().Check(context.Background(), ops, models.Options{})
	if res.Verdict != models.Valid || res.Stats["stale"] != 1 {
		t.Fatalf("%s %v", res.Verdict, res.Stats)
	}
	// Known at op 3 (t=30), last missed by the read invoked at op 6 (t=60).
	want := map[string]string{"worst_stale_latency": "30ns", "worst_stale_element": "2"}
	if !reflect.DeepEqual(res.Properties, want) {
		t.Errorf("properties %v, want %v", res.Properties, want)
	}
}

func TestUncheckable(t *testing.T) {
	tests := []struct {
		name    string
		ops     []string
		verdict models.Verdict
		reason  string
	}{
		{"empty", nil, models.Unknown, "the set was never read"},
		{"nothing added", []string{"0 invoke read nil", "0 ok read []"}, models.Unknown, "no element was both added and then read"},
		{"only info adds", []string{"0 invoke add 1", "0 info add 1", "1 invoke read nil", "1 ok read []"}, models.Unknown, "no element was both added and then read"},
		{"bad read", []string{"0 invoke add 1", "0 ok add 1", "0 invoke read nil", "0 ok read 3", "0 invoke read nil", "0 ok read [1]"}, models.Unknown,
			"1 malformed ops skipped, the first op 3 (process 0): read returned 3: not a list"},
		{"bad add", []string{"0 invoke add [1]", "0 ok add [1]", "0 invoke add 1", "0 ok add 1", "0 invoke read nil", "0 ok read [1]"}, models.Unknown,
			"op 0 (process 0): add of [1]: not a single element"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := New().Check(context.Background(), hist(t, tt.ops...), models.Options{})
			if res.Verdict != tt.verdict || !strings.Contains(res.Reason, tt.reason) {
				t.Errorf("verdict %s reason %q, want %s with %q", res.Verdict, res.Reason, tt.verdict, tt.reason)
			}
		})
	}
}

func TestMaxAnomaliesAndStats(t *testing.T) {
	lines := []string{"0 invoke add 1", "0 ok add 1", "0 invoke add 2", "0 ok add 2", "0 invoke add 3", "0 fail add 3"}
	lines = append(lines, "1 invoke read nil", "1 ok read [7 8 9 3]")
	res := (&Checker{MaxAnomalies: 2}).Check(context.Background(), hist(t, lines...), models.Options{})
	if res.Verdict != models.Invalid || len(res.Anomalies) != 2 {
		t.Fatalf("%s, %d anomalies", res.Verdict, len(res.Anomalies))
	}
	want := map[string]int64{
		"keys": 1, "attempts": 3, "acknowledged": 2, "indeterminate": 0, "failed": 1, "reads": 1,
		"stable": 0, "lost": 2, "lost_after_power_failure": 0, "stale": 0, "never_read": 0, "unconfirmed": 0, "recovered": 0,
		"unexpected": 4, "duplicated": 0, "duplicate_adds": 0, "malformed": 0,
	}
	if !reflect.DeepEqual(res.Stats, want) {
		t.Errorf("stats %v, want %v", res.Stats, want)
	}
	if !strings.HasPrefix(res.Reason, "2 lost, 4 unexpected elements; the first: ") {
		t.Errorf("reason %q", res.Reason)
	}
}

// TestLostAfterPowerReason: the reason counts the losses a power failure
// explains apart from the others.
func TestLostAfterPowerReason(t *testing.T) {
	res := New().Check(context.Background(), hist(t,
		"0 invoke add 1", "0 ok add 1",
		"nuker invoke start-power nodes=n1,n2,n3", "nuker info start-power nodes=n1,n2,n3",
		"0 invoke add 2", "0 ok add 2",
		"1 invoke read nil", "1 ok read []",
	), models.Options{})
	if res.Verdict != models.Invalid {
		t.Fatalf("%s: %s", res.Verdict, res.Reason)
	}
	kinds := []string{res.Anomalies[0].Kind, res.Anomalies[1].Kind}
	slices.Sort(kinds)
	if want := []string{LostAfterPowerKind, LostKind}; !slices.Equal(kinds, want) {
		t.Errorf("kinds %v, want %v", kinds, want)
	}
	if !strings.HasPrefix(res.Reason, "2 lost (1 after a power failure) elements; the first: ") {
		t.Errorf("reason %q", res.Reason)
	}
}

func TestContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := New().Check(ctx, hist(t, "0 invoke add 1", "0 ok add 1", "0 invoke read nil", "0 ok read [1]"), models.Options{})
	if res.Verdict != models.Unknown || !strings.Contains(res.Reason, "context canceled") {
		t.Errorf("%s %q", res.Verdict, res.Reason)
	}
}

func TestModels(t *testing.T) {
	r := Models()
	e, err := r.Lookup(Name)
	if err != nil || e.Summary == "" || e.New().Name() != Name || len(r) != 1 {
		t.Errorf("registry %v: %v", r, err)
	}
}

// simulate runs procs clients against a set kept by replicas: every add
// takes effect at one instant between its invocation and completion (an
// indeterminate add possibly later or never; a failed one never), in one
// global order, and a read returns the set as of a moment up to lag adds
// behind the latest (lag 0: a linearizable set). Ops pick one of keys at
// random, or, with window set, one of keys live at once, a new one every
// window entries (as Jepsen's independent keys rotate). With lie, some
// reads drop an element or add one nobody attempted. With final, the
// history ends with one up-to-date read of each key, as Jepsen's final
// reads.
func simulate(rng *rand.Rand, n, procs, keys, window, lag int, lie, final bool) []history.Op {
	type client struct {
		proc    history.Process
		busy    bool
		applied bool
		f       string
		key     string
		elem    int64
		result  []any
	}
	var ops []history.Op
	emit := func(p history.Process, typ history.Type, f, key string, v any) {
		ops = append(ops, history.Op{Index: int64(len(ops)), Time: int64(len(ops)), Process: p, Type: typ, F: f, Key: key, Value: v})
	}
	applied := map[string][]any{} // per key, in the order adds took effect
	apply := func(key string, e int64) { applied[key] = append(applied[key], e) }
	type late struct {
		key  string
		elem int64
	}
	var lateAdds []late
	cs := make([]client, procs)
	next := history.Process(procs)
	for i := range cs {
		cs[i].proc = history.Process(i)
	}
	var elem int64
	read := func(key string) []any {
		set := applied[key]
		if lag > 0 {
			set = set[:max(0, len(set)-rng.IntN(lag+1))]
		}
		out := append([]any{}, set...)
		if lie && len(out) > 0 && rng.IntN(15) == 0 {
			i := rng.IntN(len(out))
			out = append(out[:i], out[i+1:]...)
		}
		if lie && rng.IntN(40) == 0 {
			out = append(out, int64(-1-rng.IntN(5)))
		}
		rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		return out
	}
	for len(ops) < n {
		if len(lateAdds) > 0 && rng.IntN(10) == 0 {
			apply(lateAdds[0].key, lateAdds[0].elem)
			lateAdds = lateAdds[1:]
		}
		c := &cs[rng.IntN(procs)]
		switch {
		case !c.busy:
			c.busy, c.applied = true, false
			c.key = ""
			switch {
			case window > 0:
				c.key = strconv.Itoa(len(ops)/window + rng.IntN(keys))
			case keys > 1:
				c.key = strconv.Itoa(rng.IntN(keys))
			}
			if rng.IntN(2) == 0 {
				elem++
				c.f, c.elem = "add", elem
				emit(c.proc, history.Invoke, "add", c.key, c.elem)
			} else {
				c.f = "read"
				emit(c.proc, history.Invoke, "read", c.key, nil)
			}
		case !c.applied && rng.IntN(2) == 0:
			c.applied = true
			if c.f == "add" {
				apply(c.key, c.elem)
			} else {
				c.result = read(c.key)
			}
		default:
			c.busy = false
			if c.f == "read" {
				if !c.applied {
					c.result = read(c.key)
				}
				emit(c.proc, history.OK, "read", c.key, c.result)
				continue
			}
			switch r := rng.IntN(10); {
			case r == 0 && !c.applied:
				emit(c.proc, history.Fail, "add", c.key, c.elem)
			case r == 1:
				if !c.applied && rng.IntN(2) == 0 {
					lateAdds = append(lateAdds, late{c.key, c.elem})
				}
				emit(c.proc, history.Info, "add", c.key, c.elem)
				c.proc, next = next, next+1
			default:
				if !c.applied {
					apply(c.key, c.elem)
				}
				emit(c.proc, history.OK, "add", c.key, c.elem)
			}
		}
	}
	if final {
		names := slices.Sorted(maps.Keys(applied))
		for _, key := range names {
			emit(next, history.Invoke, "read", key, nil)
			emit(next, history.OK, "read", key, append([]any{}, applied[key]...))
		}
	}
	return ops
}

// outcomes are the per-element counts the reference computes.
type outcomes struct{ stable, stale, lost, neverRead int64 }

// reference is Jepsen's set-full algorithm as written: every ok read
// updates every element whose add was invoked before the read completed.
// Failed adds are left out, as the checker does. Quadratic.
func reference(ops []history.Op) map[string]outcomes {
	type state struct {
		known, lastPresent, lastAbsent int // positions; -1 for none
	}
	calls, _, _ := history.Pair(ops)
	failed := map[int]bool{}
	readOf := map[int]int{} // completion position -> invocation position
	for _, cl := range calls {
		if cl.Type == history.Fail {
			failed[cl.Inv] = true
		}
		if cl.Done >= 0 {
			readOf[cl.Done] = cl.Inv
		}
	}
	elems := map[string]map[any]*state{}
	for pos, op := range ops {
		key := op.Key
		if elems[key] == nil {
			elems[key] = map[any]*state{}
		}
		switch {
		case op.F == "add" && op.Type == history.Invoke && !failed[pos]:
			elems[key][op.Value] = &state{known: -1, lastPresent: -1, lastAbsent: -1}
		case op.F == "add" && op.Type == history.OK:
			if e := elems[key][op.Value]; e != nil && e.known < 0 {
				e.known = pos
			}
		case op.F == "read" && op.Type == history.OK:
			inv := readOf[pos]
			in := map[any]bool{}
			for _, v := range op.Value.([]any) {
				in[v] = true
			}
			for v, e := range elems[key] {
				if in[v] {
					if e.known < 0 {
						e.known = pos
					}
					e.lastPresent = max(e.lastPresent, inv)
				} else {
					e.lastAbsent = max(e.lastAbsent, inv)
				}
			}
		}
	}
	out := map[string]outcomes{}
	for key, es := range elems {
		var o outcomes
		for _, e := range es {
			stable := e.lastPresent >= 0 && e.lastAbsent < e.lastPresent
			lost := e.known >= 0 && e.lastAbsent >= 0 && e.lastPresent < e.lastAbsent && e.known < e.lastAbsent
			switch {
			case stable:
				o.stable++
				if e.lastAbsent > e.known {
					o.stale++
				}
			case lost:
				o.lost++
			default:
				o.neverRead++
			}
		}
		out[key] = o
	}
	return out
}

func TestRandomAgainstSetFull(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 400 {
		lag, lie := i%4, i%3 == 0
		ops := simulate(rng, 10+rng.IntN(300), 1+rng.IntN(6), 1+rng.IntN(2), (i%7)*10, lag, lie, i%2 == 0)
		res := New().Check(context.Background(), ops, models.Options{})
		var want outcomes
		for _, o := range reference(ops) {
			want.stable += o.stable
			want.stale += o.stale
			want.lost += o.lost
			want.neverRead += o.neverRead
		}
		got := outcomes{res.Stats["stable"], res.Stats["stale"], res.Stats["lost"], res.Stats["never_read"] + res.Stats["unconfirmed"]}
		if got != want {
			t.Fatalf("history %d: got %+v, set-full %+v\n%s", i, got, want, dump(ops))
		}
		if !lie && (lag == 0 || i%2 == 0) && res.Verdict == models.Invalid {
			t.Fatalf("history %d of a linearizable set is invalid: %s\n%s", i, res.Reason, dump(ops))
		}
		if !lie && lag == 0 {
			lin := (&Checker{Linearizable: true}).Check(context.Background(), ops, models.Options{})
			if lin.Verdict == models.Invalid {
				t.Fatalf("history %d of a linearizable set is not linearizable: %s\n%s", i, lin.Reason, dump(ops))
			}
		}
	}
}

func dump(ops []history.Op) string {
	var sb strings.Builder
	for _, op := range ops {
		fmt.Fprintf(&sb, "%d %v %s %s %s %v\n", op.Index, op.Process, op.Type, op.F, op.Key, op.Value)
	}
	return sb.String()
}
