package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/workloads"
)

// bigRunEnv names the directory TestWriteBigRun fills with a large run
// (see docs/models/linear-and-sequential.md, "faultline check DIR end to
// end"); bigRunEntriesEnv sets its size (default 1,360,000 entries).
const (
	bigRunEnv        = "FAULTLINE_BIGRUN_DIR"
	bigRunEntriesEnv = "FAULTLINE_BIGRUN_ENTRIES"
)

// TestWriteBigRun writes a register run directory like a Redis run's
// (spec.json, history.jsonl written by history.Writer, three nodes, ten
// workers, partitions) into $FAULTLINE_BIGRUN_DIR for measuring
// `faultline check DIR` end to end. Without it, it writes a small one and
// checks that it comes out valid, so the generator stays linearizable.
func TestWriteBigRun(t *testing.T) {
	dir, entries := os.Getenv(bigRunEnv), 20_000
	if dir == "" {
		dir = t.TempDir()
	} else {
		entries = 1_360_000
	}
	if s := os.Getenv(bigRunEntriesEnv); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("%s=%q: %v", bigRunEntriesEnv, s, err)
		}
		entries = n
	}
	keys, err := writeBigRun(dir, entries, 7)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d entries over %d keys", dir, entries, keys)
	if os.Getenv(bigRunEnv) != "" {
		return
	}
	res, err := Check(context.Background(), dir, nil, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != models.Valid {
		t.Fatalf("generated run: %s (%s), want valid", res.Verdict, res.Reason)
	}
}

