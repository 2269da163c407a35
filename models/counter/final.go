package counter

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// EventualName is the name of the eventually consistent counter's model.
const EventualName = "eventual-counter"

// FinalAnomalyKind is the kind of a final read no outcome of the adds
// explains.
const FinalAnomalyKind = "wrong-final-read"

// maxExactWork bounds the work of the exact check (indeterminate adds
// times the 64-bit words of the range their deltas span); beyond it the
// interval is used.
const maxExactWork = 1 << 26

// Eventual checks an eventually consistent counter (a CRDT such as
// Maelstrom's g-counter and pn-counter), as Maelstrom's checker does:
// only the final reads are judged. Per key (ops without a key are one
// counter), the quiescent point is the later of the last heal (the
// completion of the last nuker stop op) and the end of the last add that
// was not a fail; a node's final read is its last ok read that began after
// it. Each final read must equal the sum of the ok adds plus the deltas of
// some subset of the indeterminate adds (info, or never completed); fail
// adds certainly did not take effect. The subset sums are computed
// exactly (a read inside the interval that no subset reaches is wrong),
// unless there are too many to enumerate, when the interval is used.
//
// Reads during the run are allowed to be stale: they are checked against
// their real-time bounds as Checker does, and those outside are counted
// (Stats "stale_reads") and described in the reason, but do not make the
// history invalid.
type Eventual struct {
	// MaxAnomalies bounds the anomalies listed (DefaultMaxAnomalies when
	// zero, no bound when negative).
	MaxAnomalies int
}

var _ models.Checker = (*Eventual)(nil)

// Name returns "eventual-counter".
func (c *Eventual) Name() string { return EventualName }

// eventualKey is what the check keeps per counter.
type eventualKey struct {
	name     string
	certain  int64   // sum of the ok adds
	possible []int64 // deltas of the indeterminate adds
	quiet    int     // the quiescent point (a position in ops), -1 if none
	nodes    map[string]bool
	final    map[string]int // node -> the call of its final read
}

// Check judges ops, given in history order. It never fails: malformed
// ops are skipped and make an otherwise valid verdict unknown, and a done
// ctx makes it unknown. Anomalies: one per final read outside the
// acceptable values. Stats: keys, adds, acknowledged, indeterminate,
// failed, final_reads, wrong_final_reads, nodes_without_final_read,
// stale_reads (reads during the run outside their real-time bounds),
// malformed.
func (c *Eventual) Check(ctx context.Context, ops []history.Op, _ models.Options) models.Result {
	start := time.Now()
	res := c.check(ctx, ops)
	res.DurationNS = time.Since(start).Nanoseconds()
	return res
}

