package queue

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// genConfig shapes a generated queue history.
type genConfig struct {
	ops         int     // approximate number of history entries before the drain
	procs       int     // concurrent workers
	keys        int     // keys messages are spread over (0: no keys)
	info        float64 // chance that a completion is reported as info
	infoDequeue bool    // whether dequeues, too, may complete as info
	acks        bool    // consumers acknowledge explicitly
	batch       bool    // dequeues may fetch up to 3 messages
}

// generate runs a correct FIFO queue (each op takes effect atomically at
// one moment between its invocation and completion) under concurrent
// producers and consumers, ends with a drain, and records the history.
// Messages taken but not acknowledged (with acks) go back to the head of
// the queue; without acks, a dequeue of unknown outcome that took effect
// loses what it took, as a timed-out auto-ack dequeue does.
func generate(rng *rand.Rand, g genConfig) []history.Op {
	type worker struct {
		proc    history.Process
		busy    bool
		applied bool
		f       string
		arg     any
		limit   int
		taken   []int64
		toAck   []int64
		key     string
	}
	var q []int64
	keyOf := map[int64]string{}
	ws := make([]worker, g.procs)
	for i := range ws {
		ws[i].proc = history.Process(i)
	}
	next := history.Process(g.procs)
	nextID := int64(0)
	ops := make([]history.Op, 0, g.ops+2*g.procs+2)
	emit := func(w *worker, typ history.Type, v any) {
		ops = append(ops, history.Op{Index: int64(len(ops)), Time: int64(len(ops)) * 1000, Type: typ, Process: w.proc, F: w.f, Key: w.key, Value: v})
	}
	requeue := func(ids []int64) { q = append(slices.Clone(ids), q...) }
	list := func(ids []int64) []any {
		out := make([]any, len(ids))
		for i, id := range ids {
			out[i] = id
		}
		return out
	}
	for len(ops) < g.ops {
		w := &ws[rng.IntN(len(ws))]
		switch {
		case !w.busy:
			w.busy, w.applied, w.taken, w.key = true, false, nil, ""
			switch {
			case len(w.toAck) > 0:
				w.f, w.arg = "ack", list(w.toAck)
			case rng.IntN(2) == 0:
				w.f, w.arg = "enqueue", nextID
				if g.keys > 0 {
					w.key = strconv.Itoa(rng.IntN(g.keys))
					keyOf[nextID] = w.key
				}
				nextID++
			default:
				w.f, w.arg, w.limit = "dequeue", nil, 1
				if g.batch && rng.IntN(2) == 0 {
					w.limit = 1 + rng.IntN(3)
					w.arg = int64(w.limit)
				}
			}
			emit(w, history.Invoke, w.arg)
		case !w.applied && rng.IntN(2) == 0:
			w.applied = true
			switch w.f {
			case "enqueue":
				q = append(q, w.arg.(int64))
			case "dequeue":
				n := min(w.limit, len(q))
				w.taken = slices.Clone(q[:n])
				q = q[n:]
			}
		default:
			w.busy = false
			info := rng.Float64() < g.info && (w.f != "dequeue" || g.infoDequeue)
			switch w.f {
			case "enqueue":
				switch {
				case info:
					emit(w, history.Info, w.arg)
				case w.applied:
					emit(w, history.OK, w.arg)
				default:
					emit(w, history.Fail, w.arg)
				}
			case "dequeue":
				switch {
				case info:
					emit(w, history.Info, w.arg)
					if g.acks {
						requeue(w.taken)
					}
				case !w.applied:
					emit(w, history.Fail, w.arg)
				case w.arg == nil && len(w.taken) == 0:
					emit(w, history.OK, nil)
				case w.arg == nil:
					emit(w, history.OK, w.taken[0])
				default:
					emit(w, history.OK, list(w.taken))
				}
				if !info && g.acks {
					w.toAck = w.taken
				}
			case "ack":
				if !w.applied {
					requeue(w.toAck)
				}
				switch {
				case info:
					emit(w, history.Info, w.arg)
				case w.applied:
					emit(w, history.OK, w.arg)
				default:
					emit(w, history.Fail, w.arg)
				}
				w.toAck = nil
			}
			if info {
				if len(w.toAck) > 0 {
					requeue(w.toAck) // the new process will not ack them
					w.toAck = nil
				}
				w.proc = next
				next++
			}
		}
	}
	// Workers cut short: their unacknowledged messages come back.
	for i := range ws {
		w := &ws[i]
		if w.busy && w.f == "dequeue" && w.applied && g.acks {
			requeue(w.taken)
		}
		if len(w.toAck) > 0 && !(w.busy && w.f == "ack" && w.applied) {
			requeue(w.toAck)
		}
	}
	d := &worker{proc: next, f: "drain"}
	emit(d, history.Invoke, nil)
	emit(d, history.OK, list(q))
	return ops
}

