package session

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// simConfig shapes a simulated history.
type simConfig struct {
	n, procs, keys int
	window         int  // when set, keys rotate: keys are live at once, a new one every window entries
	list           bool // appends and list reads, else adds and set reads
	replicas       int  // replicas a read may come from (1: linearizable)
	sticky         bool // a process always reads from the same replica
	lie            bool // some reads drop, reorder or invent elements
}

// simulate runs clients against a store whose writes take effect, one at a
// time, in one global order per key (each at an instant while in flight; an
// indeterminate write possibly never; a failed one never). A read returns a
// prefix of that order: the one its replica has caught up to; replicas
// catch up at random. Clients continue as a new process after an info.
func simulate(rng *rand.Rand, cfg simConfig) []history.Op {
	type client struct {
		proc    history.Process
		busy    bool
		applied bool
		f, key  string
		elem    int64
		result  []any
	}
	var ops []history.Op
	emit := func(p history.Process, typ history.Type, f, key string, v any) {
		ops = append(ops, history.Op{Index: int64(len(ops)), Time: int64(len(ops)), Process: p, Type: typ, F: f, Key: key, Value: v})
	}
	global := map[string][]any{}
	seen := make([]map[string]int, cfg.replicas) // replica -> key -> prefix length
	for i := range seen {
		seen[i] = map[string]int{}
	}
	write := "add"
	if cfg.list {
		write = "append"
	}
	apply := func(key string, e int64) {
		global[key] = append(global[key], e)
		seen[0][key] = len(global[key]) // replica 0 is the leader
	}
	read := func(c *client) []any {
		r := rng.IntN(cfg.replicas)
		if cfg.sticky {
			r = int(c.proc) % cfg.replicas
		}
		out := slices.Clone(global[c.key][:seen[r][c.key]])
		if cfg.lie && len(out) > 1 {
			switch rng.IntN(12) {
			case 0:
				i := rng.IntN(len(out))
				out = slices.Delete(out, i, i+1)
			case 1:
				i := rng.IntN(len(out) - 1)
				out[i], out[i+1] = out[i+1], out[i]
			case 2:
				out = append(out, int64(-1))
			}
		}
		if !cfg.list {
			rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		}
		return out
	}
	cs := make([]client, cfg.procs)
	for i := range cs {
		cs[i].proc = history.Process(i)
	}
	next := history.Process(cfg.procs)
	type late struct {
		key  string
		elem int64
	}
	var lateWrites []late
	var elem int64
	for len(ops) < cfg.n {
		// Replicas catch up.
		if r := rng.IntN(cfg.replicas); r > 0 {
			for key, l := range global {
				seen[r][key] = min(len(l), seen[r][key]+rng.IntN(3))
			}
		}
		if len(lateWrites) > 0 && rng.IntN(10) == 0 {
			apply(lateWrites[0].key, lateWrites[0].elem)
			lateWrites = lateWrites[1:]
		}
		c := &cs[rng.IntN(cfg.procs)]
		switch {
		case !c.busy:
			c.busy, c.applied = true, false
			c.key = ""
			switch {
			case cfg.window > 0:
				c.key = strconv.Itoa(len(ops)/cfg.window + rng.IntN(cfg.keys))
			case cfg.keys > 1:
				c.key = strconv.Itoa(rng.IntN(cfg.keys))
			}
			if rng.IntN(2) == 0 {
				elem++
				c.f, c.elem = write, elem
				emit(c.proc, history.Invoke, write, c.key, elem)
			} else {
				c.f = "read"
				emit(c.proc, history.Invoke, "read", c.key, nil)
			}
		case !c.applied && rng.IntN(2) == 0:
			c.applied = true
			if c.f == write {
				apply(c.key, c.elem)
			} else {
				c.result = read(c)
			}
		default:
			c.busy = false
			if c.f == "read" {
				if !c.applied {
					c.result = read(c)
				}
				emit(c.proc, history.OK, "read", c.key, c.result)
				continue
			}
			switch r := rng.IntN(10); {
			case r == 0 && !c.applied:
				emit(c.proc, history.Fail, write, c.key, c.elem)
			case r == 1:
				if !c.applied && rng.IntN(2) == 0 {
					lateWrites = append(lateWrites, late{c.key, c.elem})
				}
				emit(c.proc, history.Info, write, c.key, c.elem)
				c.proc, next = next, next+1
			default:
				if !c.applied {
					apply(c.key, c.elem)
				}
				emit(c.proc, history.OK, write, c.key, c.elem)
			}
		}
	}
	return ops
}

