// Package sets checks histories of a grow-only set with unique adds and
// periodic reads, as Jepsen's set-full checker does (jepsen.checker/set-full,
// Kingsbury, "Jepsen: set-full"): ops F "add" with one element as value, and
// F "read" returning the whole set as a list.
//
// Each element is judged on its own. The add's invocation creates it; it is
// known once its add completed ok or once a read that completed after the
// add was invoked returned it, whichever came first. Reads count for an
// element when they completed after its add was invoked; their order is the
// order of their invocations. Then, as in set-full:
//
//   - stable: the last read that counts contains it. It is stale when some
//     read that began after it was known lacks it; the stale window runs from
//     the time it was known to the invocation of the last read that lacked it;
//   - lost: it was known, and the last read that counts, begun after it was
//     known, lacks it (so every read after the last one that saw it does).
//     When a power failure (fault kind "power") finished dropping data
//     after the element was last seen (its ack, or the completion of the
//     last read that returned it) and began before the first read that
//     lacks it was invoked, the anomaly is lost-after-power-failure instead
//     of lost-element: unsynced data dropped, as distinct from a loss at a
//     failover or a partition;
//   - never-read: known, but no read that counts began after it was known;
//   - unconfirmed: an add of unknown outcome (info, or unfinished) whose
//     element no read returned; set-full counts these as never-read, here
//     they are apart since nothing says they exist.
//
// Beyond set-full, reads are checked for elements that should not be there:
// unexpected elements were never attempted, were added only by failed adds
// (a fail certainly did not take effect), or were read by a read that
// completed before their add was invoked; and a read that returns an element
// twice is a duplicate, which set-full also rejects.
//
// The verdict is invalid when an element is lost, unexpected or duplicated
// (and, with Checker.Linearizable, stale); unknown when no element is
// stable (nothing was added and then read); else valid. Keys are
// independent sets (ops without a key are one set). Each element is
// expected to be added once; a repeated add of the same element is counted
// in Stats and only the first (the first not failed) is used.
//
// Set-full compares every read with every element; this checker does the
// same work in time linear in the size of the history and its reads (plus
// a sort per key), by processing reads in invocation order and keeping per
// element the last run of reads that contained it.
package sets

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// Name is the checker's and the model's name.
const Name = "set"

// Kinds of the anomalies.
const (
	LostKind = "lost-element"
	// LostAfterPowerKind is a lost element with a power failure between
	// its last sighting and the first read that lacks it.
	LostAfterPowerKind = "lost-after-power-failure"
	StaleKind          = "stale-element"
	UnexpectedKind     = "unexpected-element"
	DuplicatedKind     = "duplicated-element"
)

// DefaultMaxAnomalies bounds the anomalies a result lists when
// Checker.MaxAnomalies is zero; Stats count them all.
const DefaultMaxAnomalies = 100

// Checker checks set histories. The zero value is set-full's default.
type Checker struct {
	// Linearizable makes stale elements anomalies (set-full's
	// :linearizable? option): a linearizable set shows an element to every
	// read that begins after its add completed.
	Linearizable bool
	// MaxAnomalies bounds the anomalies listed (DefaultMaxAnomalies when
	// zero, no bound when negative).
	MaxAnomalies int
}

// New returns a set-full checker.
func New() *Checker { return &Checker{} }

// Models returns the set model.
func Models() models.Registry {
	return models.Registry{
		Name: {
			Summary: "grow-only set per key: unique adds, reads of the whole set; no element lost once known, none unexpected or duplicated; stale and never-read elements counted (Jepsen set-full)",
			New:     func() models.Checker { return New() },
		},
	}
}

var _ models.Checker = (*Checker)(nil)

// Name returns "set".
func (c *Checker) Name() string { return Name }

