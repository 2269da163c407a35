// Package counter checks histories of a shared counter: ops F "add" with an
// integer delta, and F "read" returning the counter's integer value.
//
// The definition checked is Jepsen's counter checker (jepsen.checker/counter):
// the counter starts at 0, and every ok read must lie within the bounds that
// real time and the adds' outcomes allow. For a read invoked at position p and
// completed at position q of the history:
//
//   - the adds that certainly took effect before it began are the ok adds
//     completed before p; their sum C is where the counter stood at least;
//   - the adds that may have taken effect by the time it completed are every
//     other add invoked before q whose outcome is ok, info or unknown (the run
//     ended first); a fail add certainly did not take effect.
//
// The read must lie in [C + (the negative deltas of those possible adds),
// C + (their positive deltas)]. With non-negative deltas, the usual case,
// this is [sum of ok adds completed before the read began, sum of ok, info
// and unfinished adds invoked before it completed]. Negative deltas are
// supported with that general interval. It is an interval check, as
// Jepsen's: a read inside the interval that no subset of the possible adds
// sums to is not reported.
//
// Keys are independent counters (ops without a key are one counter). A read
// of nil counts as 0, the value of a counter never written. Reads of unknown
// outcome constrain nothing.
package counter

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// Name is the checker's and the model's name.
const Name = "counter"

// AnomalyKind is the kind of the anomaly a read outside its bounds is.
const AnomalyKind = "out-of-bounds-read"

// DefaultMaxAnomalies bounds the anomalies a result lists when
// Checker.MaxAnomalies is zero; Stats count them all.
const DefaultMaxAnomalies = 100

// Checker checks counter histories. The zero value is ready to use.
type Checker struct {
	// MaxAnomalies bounds the anomalies listed (DefaultMaxAnomalies when
	// zero, no bound when negative).
	MaxAnomalies int
}

// New returns a counter checker.
func New() *Checker { return &Checker{} }

// Models returns the counter model.
func Models() models.Registry {
	return models.Registry{
		Name: {
			Summary: "counter per key: add delta, read; every ok read within [ok adds completed before it began, ok+info+unfinished adds invoked before it completed] (Jepsen counter)",
			New:     func() models.Checker { return New() },
		},
		EventualName: {
			Summary: "eventually consistent counter per key (Maelstrom g-counter, pn-counter): every node's final read after the last heal and the last add is the sum of the ok adds plus some subset of the indeterminate ones; stale reads during the run counted, not judged",
			New:     func() models.Checker { return &Eventual{} },
		},
	}
}

var _ models.Checker = (*Checker)(nil)

// Name returns "counter".
func (c *Checker) Name() string { return Name }

// Check checks ops, given in history order. It never fails: malformed ops
// are skipped and make an otherwise valid verdict unknown, and a done ctx
// makes it unknown with the reason. Each read outside its bounds is one
// anomaly. Stats: keys, reads (ok reads checked), adds, acknowledged,
// indeterminate (info or unfinished adds), failed, out_of_bounds,
// negative_adds, malformed, and unmatched_completions when some completion
// had no invocation.
func (c *Checker) Check(ctx context.Context, ops []history.Op, opt models.Options) models.Result {
	start := time.Now()
	res := c.check(ctx, ops)
	res.DurationNS = time.Since(start).Nanoseconds()
	return res
}

// sums are a key's running totals, split by sign so that the bounds of
// a read need no search: certain* over ok adds completed so far, possible*
// over non-fail adds invoked so far.
type sums struct {
	certainPos, certainNeg   int64
	possiblePos, possibleNeg int64
}

type opKind uint8

const (
	kindOther opKind = iota
	kindAdd
	kindRead
)