func (c *Eventual) check(ctx context.Context, ops []history.Op) models.Result {
	res := models.Result{Checker: EventualName, Model: EventualName}
	maxAnom := cmp.Or(c.MaxAnomalies, DefaultMaxAnomalies)
	calls, _, _ := history.Pair(ops)

	heal := -1
	for pos := range ops {
		op := &ops[pos]
		if op.Process == history.Nuker && op.Type != history.Invoke && (op.F == "stop" || strings.HasPrefix(op.F, history.StopPrefix)) {
			heal = pos
		}
	}

	stats := map[string]int64{"keys": 0, "adds": 0, "acknowledged": 0, "indeterminate": 0, "failed": 0,
		"final_reads": 0, "wrong_final_reads": 0, "nodes_without_final_read": 0, "stale_reads": 0, "malformed": 0}
	var firstMalformed string
	malformed := func(op *history.Op, format string, args ...any) {
		stats["malformed"]++
		if firstMalformed == "" {
			firstMalformed = fmt.Sprintf("op %d (process %v): %s", op.Index, op.Process, fmt.Sprintf(format, args...))
		}
	}
	keyIDs := map[string]int{}
	var keys []*eventualKey
	var reads []int // ok reads, by call
	for i, cl := range calls {
		inv := &ops[cl.Inv]
		if inv.F != "add" && inv.F != "read" {
			continue
		}
		name := inv.Key
		if name == "" && cl.Done >= 0 {
			name = ops[cl.Done].Key
		}
		k, ok := keyIDs[name]
		if !ok {
			k = len(keys)
			keyIDs[name] = k
			keys = append(keys, &eventualKey{name: name, quiet: heal, nodes: map[string]bool{}, final: map[string]int{}})
		}
		ks := keys[k]
		ks.nodes[nodeName(ops, cl)] = true
		if inv.F == "read" {
			if cl.Type == history.OK {
				reads = append(reads, i)
			}
			continue
		}
		arg := inv.Value
		if arg == nil && cl.Done >= 0 {
			arg = ops[cl.Done].Value
		}
		d, ok := history.Int(arg)
		if !ok {
			malformed(inv, "add of %s: not an integer", models.Show(arg))
			continue
		}
		stats["adds"]++
		switch cl.Type {
		case history.OK:
			stats["acknowledged"]++
			ks.certain += d
		case history.Fail:
			stats["failed"]++
			continue
		default:
			stats["indeterminate"]++
			ks.possible = append(ks.possible, d)
		}
		end := cl.Done
		if end < 0 {
			end = cl.Inv
		}
		ks.quiet = max(ks.quiet, end)
	}
	stats["keys"] = int64(len(keys))

	// Final reads: per key and node, the last ok read begun after the
	// quiescent point.
	for _, ci := range reads {
		cl := calls[ci]
		inv := &ops[cl.Inv]
		ks := keys[keyIDs[cmp.Or(inv.Key, ops[cl.Done].Key)]]
		if cl.Inv <= ks.quiet {
			continue
		}
		n := nodeName(ops, cl)
		if prev, ok := ks.final[n]; !ok || calls[prev].Done < cl.Done {
			ks.final[n] = ci
		}
	}

	var parts []string
	var missing []string
	for _, ks := range keys {
		if err := ctx.Err(); err != nil {
			res.Verdict = models.Unknown
			res.Reason = fmt.Sprintf("eventual counter check stopped: %v", context.Cause(ctx))
			return res
		}
		ok := acceptable(ks.certain, ks.possible)
		for _, n := range slices.Sorted(maps.Keys(ks.nodes)) {
			ci, has := ks.final[n]
			if !has {
				stats["nodes_without_final_read"]++
				missing = append(missing, n)
				continue
			}
			cl := calls[ci]
			done := &ops[cl.Done]
			v, isInt := int64(0), true
			if done.Value != nil {
				v, isInt = history.Int(done.Value)
			}
			if !isInt {
				malformed(done, "read returned %s: not an integer or nil", models.Show(done.Value))
				continue
			}
			stats["final_reads"]++
			if ok.contains(v) {
				continue
			}
			stats["wrong_final_reads"]++
			if maxAnom < 0 || len(res.Anomalies) < maxAnom {
				res.Anomalies = append(res.Anomalies, finalAnomaly(ops, cl, ks, n, v, ok))
			}
		}
	}

	// Reads during the run (not the final ones): their real-time bounds,
	// for information.
	judged := map[int64]bool{}
	for _, ks := range keys {
		for _, ci := range ks.final {
			judged[ops[calls[ci].Inv].Index] = true
		}
	}
	var firstStale string
	for _, a := range (&Checker{MaxAnomalies: -1}).check(ctx, ops).Anomalies {
		if !judged[a.Ops[0]] {
			stats["stale_reads"]++
			if firstStale == "" {
				firstStale = a.Explanation
			}
		}
	}
	res.Stats = stats

	switch n := stats["wrong_final_reads"]; {
	case n == 1:
		parts = append(parts, res.Anomalies[0].Explanation)
	case n > 1:
		parts = append(parts, fmt.Sprintf("%d final reads are wrong; the first: %s", n, res.Anomalies[0].Explanation))
	}
	if stats["malformed"] > 0 {
		parts = append(parts, fmt.Sprintf("%d malformed ops skipped, the first %s", stats["malformed"], firstMalformed))
	}
	if len(missing) > 0 {
		parts = append(parts, fmt.Sprintf("no final read from %s (not judged)", strings.Join(slices.Compact(slices.Sorted(slices.Values(missing))), ", ")))
	}
	if s := stats["stale_reads"]; s > 0 {
		parts = append(parts, fmt.Sprintf("%d reads during the run lay outside their real-time bounds, which an eventually consistent counter may do (not judged); the first: %s", s, firstStale))
	}
	res.Reason = strings.Join(parts, "; ")
	switch {
	case stats["wrong_final_reads"] > 0:
		res.Verdict = models.Invalid
	case stats["final_reads"] == 0:
		res.Verdict = models.Unknown
		res.Reason = strings.Join(append([]string{"no final read (an ok read begun after the last heal and the last add) to judge"}, parts...), "; ")
	case stats["malformed"] > 0:
		res.Verdict = models.Unknown
	default:
		res.Verdict = models.Valid
	}
	return res
}