// Check checks ops, given in history order. It never fails: malformed ops
// are skipped and make an otherwise valid verdict unknown, and a done ctx
// makes it unknown with the reason. Stats: keys, attempts (adds),
// acknowledged, indeterminate, failed, reads (ok reads), stable, lost,
// lost_after_power_failure (the lost ones a power failure explains),
// stale, never_read, unconfirmed, recovered (indeterminate adds that reads
// returned), unexpected, duplicated, duplicate_adds, malformed, and
// unmatched_completions when some completion had no invocation.
// Properties: worst_stale_latency and worst_stale_element when an element
// was stale.
func (c *Checker) Check(ctx context.Context, ops []history.Op, opt models.Options) models.Result {
	start := time.Now()
	res := c.check(ctx, ops)
	res.DurationNS = time.Since(start).Nanoseconds()
	return res
}

// keyOps are the adds and ok reads of one key, each in invocation order.
type keyOps struct {
	name  string
	adds  []int32
	reads []int32
}

// elem is what the checker knows of one element of one key. Ranks are
// positions of reads in the key's invocation order.
type elem struct {
	val      any   // int64 or string, for people
	add      int32 // call of its add, -1 when never attempted
	known    int   // position where it became known, -1 before
	knownBy  int32 // the call that made it known
	lastRank int32 // the last read that returned it, to spot duplicates
	maxP     int32 // the last read that counts and contains it, -1 if none
	streak   int32 // the first read of the final run of reads containing it
	badRead  int32 // the first read that returned it unexpectedly, -1 if none
	dupRead  int32 // the first read that returned it twice, -1 if none
}

// stats are the counts a check adds up over keys, and the anomalies.
type stats struct {
	attempts, acked, indet, failed, reads                  int64
	stable, lost, stale, neverRead, unconfirmed, recovered int64
	lostAfterPower                                         int64
	unexpected, duplicated, duplicateAdds, malformed       int64
	worstStale                                             int64
	worstStaleElem                                         string
	firstMalformed                                         string
	anomalies                                              []models.Anomaly
	maxAnomalies                                           int
	windows                                                []history.Window // faults, for lost elements
	unlisted                                               int64            // anomalies beyond maxAnomalies
}

// report lists the anomaly build makes, unless enough are listed already.
func (s *stats) report(build func() models.Anomaly) {
	if s.maxAnomalies >= 0 && len(s.anomalies) >= s.maxAnomalies {
		s.unlisted++
		return
	}
	a := build()
	slices.Sort(a.Ops)
	a.Ops = slices.Compact(a.Ops)
	s.anomalies = append(s.anomalies, a)
}

func (s *stats) malformedOp(op *history.Op, format string, args ...any) {
	s.malformed++
	if s.firstMalformed == "" {
		s.firstMalformed = fmt.Sprintf("op %d (process %v): ", op.Index, op.Process) + fmt.Sprintf(format, args...)
	}
}