// refOrder decides from the definitions alone, pair by pair, whether a
// history has a certain order violation (see the package comment).
func refOrder(ops []history.Op, order Order, redeliver bool) bool {
	type attempt struct {
		inv, done int
		typ       history.Type
		proc      history.Process
		key       string
	}
	type del struct{ inv, done, pos int }
	enq := map[int64][]attempt{}
	dels := map[int64][]del{}
	lists := map[int][]int64{} // op invocation -> ids listed
	firstIndet := -1
	pending := map[history.Process]int{}
	handle := func(inv, done int) {
		in := ops[inv]
		typ := history.Info
		var out history.Op
		if done >= 0 {
			out, typ = ops[done], ops[done].Type
		}
		switch in.F {
		case "enqueue":
			id, _ := history.Int(in.Value)
			enq[id] = append(enq[id], attempt{inv, done, typ, in.Process, in.Key})
		case "dequeue", "drain":
			if typ == history.Info && (firstIndet < 0 || inv < firstIndet) {
				firstIndet = inv
			}
			if typ == history.Fail || typ == history.Info && (done < 0 || in.F == "dequeue") {
				return
			}
			var ids []int64
			switch v := out.Value.(type) {
			case nil:
			case []any:
				for _, x := range v {
					id, _ := history.Int(x)
					ids = append(ids, id)
				}
			default:
				id, _ := history.Int(v)
				ids = append(ids, id)
			}
			lists[inv] = ids
			for p, id := range ids {
				dels[id] = append(dels[id], del{inv, done, p})
			}
		}
	}
	for pos, op := range ops {
		if op.Type == history.Invoke {
			pending[op.Process] = pos
			continue
		}
		inv := pending[op.Process]
		delete(pending, op.Process)
		handle(inv, pos)
	}
	for _, inv := range pending {
		handle(inv, -1)
	}
	type info struct {
		ok               bool
		enqInv, enqDone  int
		stream           string
		minInv, minDone  int
		unseen           int
		delivered, unexp bool
	}
	msgs := map[int64]info{}
	for id, as := range enq {
		m := info{enqInv: never, enqDone: never, minInv: never, minDone: never, unseen: never}
		for _, a := range as {
			if a.typ == history.Fail {
				continue
			}
			if a.inv < m.enqInv {
				m.enqInv = a.inv
				m.stream = "p" + a.proc.String()
				if order == PerKey {
					m.stream = "k" + a.key
				}
			}
			if a.typ == history.OK {
				m.ok = true
				m.enqDone = min(m.enqDone, a.done)
			}
		}
		for _, d := range dels[id] {
			m.delivered = true
			m.minInv, m.minDone = min(m.minInv, d.inv), min(m.minDone, d.done)
		}
		m.unexp = m.enqInv == never || m.minDone < m.enqInv
		if redeliver && firstIndet >= 0 {
			m.unseen = max(m.enqInv, firstIndet)
		}
		msgs[id] = m
	}
	for a, ma := range msgs {
		if !ma.ok || !ma.delivered || ma.unexp {
			continue
		}
		for b, mb := range msgs {
			if a == b || !mb.delivered || mb.unexp || mb.stream != ma.stream || !(ma.enqDone < mb.enqInv) {
				continue
			}
			if mb.minDone < min(ma.minInv, ma.unseen) {
				return true
			}
			// One op listing b before a, when it is a's only delivery
			// begun by the time it completed.
			for _, da := range dels[a] {
				if da.inv != ma.minInv {
					continue
				}
				others := 0
				for _, x := range dels[a] {
					if x.inv <= da.done {
						others++
					}
				}
				if others != 1 || ma.unseen <= da.done {
					continue
				}
				if slices.Contains(lists[da.inv][:da.pos], b) {
					return true
				}
			}
		}
	}
	return false
}

func hasKind(res models.Result, kind string) bool {
	return slices.ContainsFunc(res.Anomalies, func(a models.Anomaly) bool { return a.Kind == kind })
}

// TestRandomCorrect checks that histories of a correct FIFO queue come out
// valid, with every promise and order.
func TestRandomCorrect(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	for i := range 400 {
		g := genConfig{
			ops: 20 + rng.IntN(200), procs: 1 + rng.IntN(5), keys: rng.IntN(3),
			info: 0.15 * rng.Float64(), infoDequeue: rng.IntN(2) == 0, acks: rng.IntN(2) == 0, batch: rng.IntN(2) == 0,
		}
		ops := generate(rng, g)
		for _, c := range []*Checker{New(), {Order: PerProducer}, {Order: PerKey}, {Promise: AtLeastOnce, Order: PerKey}} {
			c.Acks = g.acks
			res := c.Check(context.Background(), ops, models.Options{})
			if res.Verdict != models.Valid {
				t.Fatalf("history %d (%+v), checker %+v: %s: %s", i, g, c, res.Verdict, res.Reason)
			}
			if res.Properties["delivery"] != string(ExactlyOnce) {
				t.Fatalf("history %d: delivery %q", i, res.Properties["delivery"])
			}
		}
	}
}