// writeBigRun writes a run directory of about entries history entries of
// the register workload, driven by the workload's own generator against a
// simulated linearizable store: each op takes effect when it completes.
// 1% of writes and cas end info (half of them took effect) and the worker
// goes on as a new process; reads sent to a partitioned node fail. It
// returns the number of keys.
func writeBigRun(dir string, entries int, seed uint64) (int, error) {
	const workers, nodes = 10, 3
	spec := DefaultSpec()
	spec.Test, spec.Target, spec.Nodes = "redis-bigrun", "redis", nodes
	spec.Nemesis, spec.Seed = []string{"partition"}, int64(seed)
	b, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	if err := os.WriteFile(filepath.Join(dir, SpecFile), append(b, '\n'), 0o644); err != nil {
		return 0, err
	}
	f, err := os.Create(filepath.Join(dir, HistoryFile))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	w, err := history.NewWriter(f)
	if err != nil {
		return 0, err
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	gen := workloads.Register{}.NewGenerator(workloads.Config{Concurrency: workers, Seed: int64(seed)})
	store := map[string]int64{}
	type worker struct {
		proc int
		op   *history.Op // outstanding invocation
		at   int64       // time of its next event
		rng  *rand.Rand
	}
	ws := make([]*worker, workers)
	for i := range ws {
		ws[i] = &worker{proc: i, at: int64(i) * 1000, rng: rand.New(rand.NewPCG(seed, uint64(i)+2))}
	}
	node := func(i int) string { return fmt.Sprintf("n%d", i%nodes+1) }
	var now int64
	appendOp := func(op history.Op) error {
		op.Time = now
		_, err := w.Append(op)
		return err
	}
	if err := appendOp(history.Op{Type: history.Info, Process: history.Nuker, F: "primaries", Value: []string{"n1"}}); err != nil {
		return 0, err
	}
	// A partition of one node every twelfth of the history, healed after
	// half of that (about every 5 s at the full size).
	step := max(entries/12, 1)
	cut := ""
	nextFault := step
	// put writes v as out does: 1% end info, half of those having taken
	// effect.
	put := func(out history.Op, v int64) history.Op {
		if rng.IntN(100) == 0 {
			out.Type, out.Error = history.Info, "i/o timeout"
			if rng.IntN(2) == 0 {
				store[out.Key] = v
			}
			return out
		}
		store[out.Key] = v
		return out
	}
	apply := func(op history.Op) history.Op {
		out := op
		out.Type = history.OK
		cur, ok := store[op.Key]
		switch op.F {
		case "read":
			if op.Node == cut && rng.IntN(2) == 0 {
				out.Type, out.Error = history.Fail, "connection refused"
				return out
			}
			out.Value = nil
			if ok {
				out.Value = cur
			}
			return out
		case "write":
			v, _ := history.Int(op.Value)
			return put(out, v)
		case "cas":
			old, nw, _ := history.IntPair(op.Value)
			if ok && cur == old {
				return put(out, nw)
			}
			out.Type, out.Error, out.Answered = history.Fail, "compare failed: value differs", true
		}
		return out
	}
	for n := 1; n < entries; {
		next := ws[0]
		for _, x := range ws[1:] {
			if x.at < next.at {
				next = x
			}
		}
		now = next.at
		if n >= nextFault {
			// Fault ops take 4 entries and happen between client events.
			f := "start-partition"
			var nodesOf []string
			if cut == "" {
				cut = node(rng.IntN(nodes))
				nodesOf = []string{cut}
			} else {
				f, nodesOf, cut = "stop-partition", []string{cut}, ""
			}
			// As the nuker writes them: what was asked, then the grudge
			// (node -> nodes whose traffic it drops) in effect.
			var asked, done any = map[string]any{"partition": "one"}, grudgeCutting(nodesOf[0], nodes)
			if f == "stop-partition" {
				asked, done = nil, nil
			}
			for _, op := range []history.Op{{Type: history.Invoke, Value: asked}, {Type: history.Info, Value: done}} {
				op.Process, op.F, op.Nodes = history.Nuker, f, nodesOf
				if err := appendOp(op); err != nil {
					return 0, err
				}
				n++
			}
			nextFault += step / 2
			continue
		}
		idx := slicesIndex(ws, next)
		if next.op == nil {
			op := gen.Next(idx, next.rng)
			op.Process, op.Node = history.Process(next.proc), node(idx)
			if err := appendOp(op); err != nil {
				return 0, err
			}
			next.op = &op
			next.at = now + 50_000 + next.rng.Int64N(1_500_000)
		} else {
			out := apply(*next.op)
			if err := appendOp(out); err != nil {
				return 0, err
			}
			gen.Complete(out)
			next.op = nil
			if out.Type == history.Info {
				next.proc += workers
			}
			next.at = now + next.rng.Int64N(20_000)
		}
		n++
	}
	// Let every outstanding op complete, then read every key once, as the
	// run's final reads do.
	for _, x := range ws {
		if x.op != nil {
			now = max(now, x.at)
			out := apply(*x.op)
			if err := appendOp(out); err != nil {
				return 0, err
			}
			if out.Type == history.Info {
				x.proc += workers
			}
		}
	}
	cut = ""
	finals := gen.Final()
	for i, op := range finals {
		x := ws[i%workers]
		op.Process, op.Node = history.Process(x.proc), node(i%workers)
		now += 10_000
		if err := appendOp(op); err != nil {
			return 0, err
		}
		now += 100_000
		if err := appendOp(apply(op)); err != nil {
			return 0, err
		}
	}
	if err := w.End(history.EndRecord{}); err != nil {
		return 0, err
	}
	return len(finals), f.Close()
}

// grudgeCutting is the grudge that cuts node off from the other nodes of
// n1..nN, both ways.
func grudgeCutting(node string, nodes int) map[string][]string {
	g := map[string][]string{}
	for i := 1; i <= nodes; i++ {
		if other := fmt.Sprintf("n%d", i); other != node {
			g[node] = append(g[node], other)
			g[other] = []string{node}
		}
	}
	return g
}

func slicesIndex[T comparable](xs []T, x T) int {
	for i, y := range xs {
		if y == x {
			return i
		}
	}
	return -1
}

// BenchmarkCheckBigRun re-checks the run directory $FAULTLINE_BIGRUN_DIR
// as `faultline check DIR` does (read, check, report), for a profile of
// that path; it skips when the variable is unset.
func BenchmarkCheckBigRun(b *testing.B) {
	dir := os.Getenv(bigRunEnv)
	if dir == "" {
		b.Skipf("set %s to a run directory (TestWriteBigRun writes one)", bigRunEnv)
	}
	for b.Loop() {
		res, err := Check(context.Background(), dir, nil, 5*time.Minute, nil)
		if err != nil {
			b.Fatal(err)
		}
		if res.Verdict != models.Valid {
			b.Fatalf("%s: %s (%s)", dir, res.Verdict, res.Reason)
		}
	}
}