// reference counts, per guarantee, the reads that break it, straight from
// the definitions: every pair of ops is compared. Elements are unique, as
// simulate makes them.
func reference(ops []history.Op, session func(history.Op) string, list bool) [4]int64 {
	calls, _ := pairCalls(ops)
	type rd struct {
		c    call
		sess string
		key  string
		vals []any
		pos  map[any]int
	}
	type wr struct {
		c    call
		sess string
		key  string
		elem any
	}
	var reads []rd
	var writes []wr
	for _, c := range calls {
		inv := ops[c.inv]
		switch {
		case inv.F == "read" && c.typ == history.OK:
			vals := ops[c.done].Value.([]any)
			pos := map[any]int{}
			for i, v := range vals {
				if _, ok := pos[v]; !ok {
					pos[v] = i
				}
			}
			reads = append(reads, rd{c, session(inv), inv.Key, vals, pos})
		case (inv.F == "add" || inv.F == "append") && c.typ != history.Fail:
			writes = append(writes, wr{c, session(inv), inv.Key, inv.Value})
		}
	}
	// covers reports whether read b holds what read a returned: a subset,
	// or for lists a prefix.
	covers := func(a, b rd) bool {
		if list {
			return len(a.vals) <= len(b.vals) && slices.Equal(a.vals, b.vals[:len(a.vals)])
		}
		for _, v := range a.vals {
			if _, ok := b.pos[v]; !ok {
				return false
			}
		}
		return true
	}
	var out [4]int64
	for _, r := range reads {
		var bad [4]bool
		for _, w := range writes {
			if w.key == r.key && w.sess == r.sess && w.c.typ == history.OK && w.c.done < r.c.inv {
				if _, ok := r.pos[w.elem]; !ok {
					bad[0] = true
				}
			}
		}
		for _, o := range reads {
			if o.key == r.key && o.sess == r.sess && o.c.done < r.c.inv && !covers(o, r) {
				bad[1] = true
			}
		}
		for _, w2 := range writes {
			p2, ok := r.pos[w2.elem]
			if w2.key != r.key || !ok {
				continue
			}
			for _, w1 := range writes {
				if w1.key == r.key && w1.sess == w2.sess && w1.c.typ == history.OK && w1.c.done < w2.c.inv {
					p1, ok := r.pos[w1.elem]
					if !ok || list && p1 > p2 {
						bad[2] = true
					}
				}
			}
			for _, o := range reads {
				if o.key == r.key && o.sess == w2.sess && o.c.done < w2.c.inv && !covers(o, r) {
					bad[3] = true
				}
			}
		}
		for i, b := range bad {
			if b {
				out[i]++
			}
		}
	}
	return out
}

// pairCalls pairs invocations and completions as the engine does.
func pairCalls(ops []history.Op) ([]call, int) {
	e := &engine{ops: ops}
	e.pair()
	return e.calls, e.unmatched
}

func TestRandomAgainstDefinitions(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	byProcess := func(op history.Op) string { return op.Process.String() }
	// Overlapping sessions: processes grouped in threes.
	grouped := func(op history.Op) string { return strconv.Itoa(int(op.Process) % 3) }
	var totals [4]int64
	for i := range 600 {
		cfg := simConfig{
			n: 10 + rng.IntN(160), procs: 1 + rng.IntN(5), keys: 1 + rng.IntN(2),
			list: i%2 == 0, replicas: 1 + rng.IntN(3), sticky: rng.IntN(2) == 0, lie: i%5 == 0,
		}
		ops := simulate(rng, cfg)
		var session func(history.Op) string
		name := byProcess
		if i%3 == 0 {
			session, name = grouped, grouped
		}
		want := reference(ops, name, cfg.list)
		res := (&Checker{Session: session, MaxAnomalies: -1}).Check(context.Background(), ops, models.Options{})
		var got [4]int64
		for j, g := range order() {
			got[j] = res.Stats[g.stat()]
			totals[j] += got[j]
		}
		if got != want {
			t.Fatalf("history %d (%+v): violations %v, reference %v\n%s\n%s", i, cfg, got, want, res.Reason, dump(ops))
		}
		if cfg.replicas == 1 && !cfg.lie && res.Verdict == models.Invalid {
			t.Fatalf("history %d of a linearizable store: %s\n%s", i, res.Reason, dump(ops))
		}
	}
	for j, g := range order() {
		if totals[j] == 0 {
			t.Errorf("no history broke %s: the test proves little", g.name())
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