func (c *Checker) check(ctx context.Context, ops []history.Op) models.Result {
	res := models.Result{Checker: Name, Model: Name}
	calls, _, unmatched := history.Pair(ops)
	st := &stats{maxAnomalies: cmp.Or(c.MaxAnomalies, DefaultMaxAnomalies), windows: history.FaultWindows(ops)}

	keyIDs := map[string]int{}
	var keys []*keyOps
	for i, cl := range calls {
		inv := &ops[cl.Inv]
		if inv.F != "add" && inv.F != "read" {
			continue
		}
		key := inv.Key
		if key == "" && cl.Done >= 0 {
			key = ops[cl.Done].Key
		}
		k, ok := keyIDs[key]
		if !ok {
			k = len(keys)
			keyIDs[key] = k
			keys = append(keys, &keyOps{name: key})
		}
		switch {
		case inv.F == "add":
			keys[k].adds = append(keys[k].adds, int32(i))
		case cl.Type != history.OK:
			// A read of unknown outcome or a failed read says nothing.
		case !isList(ops[cl.Done].Value):
			st.malformedOp(&ops[cl.Done], "read returned %s: not a list", models.Show(ops[cl.Done].Value))
		default:
			keys[k].reads = append(keys[k].reads, int32(i))
		}
	}
	slices.SortFunc(keys, func(a, b *keyOps) int { return models.CompareKeys(a.name, b.name) })

	var ck keyChecker
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			res.Verdict = models.Unknown
			res.Reason = fmt.Sprintf("set check stopped: %v", context.Cause(ctx))
			return res
		}
		ck.check(ops, calls, k, st, c.Linearizable)
	}

	res.Anomalies = st.anomalies
	res.Stats = map[string]int64{
		"keys":                     int64(len(keys)),
		"attempts":                 st.attempts,
		"acknowledged":             st.acked,
		"indeterminate":            st.indet,
		"failed":                   st.failed,
		"reads":                    st.reads,
		"stable":                   st.stable,
		"lost":                     st.lost,
		"lost_after_power_failure": st.lostAfterPower,
		"stale":                    st.stale,
		"never_read":               st.neverRead,
		"unconfirmed":              st.unconfirmed,
		"recovered":                st.recovered,
		"unexpected":               st.unexpected,
		"duplicated":               st.duplicated,
		"duplicate_adds":           st.duplicateAdds,
		"malformed":                st.malformed,
	}
	if unmatched > 0 {
		res.Stats["unmatched_completions"] = int64(unmatched)
	}
	if st.stale > 0 {
		res.Properties = map[string]string{
			"worst_stale_latency": time.Duration(st.worstStale).String(),
			"worst_stale_element": st.worstStaleElem,
		}
	}

	var parts []string
	bad := st.lost + st.unexpected + st.duplicated
	if c.Linearizable {
		bad += st.stale
	}
	if bad > 0 {
		var counts []string
		for _, x := range []struct {
			n    int64
			what string
		}{{st.lost, "lost"}, {st.unexpected, "unexpected"}, {st.duplicated, "duplicated"}} {
			if x.n > 0 {
				counts = append(counts, fmt.Sprintf("%d %s", x.n, x.what))
			}
		}
		if c.Linearizable && st.stale > 0 {
			counts = append(counts, fmt.Sprintf("%d stale", st.stale))
		}
		if st.lostAfterPower > 0 {
			counts[0] += fmt.Sprintf(" (%d after a power failure)", st.lostAfterPower)
		}
		if bad == 1 {
			parts = append(parts, res.Anomalies[0].Explanation)
		} else {
			parts = append(parts, fmt.Sprintf("%s elements; the first: %s", strings.Join(counts, ", "), res.Anomalies[0].Explanation))
		}
	}
	if st.malformed > 0 {
		parts = append(parts, fmt.Sprintf("%d malformed ops skipped, the first %s", st.malformed, st.firstMalformed))
	}
	switch {
	case bad > 0:
		res.Verdict = models.Invalid
	case st.stable == 0:
		res.Verdict = models.Unknown
		why := "no element was both added and then read"
		if st.reads == 0 {
			why = "the set was never read"
		}
		parts = append([]string{why}, parts...)
	case st.malformed > 0:
		res.Verdict = models.Unknown
	default:
		res.Verdict = models.Valid
	}
	res.Reason = strings.Join(parts, "; ")
	return res
}

// keyChecker checks one key at a time, reusing its buffers.
type keyChecker struct {
	ints    map[int64]int32
	strs    map[string]int32
	elems   []elem
	sufDone []int // sufDone[r] is the latest completion of reads ranked r and after
	invs    []int // invs[r] is the invocation position of read r
}