func (c *Checker) check(ctx context.Context, ops []history.Op) models.Result {
	res := models.Result{Checker: Name, Model: Name}
	calls, at, unmatched := history.Pair(ops)
	maxAnom := cmp.Or(c.MaxAnomalies, DefaultMaxAnomalies)

	// What each call is: its kind, key and delta.
	kinds := make([]opKind, len(calls))
	keyOf := make([]int32, len(calls))
	delta := make([]int64, len(calls))
	keyIDs := map[string]int32{}
	var keys []string
	var adds, acked, indet, failed, negative, malformed int64
	var firstMalformed string
	for i, cl := range calls {
		inv := &ops[cl.Inv]
		var done *history.Op
		if cl.Done >= 0 {
			done = &ops[cl.Done]
		}
		switch inv.F {
		case "add":
			kinds[i] = kindAdd
		case "read":
			kinds[i] = kindRead
		default:
			continue
		}
		key := inv.Key
		if key == "" && done != nil {
			key = done.Key
		}
		k, ok := keyIDs[key]
		if !ok {
			k = int32(len(keys))
			keyIDs[key] = k
			keys = append(keys, key)
		}
		keyOf[i] = k
		if kinds[i] != kindAdd {
			continue
		}
		arg := inv.Value
		if arg == nil && done != nil {
			arg = done.Value
		}
		d, ok := history.Int(arg)
		if !ok {
			kinds[i] = kindOther
			malformed++
			if firstMalformed == "" {
				firstMalformed = fmt.Sprintf("op %d (process %v): add of %s: not an integer", inv.Index, inv.Process, models.Show(arg))
			}
			continue
		}
		delta[i] = d
		adds++
		if d < 0 {
			negative++
		}
		switch cl.Type {
		case history.OK:
			acked++
		case history.Fail:
			failed++
		default:
			indet++
		}
	}

	// One pass in history order. A read's lower bound needs the certain
	// sums at its invocation, its upper bound the possible sums at its
	// completion.
	state := make([]sums, len(keys))
	type snapshot struct{ pos, neg int64 }
	snap := map[int32]snapshot{} // pending reads' certain sums at invocation
	var reads, outOfBounds int64
	for pos, ci := range at {
		if pos&0xffff == 0 && ctx.Err() != nil {
			res.Verdict = models.Unknown
			res.Reason = fmt.Sprintf("counter check stopped at op %d of %d: %v", pos, len(ops), context.Cause(ctx))
			return res
		}
		if ci < 0 || kinds[ci] == kindOther {
			continue
		}
		cl := calls[ci]
		s := &state[keyOf[ci]]
		isInv := pos == cl.Inv
		if kinds[ci] == kindAdd {
			d := delta[ci]
			switch {
			case isInv && cl.Type != history.Fail:
				if d > 0 {
					s.possiblePos += d
				} else {
					s.possibleNeg += d
				}
			case !isInv && cl.Type == history.OK:
				if d > 0 {
					s.certainPos += d
				} else {
					s.certainNeg += d
				}
			}
			continue
		}
		if cl.Type != history.OK {
			continue // a read of unknown outcome or a failed read says nothing
		}
		if isInv {
			snap[ci] = snapshot{s.certainPos, s.certainNeg}
			continue
		}
		at := snap[ci]
		delete(snap, ci)
		done := &ops[cl.Done]
		v, ok := int64(0), true
		if done.Value != nil {
			v, ok = history.Int(done.Value)
		}
		if !ok {
			malformed++
			if firstMalformed == "" {
				firstMalformed = fmt.Sprintf("op %d (process %v): read returned %s: not an integer or nil", done.Index, done.Process, models.Show(done.Value))
			}
			continue
		}
		reads++
		// The possible sums include the certain adds (an ok add completed
		// before p was invoked before q), so each bound replaces one half.
		lo := at.pos + s.possibleNeg
		hi := at.neg + s.possiblePos
		if v >= lo && v <= hi {
			continue
		}
		outOfBounds++
		if maxAnom < 0 || len(res.Anomalies) < maxAnom {
			res.Anomalies = append(res.Anomalies, anomaly(ops, cl, keys[keyOf[ci]], v, lo, hi, at.pos+at.neg))
		}
	}

	res.Stats = map[string]int64{
		"keys":          int64(len(keys)),
		"reads":         reads,
		"adds":          adds,
		"acknowledged":  acked,
		"indeterminate": indet,
		"failed":        failed,
		"out_of_bounds": outOfBounds,
		"negative_adds": negative,
		"malformed":     malformed,
	}
	if unmatched > 0 {
		res.Stats["unmatched_completions"] = int64(unmatched)
	}
	var parts []string
	switch {
	case outOfBounds == 1:
		parts = append(parts, res.Anomalies[0].Explanation)
	case outOfBounds > 1:
		parts = append(parts, fmt.Sprintf("%d reads lie outside their bounds; the first: %s", outOfBounds, res.Anomalies[0].Explanation))
	}
	if malformed > 0 {
		parts = append(parts, fmt.Sprintf("%d malformed ops skipped, the first %s", malformed, firstMalformed))
	}
	res.Reason = strings.Join(parts, "; ")
	switch {
	case outOfBounds > 0:
		res.Verdict = models.Invalid
	case reads == 0:
		res.Verdict = models.Unknown
		res.Reason = strings.Join(append([]string{"no ok reads of a counter to check"}, parts...), "; ")
	case malformed > 0:
		res.Verdict = models.Unknown
	default:
		res.Verdict = models.Valid
	}
	return res
}

// anomaly explains a read outside [lo, hi]; certain is the sum of the ok
// adds completed before it began.
func anomaly(ops []history.Op, cl call, key string, v, lo, hi, certain int64) models.Anomaly {
	inv, done := &ops[cl.Inv], &ops[cl.Done]
	on := ""
	if key != "" {
		on = " of key " + key
	}
	var could string
	switch {
	case lo == certain && hi == certain:
		could = "no other add may have taken effect by its completion"
	case lo == certain:
		could = fmt.Sprintf("the adds that may also have taken effect by its completion (invoked before it completed: ok, indeterminate or unfinished) add at most %d", hi-certain)
	default:
		could = fmt.Sprintf("the adds that may also have taken effect by its completion (invoked before it completed: ok, indeterminate or unfinished) change that by %d to +%d", lo-certain, hi-certain)
	}
	return models.Anomaly{
		Kind: AnomalyKind,
		Key:  key,
		Ops:  []int64{inv.Index, done.Index},
		Explanation: fmt.Sprintf("Process %v's read%s → %d (ops %d–%d) lies outside [%d, %d]: the ok adds completed before the read began sum to %d, and %s",
			inv.Process, on, v, inv.Index, done.Index, lo, hi, certain, could),
		Time: inv.Time,
	}
}

// call is one client operation (see history.Pair).
type call = history.Call
