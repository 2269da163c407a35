// Package lock checks histories of lock services: clients acquire and
// release named locks (Key; no Key is one lock), and some services hand
// out a fencing token with every grant. Two properties are checked, from
// the definitions alone and only where a violation is certain:
//
// Mutual exclusion: no two clients hold the same lock at once (the safety
// property of a mutex, Dijkstra 1965; for distributed locks and leases see
// Kleppmann, "How to do distributed locking", 2016, and the Chubby paper,
// Burrows 2006). The holder is the op's process (a value naming an owner
// is not consulted). A process holds a lock, certainly, from the completion of
// its ok acquire until the invocation of its next release or acquire of
// that lock: the grant happened before the completion, and no release can
// take effect before it is invoked. Info acquires (and ones cut short) may
// or may not have taken the lock and give no certain hold; a fail acquire
// took nothing. When a process is abandoned after an info op (the worker
// continues as a new process, as in Jepsen), its hold ends at that op's
// completion: no client acts on it any more, and its session or lease may
// lapse. With Checker.Lease set, a hold also ends Lease after its acquire
// was invoked, since a lease-based service may then grant the lock again.
// Two certain holds of one lock by different processes that overlap (one
// acquire completed, then the other completed before the first holder's
// release was even invoked) prove the lock was held twice: whichever was
// granted second was granted while the other was held.
//
// Fencing tokens: tokens increase strictly in the real-time order of ok
// acquires of a lock (Kleppmann 2016): if acquire a completed before
// acquire b was invoked, b's token must exceed a's; and no two grants share
// a token. A token is the integer value of an ok acquire whose invocation
// had no value, or the "token" of a map value (use that when the
// invocation names an owner, as package linear's mutex model reads it);
// acquires returning nil are not fenced.
//
// The "lock" model checks both (fencing only when tokens appear); the
// "fencing" model checks tokens only, for lease locks whose mutual
// exclusion is known to lapse by design and whose safety rests on fencing.
// A linearizable mutex model, which also judges releases and concurrent
// acquires, lives in package linear; this checker is the linear-time one.
package lock

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// Model and checker names.
const (
	// Name checks mutual exclusion and, where tokens appear, fencing.
	Name = "lock"
	// FencingName checks fencing tokens only.
	FencingName = "fencing"
)

// Kinds of the anomalies this checker reports.
const (
	// DoubleHoldKind: two processes certainly held a lock at once.
	DoubleHoldKind = "double-hold"
	// FencingBackwardKind: a later grant carried a smaller token.
	FencingBackwardKind = "fencing-backward"
	// FencingRepeatKind: two grants carried the same token.
	FencingRepeatKind = "fencing-repeat"
)

// DefaultMaxAnomalies bounds the anomalies reported per kind when
// Checker.MaxAnomalies is zero; Stats count them all.
const DefaultMaxAnomalies = 100

// Checker checks a lock history. The zero value is the "lock" model
// without a lease.
type Checker struct {
	// Model is Name (when empty) or FencingName.
	Model string
	// Lease, when positive, is the lease (TTL) the service grants: a hold
	// certainly lasts at most Lease after its acquire was invoked, by the
	// history's clock (Op.Time). Zero judges holds as clients see them,
	// which is what a lock used for mutual exclusion must give.
	Lease time.Duration
	// MaxAnomalies bounds the anomalies reported per kind:
	// DefaultMaxAnomalies when zero, no bound when negative.
	MaxAnomalies int
}

// New returns a checker of mutual exclusion and fencing tokens.
func New() *Checker { return &Checker{Model: Name} }

// NewFencing returns a checker of fencing tokens only.
func NewFencing() *Checker { return &Checker{Model: FencingName} }

// Models lists the models of this package for the catalog.
func Models() models.Registry {
	return models.Registry{
		Name: {
			Summary: "lock per key: no two processes certainly hold it at once (acquire ok to next release invoked); fencing tokens, if any, strictly increase",
			New:     func() models.Checker { return New() },
		},
		FencingName: {
			Summary: "fencing tokens per lock key strictly increase in the real-time order of ok acquires and never repeat (Kleppmann 2016)",
			New:     func() models.Checker { return NewFencing() },
		},
	}
}

var _ models.Checker = (*Checker)(nil)

// Name returns "lock", the checker's name for both models.
func (c *Checker) Name() string { return Name }

func (c *Checker) model() string { return cmp.Or(c.Model, Name) }