// intern returns the element id of v, creating it when new.
func (k *keyChecker) intern(v any) int32 {
	if n, ok := history.Int(v); ok {
		if id, ok := k.ints[n]; ok {
			return id
		}
		id := int32(len(k.elems))
		k.ints[n] = id
		k.elems = append(k.elems, newElem(n))
		return id
	}
	s, ok := v.(string)
	if !ok {
		s = fmt.Sprint(v)
	}
	if id, ok := k.strs[s]; ok {
		return id
	}
	id := int32(len(k.elems))
	k.strs[s] = id
	k.elems = append(k.elems, newElem(s))
	return id
}

func newElem(v any) elem {
	return elem{val: v, add: -1, known: -1, knownBy: -1, lastRank: -1, maxP: -1, streak: -1, badRead: -1, dupRead: -1}
}

// scalar reports whether v can be a set element: not nil, a list or a map.
func scalar(v any) bool {
	switch v.(type) {
	case nil, []any, map[string]any:
		return false
	}
	return true
}

// isList reports whether v is a read's result: a list, or nil for none.
func isList(v any) bool {
	switch v.(type) {
	case nil, []any:
		return true
	}
	return false
}

func (k *keyChecker) check(ops []history.Op, calls []call, ko *keyOps, st *stats, linearizable bool) {
	k.ints = make(map[int64]int32)
	k.strs = make(map[string]int32)
	k.elems = k.elems[:0]

	for _, ci := range ko.adds {
		cl := calls[ci]
		arg := ops[cl.Inv].Value
		if arg == nil && cl.Done >= 0 {
			arg = ops[cl.Done].Value
		}
		if !scalar(arg) {
			st.malformedOp(&ops[cl.Inv], "add of %s: not a single element", models.Show(arg))
			continue
		}
		st.attempts++
		switch cl.Type {
		case history.OK:
			st.acked++
		case history.Fail:
			st.failed++
		default:
			st.indet++
		}
		e := &k.elems[k.intern(arg)]
		if e.add >= 0 {
			st.duplicateAdds++
			if calls[e.add].Type != history.Fail || cl.Type == history.Fail {
				continue
			}
		}
		e.add = ci
		if cl.Type == history.OK {
			e.known, e.knownBy = cl.Done, ci
		}
	}

	// Reads in invocation order: rank r is the r-th.
	reads := ko.reads
	k.invs = k.invs[:0]
	for r, ci := range reads {
		cl := calls[ci]
		k.invs = append(k.invs, cl.Inv)
		vals, _ := ops[cl.Done].Value.([]any)
		st.reads++
		rank := int32(r)
		for _, v := range vals {
			e := &k.elems[k.intern(v)]
			if e.lastRank == rank {
				if e.dupRead < 0 {
					e.dupRead = ci
				}
				continue
			}
			e.lastRank = rank
			if e.add < 0 || calls[e.add].Type == history.Fail || cl.Done < calls[e.add].Inv {
				if e.badRead < 0 {
					e.badRead = ci
				}
				continue
			}
			if e.maxP < 0 || e.maxP != rank-1 {
				e.streak = rank
			}
			e.maxP = rank
			if e.known < 0 || cl.Done < e.known {
				e.known, e.knownBy = cl.Done, ci
			}
		}
	}
	k.judge(ops, calls, ko, st, linearizable)
}