// TestRandomFaults injects one fault into correct histories and checks it
// is found.
func TestRandomFaults(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 17))
	for i := range 400 {
		g := genConfig{ops: 20 + rng.IntN(200), procs: 1 + rng.IntN(5), keys: rng.IntN(3), info: 0.1 * rng.Float64(), batch: rng.IntN(2) == 0}
		ops := generate(rng, g)
		okEnq := map[int64]bool{}
		var dels [][2]int // position of an ok dequeue or drain, index in its list
		for p, op := range ops {
			if op.F == "enqueue" && op.Type == history.OK {
				id, _ := history.Int(op.Value)
				okEnq[id] = true
			}
			if op.Type == history.OK && (op.F == "dequeue" || op.F == "drain") {
				switch v := op.Value.(type) {
				case nil:
				case []any:
					for j := range v {
						dels = append(dels, [2]int{p, j})
					}
				default:
					dels = append(dels, [2]int{p, -1})
				}
			}
		}
		if len(dels) == 0 {
			continue
		}
		indet := New().Check(context.Background(), ops, models.Options{}).Stats["indeterminate_dequeues"]
		drain := len(ops) - 1
		d := dels[rng.IntN(len(dels))]
		idAt := func(d [2]int) int64 {
			v := ops[d[0]].Value
			if d[1] >= 0 {
				v = v.([]any)[d[1]]
			}
			id, _ := history.Int(v)
			return id
		}
		id := idAt(d)
		want := []string{LostKind, DuplicatedKind, UnexpectedKind}[rng.IntN(3)]
		switch want {
		case LostKind:
			if !okEnq[id] || indet > 0 {
				continue // dequeues cut short may explain a loss
			}
			if d[1] < 0 {
				ops[d[0]].Value = nil
			} else {
				l := ops[d[0]].Value.([]any)
				ops[d[0]].Value = slices.Delete(slices.Clone(l), d[1], d[1]+1)
			}
		case DuplicatedKind:
			ops[drain].Value = append(ops[drain].Value.([]any), id)
		case UnexpectedKind:
			ops[drain].Value = append(ops[drain].Value.([]any), int64(1)<<40)
		}
		res := New().Check(context.Background(), ops, models.Options{})
		if res.Verdict != models.Invalid || !hasKind(res, want) {
			t.Fatalf("history %d: injected %s of message %d, got %s %v", i, want, id, res.Verdict, res.Anomalies)
		}
	}
}

// TestRandomOrder compares the order check with the pairwise reference on
// correct histories whose deliveries were shuffled a little.
func TestRandomOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 23))
	found := 0
	for i := range 600 {
		g := genConfig{
			ops: 10 + rng.IntN(80), procs: 1 + rng.IntN(4), keys: rng.IntN(3), info: 0.15 * rng.Float64(),
			infoDequeue: rng.IntN(2) == 0, acks: rng.IntN(3) == 0, batch: rng.IntN(2) == 0,
		}
		ops := generate(rng, g)
		// Swap two delivered values between ok dequeues and drains.
		var at []int
		for p, op := range ops {
			if op.Type == history.OK && (op.F == "dequeue" || op.F == "drain") && op.Value != nil {
				at = append(at, p)
			}
		}
		if len(at) > 0 {
			for range 1 + rng.IntN(2) {
				a, b := at[rng.IntN(len(at))], at[rng.IntN(len(at))]
				va, vb := ops[a].Value, ops[b].Value
				la, isListA := va.([]any)
				lb, isListB := vb.([]any)
				switch {
				case isListA && isListB && len(la) > 0 && len(lb) > 0:
					la, lb = slices.Clone(la), slices.Clone(lb)
					if a == b {
						lb = la
					}
					x, y := rng.IntN(len(la)), rng.IntN(len(lb))
					la[x], lb[y] = lb[y], la[x]
					ops[a].Value, ops[b].Value = la, lb
				case !isListA && !isListB:
					ops[a].Value, ops[b].Value = vb, va
				}
			}
		}
		for _, order := range []Order{PerProducer, PerKey} {
			for _, promise := range []Delivery{ExactlyOnce, AtLeastOnce} {
				c := &Checker{Order: order, Promise: promise, Acks: g.acks, MaxAnomalies: -1}
				res := c.Check(context.Background(), ops, models.Options{})
				got := hasKind(res, OrderKind)
				want := refOrder(ops, order, g.acks || promise == AtLeastOnce)
				if got != want {
					t.Fatalf("history %d (%+v), order %s, promise %s: checker says %v, reference %v; anomalies %v", i, g, order, promise, got, want, res.Anomalies)
				}
				if want {
					found++
				}
			}
		}
	}
	if found < 50 {
		t.Errorf("only %d reorderings found: the test does not exercise the check", found)
	}
}

func BenchmarkCheck(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("ops=%d", n), func(b *testing.B) {
			ops := generate(rand.New(rand.NewPCG(1, 2)), genConfig{ops: n, procs: 10, keys: 8, info: 0.01, infoDequeue: false, batch: true})
			c := &Checker{Order: PerKey}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if res := c.Check(context.Background(), ops, models.Options{}); res.Verdict != models.Valid {
					b.Fatalf("%s: %s", res.Verdict, res.Reason)
				}
			}
			b.ReportMetric(float64(len(ops))*float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}