// sumSet is the set of values a counter may hold: base plus a subset sum
// of the indeterminate deltas, kept as a bitset over [lo, hi], or, when
// exact is false, the whole interval.
type sumSet struct {
	base, lo, hi int64
	exact        bool
	bits         []uint64 // bit i: base+lo+i is reachable
}

// acceptable returns the values reachable from certain by adding any
// subset of possible.
func acceptable(certain int64, possible []int64) sumSet {
	s := sumSet{base: certain}
	for _, d := range possible {
		if d < 0 {
			s.lo += d
		} else {
			s.hi += d
		}
	}
	span := s.hi - s.lo + 1
	if (span/64+1)*int64(len(possible)) > maxExactWork {
		return s
	}
	s.exact = true
	s.bits = make([]uint64, (span+63)/64)
	set := func(b []uint64, i int64) { b[i/64] |= 1 << (i % 64) }
	set(s.bits, -s.lo)
	next := make([]uint64, len(s.bits))
	for _, d := range possible {
		if d == 0 {
			continue
		}
		copy(next, s.bits)
		orShifted(next, s.bits, d)
		s.bits, next = next, s.bits
	}
	// Bits past span stay clear: a shift never reaches beyond hi.
	return s
}

// orShifted sets in dst every bit of src moved up by d (down when d < 0).
func orShifted(dst, src []uint64, d int64) {
	n := int64(len(src))
	w, b := d/64, d%64
	if d > 0 {
		for i := n - 1; i >= w; i-- {
			v := src[i-w] << b
			if b > 0 && i-w-1 >= 0 {
				v |= src[i-w-1] >> (64 - b)
			}
			dst[i] |= v
		}
		return
	}
	w, b = -w, -b
	for i := int64(0); i+w < n; i++ {
		v := src[i+w] >> b
		if b > 0 && i+w+1 < n {
			v |= src[i+w+1] << (64 - b)
		}
		dst[i] |= v
	}
}

func (s sumSet) contains(v int64) bool {
	if v < s.base+s.lo || v > s.base+s.hi {
		return false
	}
	if !s.exact {
		return true
	}
	i := v - s.base - s.lo
	return s.bits[i/64]&(1<<(i%64)) != 0
}

// size is how many values the set holds.
func (s sumSet) size() int64 {
	if !s.exact {
		return s.hi - s.lo + 1
	}
	var n int64
	for _, w := range s.bits {
		n += int64(bits.OnesCount64(w))
	}
	return n
}

func finalAnomaly(ops []history.Op, cl call, ks *eventualKey, node string, v int64, ok sumSet) models.Anomaly {
	inv, done := &ops[cl.Inv], &ops[cl.Done]
	on := ""
	if ks.name != "" {
		on = " of key " + ks.name
	}
	why := fmt.Sprintf("outside [%d, %d]", ok.base+ok.lo, ok.base+ok.hi)
	if v >= ok.base+ok.lo && v <= ok.base+ok.hi {
		why = fmt.Sprintf("inside [%d, %d] but no subset of the indeterminate adds sums to %d", ok.base+ok.lo, ok.base+ok.hi, v-ok.base)
	}
	return models.Anomaly{
		Kind: FinalAnomalyKind,
		Key:  ks.name,
		Ops:  []int64{inv.Index, done.Index},
		Explanation: fmt.Sprintf("Node %s's final read%s → %d (process %v, ops %d–%d) is %s: the ok adds sum to %d and %d indeterminate adds may add %d to +%d (%d values possible)",
			node, on, v, inv.Process, inv.Index, done.Index, why, ok.base, len(ks.possible), ok.lo, ok.hi, ok.size()),
		Time: inv.Time,
	}
}

// nodeName is the node a call was sent to.
func nodeName(ops []history.Op, cl call) string {
	if n := ops[cl.Inv].Node; n != "" {
		return n
	}
	if cl.Done >= 0 && ops[cl.Done].Node != "" {
		return ops[cl.Done].Node
	}
	return "(no node)"
}