func (c *Checker) maxAnomalies() int {
	switch {
	case c.MaxAnomalies == 0:
		return DefaultMaxAnomalies
	case c.MaxAnomalies < 0:
		return math.MaxInt
	}
	return c.MaxAnomalies
}

// never is a position after every op: a hold never released.
const never = math.MaxInt

// hold is one ok acquire and the span in which its process certainly held
// the lock: [done, end). Positions index the ops slice.
type hold struct {
	key      int32
	inv      int // the acquire's invocation
	done     int // its completion
	end      int // the invocation of the next release or acquire, or never
	endWhy   int8
	token    int64
	hasToken bool
}

// Why a hold ends.
const (
	endRelease = iota // the holder invoked a release
	endAcquire        // the holder invoked another acquire
	endInfo           // the holder was abandoned after an info op
	endLease          // the lease ran out
	endNever          // the history ended first
)

// run is the state of one check.
type run struct {
	c     *Checker
	ops   []history.Op
	max   int
	res   models.Result
	kinds map[string]int
	keys  []string
	holds []hold
	bad   []string
	lease bool // Lease applies: set, and times are usable
}

// Check checks ops, given in history order. It never fails: malformed ops
// make the verdict unknown (unless an anomaly makes it invalid), as do an
// exhausted context, a history without an ok acquire and, for the fencing
// model, one without tokens. Stats: keys, acquires (invoked), acquired
// (ok), acquire_failed, acquire_indeterminate, releases, released,
// release_failed, tokens (ok acquires with one), double_holds,
// fencing_backward, fencing_repeat, malformed. Properties: fencing
// (checked, or why not), lease.
func (c *Checker) Check(ctx context.Context, ops []history.Op, opt models.Options) models.Result {
	start := time.Now()
	res := c.check(ctx, ops)
	res.DurationNS = time.Since(start).Nanoseconds()
	return res
}

// checkEvery is how many ops pass between looks at the context.
const checkEvery = 1 << 14

func (c *Checker) check(ctx context.Context, ops []history.Op) models.Result {
	r := &run{
		c: c, ops: ops, max: c.maxAnomalies(),
		res:   models.Result{Checker: Name, Model: c.model(), Stats: map[string]int64{}, Properties: map[string]string{}},
		kinds: map[string]int{},
	}
	if c.model() != Name && c.model() != FencingName {
		r.res.Verdict = models.Unknown
		r.res.Reason = fmt.Sprintf("unknown model %q (known: %s, %s)", c.model(), Name, FencingName)
		return r.res
	}
	for _, k := range []string{"acquires", "acquired", "acquire_failed", "acquire_indeterminate", "releases", "released", "release_failed", "tokens", "malformed"} {
		r.res.Stats[k] = 0
	}
	r.leaseSetting()
	if err := r.scan(ctx); err != nil {
		r.res = models.Result{Checker: Name, Model: c.model(), Verdict: models.Unknown, Reason: err.Error()}
		return r.res
	}
	r.res.Stats["keys"] = int64(len(r.keys))
	if c.model() == Name {
		r.mutex()
		r.res.Stats["double_holds"] = int64(r.kinds[DoubleHoldKind])
	}
	tokens := r.res.Stats["tokens"]
	switch {
	case tokens == 0:
		r.res.Properties["fencing"] = "not checked: no ok acquire returned a token"
	default:
		r.fencing()
		r.res.Properties["fencing"] = fmt.Sprintf("checked: %d of %d ok acquires returned a token", tokens, r.res.Stats["acquired"])
		r.res.Stats["fencing_backward"] = int64(r.kinds[FencingBackwardKind])
		r.res.Stats["fencing_repeat"] = int64(r.kinds[FencingRepeatKind])
	}
	r.verdict()
	return r.res
}

// leaseSetting decides whether the lease applies: it needs times that
// never go backward.
func (r *run) leaseSetting() {
	switch {
	case r.c.Lease <= 0:
		r.res.Properties["lease"] = "none: holds last until released"
	case !slices.IsSortedFunc(r.ops, func(a, b history.Op) int { return cmp.Compare(a.Time, b.Time) }) || len(r.ops) > 1 && r.ops[len(r.ops)-1].Time == 0:
		r.res.Properties["lease"] = fmt.Sprintf("%v ignored: the history's times are missing or go backward", r.c.Lease)
	default:
		r.lease = true
		r.res.Properties["lease"] = r.c.Lease.String()
	}
}