// judge decides each element's outcome once every read of the key is in.
func (k *keyChecker) judge(ops []history.Op, calls []call, ko *keyOps, st *stats, linearizable bool) {
	reads := ko.reads
	m := len(reads)
	k.sufDone = slices.Grow(k.sufDone[:0], m)[:m]
	latest := -1
	for r := m - 1; r >= 0; r-- {
		latest = max(latest, calls[reads[r]].Done)
		k.sufDone[r] = latest
	}
	for id := range k.elems {
		e := &k.elems[id]
		if e.dupRead >= 0 {
			st.duplicated++
			st.report(func() models.Anomaly { return duplicated(ops, calls, ko, e) })
		}
		if e.badRead >= 0 {
			st.unexpected++
			st.report(func() models.Anomaly { return unexpected(ops, calls, ko, e) })
		}
		if e.add < 0 || calls[e.add].Type == history.Fail {
			continue
		}
		addCall := calls[e.add]
		if addCall.Type != history.OK && e.maxP >= 0 {
			st.recovered++
		}
		// The last read that counts: the last (by invocation) that
		// completed after the add was invoked.
		lastRel := sort.Search(m, func(r int) bool { return k.sufDone[r] <= addCall.Inv }) - 1
		switch {
		case lastRel >= 0 && int(e.maxP) == lastRel:
			st.stable++
			// The first read that began after the element was known.
			first := sort.SearchInts(k.invs, e.known+1)
			if int(e.streak) > first {
				st.stale++
				absent := calls[reads[e.streak-1]]
				window := ops[absent.Inv].Time - ops[e.known].Time
				if window > st.worstStale || st.worstStaleElem == "" {
					st.worstStale, st.worstStaleElem = window, elemName(e.val, ko.name)
				}
				if linearizable {
					st.report(func() models.Anomaly { return stale(ops, calls, ko, e, window) })
				}
			}
		case e.known >= 0 && lastRel >= 0 && k.invs[lastRel] > e.known:
			st.lost++
			from := k.firstLacking(e)
			w, power := history.PowerFailureBetween(st.windows, k.lastSeen(ops, calls, ko, e), ops[calls[reads[from]].Inv].Time)
			if power {
				st.lostAfterPower++
			}
			st.report(func() models.Anomaly {
				a := k.lost(ops, calls, ko, e, from, lastRel)
				if power {
					a.Kind = LostAfterPowerKind
					a.Explanation += fmt.Sprintf(", and a power failure of %s (op %d, at %v) lies between", strings.Join(w.Nodes, ", "), w.StartOp, time.Duration(w.Start))
				}
				return a
			})
		case e.known >= 0:
			st.neverRead++
		default:
			st.unconfirmed++
		}
	}
}

func elemName(v any, key string) string {
	s := fmt.Sprint(v)
	if key != "" {
		s += " (key " + key + ")"
	}
	return s
}

// opName names a call for people: "process 3's read (ops 12–15)".
func opName(ops []history.Op, cl call) string {
	inv := &ops[cl.Inv]
	what := inv.F
	if inv.F == "add" {
		what = "add of " + fmt.Sprint(inv.Value)
	}
	switch {
	case cl.Done < 0:
		return fmt.Sprintf("process %v's unfinished %s (op %d)", inv.Process, what, inv.Index)
	case cl.Type == history.Info:
		return fmt.Sprintf("process %v's indeterminate %s (ops %d–%d)", inv.Process, what, inv.Index, ops[cl.Done].Index)
	case cl.Type == history.Fail:
		return fmt.Sprintf("process %v's failed %s (ops %d–%d)", inv.Process, what, inv.Index, ops[cl.Done].Index)
	}
	return fmt.Sprintf("process %v's %s (ops %d–%d)", inv.Process, what, inv.Index, ops[cl.Done].Index)
}

// newAnomaly starts an anomaly over the given calls.
func newAnomaly(kind, key string, ops []history.Op, calls []call, ids ...int32) models.Anomaly {
	a := models.Anomaly{Kind: kind, Key: key}
	first := true
	for _, id := range ids {
		cl := calls[id]
		for _, pos := range []int{cl.Inv, cl.Done} {
			if pos < 0 {
				continue
			}
			a.Ops = append(a.Ops, ops[pos].Index)
			if first || ops[pos].Time < a.Time {
				a.Time, first = ops[pos].Time, false
			}
		}
	}
	return a
}

func onKey(key string) string {
	if key == "" {
		return ""
	}
	return " of key " + key
}

// firstLacking is the rank of the first read that lacks lost element e:
// every read ranked after both the last that saw it and the moment it
// became known lacks it.
func (k *keyChecker) firstLacking(e *elem) int {
	return max(int(e.maxP)+1, sort.SearchInts(k.invs, e.known+1))
}

