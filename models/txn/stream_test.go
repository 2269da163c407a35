package txn

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// mangle changes a few ops of a random history so the stream's fallbacks
// run: keys as integers and :keywords, values encoding/json must decode
// (floats, escapes), malformed micro-ops, ops of other functions and of
// the nuker, completions without an invocation.
func mangle(rng *rand.Rand, ops []history.Op) []history.Op {
	var out []history.Op
	for _, op := range ops {
		if mops, ok := op.Value.([]any); ok && rng.IntN(4) == 0 {
			mops = append([]any(nil), mops...)
			i := rng.IntN(len(mops))
			m := append([]any(nil), mops[i].([]any)...)
			switch rng.IntN(8) {
			case 0:
				m[1] = int64(len(m[1].(string)))
			case 1:
				m[1] = ":" + m[1].(string)
			case 2:
				m[1] = m[1].(string) + "\"\u00e9"
			case 3:
				if l, ok := m[2].([]any); ok && len(l) > 0 {
					l = append([]any(nil), l...)
					l[0] = 1.5
					m[2] = l
				}
			case 4:
				m[0] = ":" + m[0].(string)
			case 5:
				m = m[:2]
			case 6:
				m[2] = "x"
			}
			mops[i] = m
			op.Value = mops
		}
		switch rng.IntN(40) {
		case 0:
			out = append(out, history.Op{Type: history.Invoke, Process: history.Nuker, F: "partition", Value: []any{"n1"}})
		case 1:
			out = append(out, history.Op{Type: history.OK, Process: history.Process(rng.IntN(8)), F: F, Value: op.Value})
		case 2:
			out = append(out, history.Op{Type: history.Invoke, Process: history.Process(90 + rng.IntN(2)), F: "read"})
		}
		out = append(out, op)
	}
	return out
}

// TestStreamAgrees: reading a history file op by op into the compact form
// (CheckStream) judges as Check does on the file's validated ops, verdict,
// stats, anomalies and explanations alike.
func TestStreamAgrees(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 300
	}
	rng := rand.New(rand.NewPCG(7, 8))
	dir := t.TempDir()
	path := filepath.Join(dir, "history.jsonl")
	verdicts := map[models.Verdict]int{}
	for i := range n {
		lists := i%2 == 0
		txns := randomTxns(rng, lists)
		assignProcesses(rng, txns)
		ops := toOps(rng, txns, lists)
		if i%3 == 0 {
			ops = mangle(rng, ops)
		}
		if err := history.WriteFile(path, ops); err != nil {
			t.Fatal(err)
		}
		read, err := history.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		clean, rep := history.Validate(read)
		c := &Checker{Consistency: []string{StrictSerializable, Serializable, ReadCommitted}[i%3]}
		want := c.Check(context.Background(), clean, models.Options{})
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		got, si, err := c.CheckStream(context.Background(), f)
		f.Close()
		if err != nil {
			t.Fatalf("history %d: %v", i, err)
		}
		want.DurationNS, got.DurationNS = 0, 0
		if !reflect.DeepEqual(want, got) {
			t.Fatalf("history %d: Check and CheckStream differ:\n%+v\n%+v\n%s", i, want, got, dumpOps(read))
		}
		if !reflect.DeepEqual(rep, si.Report) || si.Ops != int64(len(read)) || si.Read.End == nil {
			t.Fatalf("history %d: stream info %+v, want report %+v and %d ops", i, si, rep, len(read))
		}
		verdicts[got.Verdict]++
	}
	t.Logf("%d histories: %v", n, verdicts)
	if verdicts[models.Valid] < n/10 || verdicts[models.Invalid] < n/10 || verdicts[models.Unknown] < n/100 {
		t.Errorf("too few of some verdict to mean much: %v", verdicts)
	}
}

// TestStreamContextDone: a done context stops the reading with its error.
func TestStreamContextDone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	if err := history.WriteFile(path, appendHistory(20000, 10, 3)); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := (&Checker{}).CheckStream(ctx, f); !errors.Is(err, context.Canceled) {
		t.Fatalf("CheckStream with a done context: %v, want context.Canceled", err)
	}
}
