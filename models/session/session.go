// Package session checks the session guarantees of Terry, Demers, Petersen,
// Spreitzer, Theimer and Welch, "Session Guarantees for Weakly Consistent
// Replicated Data" (PDIS 1994): read-your-writes, monotonic reads, monotonic
// writes and writes-follow-reads, each per session.
//
// A session is a client's sequence of ops. By default it is the op's
// process; faultline workers (as Jepsen's) continue as a new process after
// an info op, whose outcome is unknown, so a session ends there. A custom
// session function (Checker.Session) may group ops otherwise, e.g. by a
// client id; ops of one session may then overlap, and "before" within a
// session means real-time order: one op completed before the other began.
//
// Terry et al. state the guarantees over a version order of writes. Values
// here carry none, so they are checked on grow-only data, where the order
// is implied by what reads return:
//
//   - sets: F "add" with one element as value; F "read" returning the set
//     as a list;
//   - lists: F "append" with one element as value, to Key; F "read" of Key
//     returning the list.
//
// A key holds one set or one list (ops without a key are one object); the
// data of different keys is independent, and every guarantee is checked per
// key. Written elements should be unique per key; when one is written twice,
// the first write that did not fail is the one that counts. With
// "write" meaning an add or append, the guarantees checked are:
//
//   - read-your-writes: a read must contain every element the session's ok
//     writes put there, among those completed before the read began;
//   - monotonic reads: a read must contain everything an earlier read of the
//     session (completed before it began) returned; for lists, the earlier
//     list must be a prefix of the later;
//   - monotonic writes: the session's writes appear in every read, of any
//     session, in session order: a read that shows a write of the session
//     must also show each ok write the session completed before that write
//     began, and, for lists, in that order;
//   - writes-follow-reads: a write made after the session read something is
//     ordered after what was read: a read, of any session, that shows the
//     write must also contain everything the session's reads completed
//     before the write began had returned; for lists, each of those reads
//     must be a prefix of it.
//
// Fail ops certainly did not take effect and impose nothing; info and
// unfinished writes impose nothing either, except that when a read shows
// one, it happened. Reads of unknown outcome are ignored.
//
// Keys are checked one after another, each in one pass over its ops. A
// read costs time linear in its length plus the number of elements known
// on its key (written ok or read before) that it lacks, each of which is
// tested against the guarantees: in a healthy history those are the writes
// still in flight, in a broken one also the lost elements. List prefixes
// are compared in constant time on a trie of the lists read. Memory, beyond
// the history's own, is a few words per op and per element, and for sets
// one word per element per session that read the key.
package session

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// Model names: one per guarantee, and Session for all four at once. Each
// guarantee's name is also the kind of its anomalies.
const (
	ReadYourWrites    = "read-your-writes"
	MonotonicReads    = "monotonic-reads"
	MonotonicWrites   = "monotonic-writes"
	WritesFollowReads = "writes-follow-reads"
	Session           = "session"
)

// DefaultMaxAnomalies bounds the anomalies a result lists per guarantee
// when Checker.MaxAnomalies is zero; Stats count them all.
const DefaultMaxAnomalies = 100

// guarantee is a bit set of the four guarantees.
type guarantee uint8

const (
	ryw guarantee = 1 << iota
	mr
	mw
	wfr
	all = ryw | mr | mw | wfr
)

// order lists the guarantees in the order results name them.
func order() [4]guarantee { return [4]guarantee{ryw, mr, mw, wfr} }

// index is the guarantee's position in order().
func (g guarantee) index() int {
	switch g {
	case ryw:
		return 0
	case mr:
		return 1
	case mw:
		return 2
	}
	return 3
}

// name is the guarantee's model name and anomaly kind.
func (g guarantee) name() string {
	return [...]string{ReadYourWrites, MonotonicReads, MonotonicWrites, WritesFollowReads}[g.index()]
}

// stat is the name of the stat counting reads that break it.
func (g guarantee) stat() string {
	return strings.ReplaceAll(g.name(), "-", "_") + "_violations"
}

func modelGuarantees(model string) (guarantee, bool) {
	switch model {
	case ReadYourWrites:
		return ryw, true
	case MonotonicReads:
		return mr, true
	case MonotonicWrites:
		return mw, true
	case WritesFollowReads:
		return wfr, true
	case Session:
		return all, true
	}
	return 0, false
}

// Checker checks session guarantees. The zero value checks all four, with
// sessions by process.
type Checker struct {
	// Model is ReadYourWrites, MonotonicReads, MonotonicWrites,
	// WritesFollowReads, or Session (when empty) for all four.
	Model string
	// Session, when set, names the session of a client op (its invocation
	// is passed); ops of one session may overlap in time. When nil, the
	// session is the op's process.
	Session func(history.Op) string
	// MaxAnomalies bounds the anomalies listed per guarantee
	// (DefaultMaxAnomalies when zero, no bound when negative).
	MaxAnomalies int
}

// NewReadYourWrites returns a checker of read-your-writes.
func NewReadYourWrites() *Checker { return &Checker{Model: ReadYourWrites} }

// NewMonotonicReads returns a checker of monotonic reads.
func NewMonotonicReads() *Checker { return &Checker{Model: MonotonicReads} }

// NewMonotonicWrites returns a checker of monotonic writes.
func NewMonotonicWrites() *Checker { return &Checker{Model: MonotonicWrites} }