// lastSeen is the time element e was last shown to exist: when it became
// known, or when the last read that returned it completed, if later.
func (k *keyChecker) lastSeen(ops []history.Op, calls []call, ko *keyOps, e *elem) int64 {
	t := ops[e.known].Time
	if e.maxP >= 0 {
		t = max(t, ops[calls[ko.reads[e.maxP]].Done].Time)
	}
	return t
}

func (k *keyChecker) lost(ops []history.Op, calls []call, ko *keyOps, e *elem, from, lastRel int) models.Anomaly {
	reads := ko.reads
	ids := []int32{e.add, e.knownBy}
	var how string
	if e.knownBy == e.add {
		how = fmt.Sprintf("%s completed", opName(ops, calls[e.add]))
	} else {
		how = fmt.Sprintf("%s saw it, added by %s", opName(ops, calls[e.knownBy]), opName(ops, calls[e.add]))
	}
	if e.maxP >= 0 && reads[e.maxP] != e.knownBy {
		ids = append(ids, reads[e.maxP])
		how += fmt.Sprintf(", %s last saw it", opName(ops, calls[reads[e.maxP]]))
	}
	ids = append(ids, reads[from], reads[lastRel])
	n := lastRel - from + 1
	var missing string
	if n == 1 {
		missing = fmt.Sprintf("the last read, %s, lacks it", opName(ops, calls[reads[lastRel]]))
	} else {
		missing = fmt.Sprintf("all %d reads that began after that lack it, from %s to %s", n, opName(ops, calls[reads[from]]), opName(ops, calls[reads[lastRel]]))
	}
	a := newAnomaly(LostKind, ko.name, ops, calls, ids...)
	a.Explanation = fmt.Sprintf("Element %v%s was lost: %s, but %s", e.val, onKey(ko.name), how, missing)
	return a
}

func stale(ops []history.Op, calls []call, ko *keyOps, e *elem, window int64) models.Anomaly {
	absent, present := ko.reads[e.streak-1], ko.reads[e.streak]
	a := newAnomaly(StaleKind, ko.name, ops, calls, e.knownBy, absent, present)
	a.Explanation = fmt.Sprintf("Element %v%s was stale for %v: it was known from op %d (%s), yet %s, which began after, lacks it; every read from %s on has it",
		e.val, onKey(ko.name), time.Duration(window), ops[e.known].Index, opName(ops, calls[e.knownBy]), opName(ops, calls[absent]), opName(ops, calls[present]))
	return a
}

func unexpected(ops []history.Op, calls []call, ko *keyOps, e *elem) models.Anomaly {
	read := calls[e.badRead]
	var why string
	ids := []int32{e.badRead}
	switch {
	case e.add < 0:
		why = "which no add attempted"
	case calls[e.add].Type == history.Fail:
		why = fmt.Sprintf("which only %s tried to add, and a failed add certainly did not take effect", opName(ops, calls[e.add]))
		ids = append(ids, e.add)
	default:
		why = fmt.Sprintf("before %s was invoked", opName(ops, calls[e.add]))
		ids = append(ids, e.add)
	}
	a := newAnomaly(UnexpectedKind, ko.name, ops, calls, ids...)
	a.Explanation = fmt.Sprintf("%s%s returned %v, %s", models.Capitalize(opName(ops, read)), onKey(ko.name), e.val, why)
	return a
}

func duplicated(ops []history.Op, calls []call, ko *keyOps, e *elem) models.Anomaly {
	a := newAnomaly(DuplicatedKind, ko.name, ops, calls, e.dupRead)
	a.Explanation = fmt.Sprintf("%s%s returned %v more than once", models.Capitalize(opName(ops, calls[e.dupRead])), onKey(ko.name), e.val)
	return a
}

// call is one client operation (see history.Pair).
type call = history.Call