// tokenOf reads the fencing token of an ok acquire from its completion
// value out: a map's "token" (also "fence", "fencing-token"), else, when
// the invocation's value in is nil, out itself as an integer. A non-nil
// invocation value names the owner (package linear's mutex shape) and
// Jepsen repeats it in the completion, so it is no token.
func tokenOf(in, out any) (n int64, has bool, err error) {
	if m, ok := out.(map[string]any); ok {
		for _, k := range []string{"token", "fence", "fencing-token"} {
			if t, ok := m[k]; ok && t != nil {
				return tokenOf(nil, t)
			}
		}
		return 0, false, nil
	}
	if in != nil || out == nil {
		return 0, false, nil
	}
	if s, ok := out.(string); ok {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, false, fmt.Errorf("token %q is not an integer", s)
		}
		return n, true, nil
	}
	if n, ok := history.Int(out); ok {
		return n, true, nil
	}
	rv := reflect.ValueOf(out)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), true, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if u := rv.Uint(); u <= math.MaxInt64 {
			return int64(u), true, nil
		}
	}
	return 0, false, fmt.Errorf("token %s is not an integer", show(out))
}

func show(v any) string {
	if v == nil {
		return "nil"
	}
	var s string
	if n, ok := v.(json.Number); ok {
		s = n.String()
	} else {
		s = fmt.Sprint(v)
	}
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return s
}

// scan pairs invocations with completions and records every certain hold.
func (r *run) scan(ctx context.Context) error {
	stats := r.res.Stats
	pending := map[history.Process]int{}
	open := map[history.Process][]int32{} // holds not yet ended, per process
	keyIDs := map[string]int32{}
	key := func(op history.Op) int32 {
		id, ok := keyIDs[op.Key]
		if !ok {
			id = int32(len(r.keys))
			keyIDs[op.Key] = id
			r.keys = append(r.keys, op.Key)
		}
		return id
	}
	closeHold := func(p history.Process, k int32, at int, why int8) {
		hs := open[p]
		for i, h := range hs {
			if k < 0 || r.holds[h].key == k {
				r.end(h, at, why)
				hs = slices.Delete(hs, i, i+1)
				break
			}
		}
		if len(hs) == 0 {
			delete(open, p)
		} else {
			open[p] = hs
		}
	}
	for pos, op := range r.ops {
		if pos%checkEvery == 0 && ctx.Err() != nil {
			return fmt.Errorf("lock check stopped at op %d of %d: %v", pos, len(r.ops), context.Cause(ctx))
		}
		if !op.IsClient() || !op.Type.Valid() {
			continue
		}
		if op.Type == history.Invoke {
			switch op.F {
			case "acquire":
				stats["acquires"]++
				closeHold(op.Process, key(op), pos, endAcquire)
			case "release":
				stats["releases"]++
				closeHold(op.Process, key(op), pos, endRelease)
			}
			pending[op.Process] = pos
			continue
		}
		inv, ok := pending[op.Process]
		if !ok {
			continue
		}
		delete(pending, op.Process)
		in := r.ops[inv]
		switch in.F {
		case "acquire":
			switch op.Type {
			case history.Fail:
				stats["acquire_failed"]++
			case history.Info:
				stats["acquire_indeterminate"]++
			case history.OK:
				stats["acquired"]++
				h := hold{key: key(in), inv: inv, done: pos, end: never, endWhy: endNever}
				t, has, err := tokenOf(in.Value, op.Value)
				if err != nil {
					r.malformed(op, err.Error())
				}
				if has {
					h.token, h.hasToken = t, true
					stats["tokens"]++
				}
				r.holds = append(r.holds, h)
				open[op.Process] = append(open[op.Process], int32(len(r.holds)-1))
			}
		case "release":
			switch op.Type {
			case history.OK:
				stats["released"]++
			case history.Fail:
				stats["release_failed"]++
			}
		}
		if op.Type == history.Info {
			// The worker abandons this process: it holds nothing more.
			for len(open[op.Process]) > 0 {
				closeHold(op.Process, -1, pos, endInfo)
			}
		}
	}
	stats["acquire_indeterminate"] += int64(countF(r.ops, pending, "acquire"))
	if r.lease {
		for i := range r.holds {
			r.end(int32(i), r.leaseEnd(r.holds[i].inv), endLease)
		}
	}
	return nil
}