// NewWritesFollowReads returns a checker of writes-follow-reads.
func NewWritesFollowReads() *Checker { return &Checker{Model: WritesFollowReads} }

// NewSession returns a checker of all four guarantees.
func NewSession() *Checker { return &Checker{Model: Session} }

// Models returns the five session models.
func Models() models.Registry {
	const on = " per session (process), on grow-only sets (add, read) and lists (append, read per key) (Terry et al. 1994)"
	return models.Registry{
		ReadYourWrites: {
			Summary: "read-your-writes: a read contains the session's ok writes completed before it began" + on,
			New:     func() models.Checker { return NewReadYourWrites() },
		},
		MonotonicReads: {
			Summary: "monotonic reads: a read contains what the session's earlier reads returned (lists: extends them)" + on,
			New:     func() models.Checker { return NewMonotonicReads() },
		},
		MonotonicWrites: {
			Summary: "monotonic writes: a read showing a session's write shows the session's earlier ok writes (lists: in order)" + on,
			New:     func() models.Checker { return NewMonotonicWrites() },
		},
		WritesFollowReads: {
			Summary: "writes-follow-reads: a read showing a session's write contains what the session had read before it (lists: extends it)" + on,
			New:     func() models.Checker { return NewWritesFollowReads() },
		},
		Session: {
			Summary: "all four session guarantees: read-your-writes, monotonic reads, monotonic writes, writes-follow-reads" + on,
			New:     func() models.Checker { return NewSession() },
		},
	}
}

var _ models.Checker = (*Checker)(nil)

func (c *Checker) model() string { return cmp.Or(c.Model, Session) }

// Name returns the model's name: one guarantee's or "session".
func (c *Checker) Name() string { return c.model() }

// Check checks ops, given in history order. It never fails: malformed ops
// are skipped and make an otherwise valid verdict unknown, and a done ctx
// makes it unknown with the reason. Each read that breaks a guarantee is
// one anomaly of that guarantee's kind, naming the session, the ops and,
// when the read breaks it for several elements, how many. Stats: sessions,
// keys, reads (ok reads checked), writes, acknowledged, indeterminate,
// failed, duplicate_writes, malformed, unmatched_completions when some
// completion had no invocation, and <guarantee>_violations (reads) for each
// guarantee checked. Properties: "violates", the guarantees broken.
func (c *Checker) Check(ctx context.Context, ops []history.Op, opt models.Options) models.Result {
	start := time.Now()
	res := c.check(ctx, ops)
	res.DurationNS = time.Since(start).Nanoseconds()
	return res
}

func (c *Checker) check(ctx context.Context, ops []history.Op) models.Result {
	model := c.model()
	res := models.Result{Checker: model, Model: model}
	g, ok := modelGuarantees(model)
	if !ok {
		res.Verdict = models.Unknown
		res.Reason = fmt.Sprintf("unknown model %q (known: %s, %s, %s, %s, %s)", model, ReadYourWrites, MonotonicReads, MonotonicWrites, WritesFollowReads, Session)
		return res
	}
	e := newEngine(ops, g, c.Session, cmp.Or(c.MaxAnomalies, DefaultMaxAnomalies))
	if err := e.run(ctx); err != nil {
		res.Verdict = models.Unknown
		res.Reason = fmt.Sprintf("%s check stopped: %v", model, err)
		return res
	}

	res.Stats = map[string]int64{
		"sessions":         int64(len(e.sessNames)),
		"keys":             int64(len(e.keys)),
		"reads":            e.reads,
		"writes":           e.writes,
		"acknowledged":     e.acked,
		"indeterminate":    e.indet,
		"failed":           e.failed,
		"duplicate_writes": e.duplicateWrites,
		"malformed":        e.malformed,
	}
	if e.unmatched > 0 {
		res.Stats["unmatched_completions"] = int64(e.unmatched)
	}
	var violated, counts []string
	var total int64
	for _, x := range order() {
		if g&x == 0 {
			continue
		}
		n := e.violations[x.index()]
		res.Stats[x.stat()] = n
		if n > 0 {
			violated = append(violated, x.name())
			counts = append(counts, fmt.Sprintf("%d %s", n, x.name()))
			total += n
		}
	}
	res.Anomalies = e.anomalies
	var parts []string
	if total > 0 {
		res.Properties = map[string]string{"violates": strings.Join(violated, ",")}
		if total == 1 {
			parts = append(parts, res.Anomalies[0].Explanation)
		} else {
			parts = append(parts, fmt.Sprintf("reads violating %s; the first: %s", strings.Join(counts, ", "), res.Anomalies[0].Explanation))
		}
	}
	if e.malformed > 0 {
		parts = append(parts, fmt.Sprintf("%d malformed ops skipped, the first %s", e.malformed, e.firstMalformed))
	}
	if len(e.skipped) > 0 {
		parts = append(parts, "not checked: "+strings.Join(e.skipped, "; "))
	}
	switch {
	case total > 0:
		res.Verdict = models.Invalid
	case e.reads == 0 || e.writes == 0:
		res.Verdict = models.Unknown
		why := "no ok reads to check"
		if e.reads > 0 {
			why = "no adds or appends, so no guarantee can be broken"
		}
		parts = append([]string{why}, parts...)
	case e.malformed > 0 || len(e.skipped) > 0:
		res.Verdict = models.Unknown
	default:
		res.Verdict = models.Valid
	}
	res.Reason = strings.Join(parts, "; ")
	return res
}
