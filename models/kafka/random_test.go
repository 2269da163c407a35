package kafka

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// simLog is one correct log service: offsets in arrival order, committed
// offsets kept as the highest commit. bug, when set, breaks it once:
// "lose" stores a message's offset without the message, "reuse" gives the
// next message of a key the offset of the previous one.
type simLog struct {
	logs      map[string][]int64
	acked     map[string]map[int64]bool // offsets of sends that end ok
	committed map[string]int64
	bug       string
	broke     bool
}

const hole = -1

// send appends msg; ok says the send will be acknowledged, so that the bug
// hits only where the history can show it.
func (l *simLog) send(key string, msg int64, ok bool) int64 {
	off := int64(len(l.logs[key]))
	switch {
	case l.bug == "lose" && !l.broke && ok && off > 2:
		l.broke = true
		l.logs[key] = append(l.logs[key], hole)
	case l.bug == "reuse" && !l.broke && ok && off > 2 && l.acked[key][off-1]:
		l.broke = true
		off--
		l.logs[key][off] = msg
	default:
		l.logs[key] = append(l.logs[key], msg)
	}
	if ok {
		if l.acked[key] == nil {
			l.acked[key] = map[int64]bool{}
		}
		l.acked[key][off] = true
	}
	return off
}

func (l *simLog) poll(offs map[string]int64, limit int) map[string]any {
	out := map[string]any{}
	for k, from := range offs {
		es := []any{}
		for o := from; o < int64(len(l.logs[k])) && len(es) < limit; o++ {
			if m := l.logs[k][o]; m != hole {
				es = append(es, []any{o, m})
			}
		}
		out[k] = es
	}
	return out
}

// simulate runs procs concurrent clients against l for steps steps: each op
// takes effect at one point between its invocation and completion, except
// that an op ending info takes effect at a random later time or never, as
// a timed-out request still in flight would. It ends with a whole final
// poll of every key.
func simulate(rng *rand.Rand, l *simLog, procs, steps int) []history.Op {
	keys := []string{"a", "b"}
	type pending struct {
		inv     history.Op
		applied bool
		result  any
		outcome history.Type
	}
	var ops []history.Op
	record := func(op history.Op) {
		op.Index, op.Time = int64(len(ops)), int64(len(ops))
		ops = append(ops, op)
	}
	var msg int64
	pos := make([]map[string]int64, procs) // consumer positions per worker
	proc := make([]history.Process, procs)
	cur := make([]*pending, procs)
	var late []func() // effects of info ops still in flight
	for w := range procs {
		pos[w] = map[string]int64{}
		proc[w] = history.Process(w)
	}
	apply := func(p *pending) {
		p.applied = true
		switch p.inv.F {
		case SendF:
			m, _ := history.Int(p.inv.Value)
			p.result = []any{l.send(p.inv.Key, m, p.outcome == history.OK), m}
		case PollF:
			offs, _ := Offsets(p.inv.Value)
			p.result = l.poll(offs, 1+rng.IntN(4))
		case CommitF:
			offs, _ := Offsets(p.inv.Value)
			for k, o := range offs {
				if old, ok := l.committed[k]; !ok || o > old {
					l.committed[k] = o
				}
			}
			p.result = p.inv.Value
		case ListCommittedF:
			out := map[string]any{}
			for _, k := range keys {
				if o, ok := l.committed[k]; ok {
					out[k] = o
				}
			}
			p.result = out
		}
	}
	for range steps {
		if len(late) > 0 && rng.IntN(10) == 0 {
			i := rng.IntN(len(late))
			late[i]()
			late = append(late[:i], late[i+1:]...)
		}
		w := rng.IntN(procs)
		p := cur[w]
		switch {
		case p == nil:
			inv := history.Op{Type: history.Invoke, Process: proc[w]}
			switch r := rng.IntN(10); {
			case r < 5:
				msg++
				inv.F, inv.Key, inv.Value = SendF, keys[rng.IntN(len(keys))], msg
			case r < 8:
				offs := map[string]any{}
				for _, k := range keys {
					offs[k] = pos[w][k]
				}
				inv.F, inv.Value = PollF, offs
			case r < 9:
				offs := map[string]any{}
				for _, k := range keys {
					if pos[w][k] > 0 {
						offs[k] = pos[w][k] - 1
					}
				}
				inv.F, inv.Value = CommitF, offs
			default:
				inv.F, inv.Value = ListCommittedF, []any{"a", "b"}
			}
			out := history.OK
			switch r := rng.IntN(20); {
			case r == 0:
				out = history.Fail
			case r < 3:
				out = history.Info
			}
			cur[w] = &pending{inv: inv, outcome: out}
			record(inv)
		case !p.applied && p.outcome == history.OK:
			apply(p)
		default:
			done := p.inv
			done.Type = p.outcome
			switch p.outcome {
			case history.OK:
				done.Value = p.result
				if p.inv.F == PollF {
					msgs, _ := Msgs(p.result)
					for k, es := range msgs {
						for _, e := range es {
							pos[w][k] = max(pos[w][k], e.Offset+1)
						}
					}
				}
			case history.Info:
				if p.inv.F == SendF || p.inv.F == CommitF {
					if rng.IntN(2) == 0 {
						late = append(late, func() { apply(p) })
					}
				}
				proc[w] += history.Process(procs)
			}
			record(done)
			cur[w] = nil
		}
	}
	// Ops left pending never complete: they may or may not have happened.
	for _, f := range late {
		f()
	}
	next := history.Process(procs * (steps + 1))
	for _, k := range keys {
		inv := history.Op{Type: history.Invoke, Process: next, F: FinalPollF, Key: k, Value: map[string]any{k: int64(0)}}
		record(inv)
		done := inv
		done.Type, done.Value = history.OK, l.poll(map[string]int64{k: 0}, 1<<30)
		record(done)
	}
	return ops
}

// TestRandomHistories: histories of a correct log, with overlapping ops,
// failures and in-flight timeouts, are valid; one broken offset makes them
// invalid with the kind it must.
func TestRandomHistories(t *testing.T) {
	for seed := range uint64(300) {
		for _, tc := range []struct {
			bug  string
			want models.Verdict
			kind string
		}{
			{"", models.Valid, ""},
			{"lose", models.Invalid, LostKind},
			{"reuse", models.Invalid, InconsistentKind},
		} {
			rng := rand.New(rand.NewPCG(seed, 7))
			l := &simLog{logs: map[string][]int64{}, acked: map[string]map[int64]bool{}, committed: map[string]int64{}, bug: tc.bug}
			ops := simulate(rng, l, 1+int(seed%5), 400)
			if tc.bug != "" && !l.broke {
				continue
			}
			res := New().Check(context.Background(), ops, models.Options{})
			if res.Verdict != tc.want {
				t.Fatalf("seed %d bug %q: %s (%s), want %s: %s", seed, tc.bug, res.Verdict, res.Reason, tc.want, explain(res))
			}
			if tc.kind != "" && res.Stats[tc.kind] == 0 {
				t.Fatalf("seed %d bug %q: no %s anomaly: %s", seed, tc.bug, tc.kind, explain(res))
			}
		}
	}
}