// countF counts the pending (never completed) ops of function f.
func countF(ops []history.Op, pending map[history.Process]int, f string) int {
	n := 0
	for _, inv := range pending {
		if ops[inv].F == f {
			n++
		}
	}
	return n
}

// end ends hold h at position at, when that is earlier than its end.
func (r *run) end(h int32, at int, why int8) {
	if at < r.holds[h].end {
		r.holds[h].end, r.holds[h].endWhy = at, why
	}
}

// leaseEnd returns the first position whose time is at least Lease after
// the time of the op at inv.
func (r *run) leaseEnd(inv int) int {
	limit := r.ops[inv].Time + r.c.Lease.Nanoseconds()
	i, _ := slices.BinarySearchFunc(r.ops[inv:], limit, func(op history.Op, t int64) int { return cmp.Compare(op.Time, t) })
	if inv+i >= len(r.ops) {
		return never
	}
	return inv + i
}

func (r *run) malformed(op history.Op, what string) {
	r.res.Stats["malformed"]++
	if len(r.bad) < 3 {
		r.bad = append(r.bad, fmt.Sprintf("op %d: %s", op.Index, what))
	}
}

// mutex finds overlapping certain holds of one lock. Holds are recorded in
// order of completion; the hold reaching furthest among the earlier ones
// overlaps a later one exactly when any earlier one does.
func (r *run) mutex() {
	type reach struct {
		end  int
		hold int32
	}
	furthest := make([]reach, len(r.keys))
	for i := range furthest {
		furthest[i] = reach{end: -1, hold: -1}
	}
	for i := range r.holds {
		h := &r.holds[i]
		f := &furthest[h.key]
		if f.end > h.done {
			r.doubleHold(f.hold, int32(i))
		}
		if h.end > f.end {
			*f = reach{h.end, int32(i)}
		}
	}
}

// fencing finds tokens that do not increase along real time, and repeats.
func (r *run) fencing() {
	// Ok acquires with tokens, per key, by completion (recording order)
	// and by invocation (a counting sort by position).
	var byDone []int32
	at := make([]int32, len(r.ops)) // invocation position -> hold+1
	for i, h := range r.holds {
		if h.hasToken {
			byDone = append(byDone, int32(i))
			at[h.inv] = int32(i) + 1
		}
	}
	type state struct {
		j     int   // next index into the key's byDone
		best  int32 // hold with the greatest token among those before, or -1
		done  []int32
		first map[int64]int32 // token -> first hold with it
	}
	states := make([]state, len(r.keys))
	for i := range states {
		states[i].best = -1
		states[i].first = map[int64]int32{}
	}
	for _, h := range byDone {
		k := r.holds[h].key
		states[k].done = append(states[k].done, h)
	}
	for _, hi := range at {
		if hi == 0 {
			continue
		}
		b := hi - 1
		hb := &r.holds[b]
		s := &states[hb.key]
		for s.j < len(s.done) && r.holds[s.done[s.j]].done < hb.inv {
			a := s.done[s.j]
			if s.best < 0 || r.holds[a].token > r.holds[s.best].token {
				s.best = a
			}
			s.j++
		}
		reported := false
		if s.best >= 0 {
			if ta := r.holds[s.best].token; ta > hb.token {
				r.fenceAnomaly(FencingBackwardKind, s.best, b)
				reported = true
			} else if ta == hb.token {
				r.fenceAnomaly(FencingRepeatKind, s.best, b)
				reported = true
			}
		}
		if prev, ok := s.first[hb.token]; ok {
			if !reported {
				// Concurrent grants with one token: whichever came
				// second did not increase it.
				r.fenceAnomaly(FencingRepeatKind, prev, b)
			}
		} else {
			s.first[hb.token] = b
		}
	}
}

// holdName describes a hold: "process 3's acquire (ops 4–7, token 12)".
func (r *run) holdName(h int32) string {
	x := r.holds[h]
	s := fmt.Sprintf("process %v's acquire (ops %d–%d", r.ops[x.inv].Process, r.ops[x.inv].Index, r.ops[x.done].Index)
	if x.hasToken {
		s += ", token " + strconv.FormatInt(x.token, 10)
	}
	return s + ")"
}

func (r *run) keyLabel(k int32) string {
	if r.keys[k] == "" {
		return "the lock"
	}
	return "lock " + r.keys[k]
}

// until says how long a hold certainly lasted.
func (r *run) until(h int32) string {
	x := r.holds[h]
	switch x.endWhy {
	case endRelease:
		return fmt.Sprintf("until its release was invoked at op %d", r.ops[x.end].Index)
	case endAcquire:
		return fmt.Sprintf("until it invoked another acquire at op %d", r.ops[x.end].Index)
	case endInfo:
		return fmt.Sprintf("until its process was abandoned after op %d", r.ops[x.end].Index)
	case endLease:
		return fmt.Sprintf("within its %v lease, until op %d", r.c.Lease, r.ops[x.end].Index)
	}
	return "and never released it"
}

func (r *run) doubleHold(a, b int32) {
	ha, hb := r.holds[a], r.holds[b]
	expl := fmt.Sprintf("%s was held twice: %s completed, and the process held it %s, yet %s completed at op %d, before that; whichever grant came second was made while the other process held the lock",
		models.Capitalize(r.keyLabel(ha.key)), r.holdName(a), r.until(a), r.holdName(b), r.ops[hb.done].Index)
	positions := []int{ha.inv, ha.done, hb.inv, hb.done}
	if ha.end != never && ha.endWhy != endLease {
		positions = append(positions, ha.end)
	}
	r.anomaly(DoubleHoldKind, ha.key, expl, positions...)
}

func (r *run) fenceAnomaly(kind string, a, b int32) {
	ha, hb := r.holds[a], r.holds[b]
	var expl string
	switch {
	case ha.done < hb.inv && kind == FencingBackwardKind:
		expl = fmt.Sprintf("Fencing token went backward on %s: %s completed before %s began, yet got a greater token (%d > %d)",
			r.keyLabel(ha.key), r.holdName(a), r.holdName(b), ha.token, hb.token)
	case ha.done < hb.inv:
		expl = fmt.Sprintf("Fencing token repeated on %s: %s completed before %s began, and both got token %d",
			r.keyLabel(ha.key), r.holdName(a), r.holdName(b), ha.token)
	default:
		expl = fmt.Sprintf("Fencing token repeated on %s: %s and %s were both granted token %d",
			r.keyLabel(ha.key), r.holdName(a), r.holdName(b), ha.token)
	}
	r.anomaly(kind, ha.key, expl, ha.inv, ha.done, hb.inv, hb.done)
}

func (r *run) anomaly(kind string, key int32, expl string, positions ...int) {
	r.kinds[kind]++
	if r.kinds[kind] > r.max {
		return
	}
	a := models.Anomaly{Kind: kind, Key: r.keys[key], Explanation: expl, Time: math.MaxInt64}
	for _, p := range positions {
		a.Ops = append(a.Ops, r.ops[p].Index)
		a.Time = min(a.Time, r.ops[p].Time)
	}
	slices.Sort(a.Ops)
	a.Ops = slices.Compact(a.Ops)
	r.res.Anomalies = append(r.res.Anomalies, a)
}

// verdict sets the verdict and the reason.
func (r *run) verdict() {
	res := &r.res
	var parts []string
	if len(res.Anomalies) > 0 {
		res.Verdict = models.Invalid
		var counts []string
		for _, k := range []string{DoubleHoldKind, FencingBackwardKind, FencingRepeatKind} {
			if r.kinds[k] > 0 {
				counts = append(counts, fmt.Sprintf("%d %s", r.kinds[k], k))
			}
		}
		slices.SortStableFunc(res.Anomalies, func(a, b models.Anomaly) int { return cmp.Compare(a.Ops[0], b.Ops[0]) })
		parts = append(parts, fmt.Sprintf("%s; first: %s", strings.Join(counts, ", "), res.Anomalies[0].Explanation))
	}
	if len(r.bad) > 0 {
		parts = append(parts, fmt.Sprintf("%d malformed ops: %s", res.Stats["malformed"], strings.Join(r.bad, "; ")))
	}
	switch {
	case res.Verdict == models.Invalid:
	case len(r.bad) > 0:
		res.Verdict = models.Unknown
	case res.Stats["acquired"] == 0:
		res.Verdict = models.Unknown
		parts = append(parts, "no ok acquire to check")
	case r.c.model() == FencingName && res.Stats["tokens"] == 0:
		res.Verdict = models.Unknown
		parts = append(parts, "no ok acquire returned a fencing token")
	default:
		res.Verdict = models.Valid
	}
	res.Reason = strings.Join(parts, "; ")
}
