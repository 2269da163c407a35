// Package kafka checks histories of Kafka-like logs: append-only logs named
// by keys, in which the system gives each sent message an offset, consumers
// poll from the offset they have reached, and committed offsets are kept
// per key. It names the anomalies of Jepsen's kafka checker
// (jepsen.tests.kafka, which Maelstrom's kafka workload uses):
//
//   - lost-write: a send acknowledged at offset o whose message no poll
//     ever returned, although a poll of that key read past o (it began at
//     or before o and returned a later offset), or an ok final poll, begun
//     after the send completed, read the whole log. An acknowledged message
//     seen by no poll without such evidence is only unseen (counted).
//   - duplicate: one message at two offsets of a key (sends' acknowledged
//     offsets and polls together).
//   - inconsistent-offsets: two different messages at one offset of a key,
//     as acknowledged by sends or returned by polls.
//   - nonmonotonic-poll: a poll whose offsets do not increase, or that
//     returned an offset before the one it asked for (a consumer going
//     back), or, when a poll does not say where it asked from, before the
//     end of the same consumer's (process's) previous poll of that key.
//   - poll-skip: a poll that passed over an offset known to exist (from an
//     acknowledged send or any poll): between the offset it asked for (or
//     its consumer's position) and its first message, or between two of its
//     messages.
//   - nonmonotonic-send: a process's send got an offset no greater than its
//     earlier acknowledged send to the same key.
//   - unexpected: a poll returned a message never sent to that key (or only
//     by sends that failed).
//   - commit-lost: list-committed-offsets returned, for a key, less than an
//     offset whose commit completed before the list began (or nothing),
//     and no commit of exactly the returned offset may have come after
//     that one (so a system whose later commits overwrite earlier ones is
//     not blamed for honouring a later, lower commit).
//
// Ops are those of package workloads' kafka workload (see SendF and the
// other F constants). Like Jepsen's checker it assumes a log assigns offsets
// in order and shows them in order: an offset exists once any later one
// does, which is what makes a skip or a lost write certain.
package kafka

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// Name is the checker's and the model's name.
const Name = "kafka"

// Kinds of the anomalies this checker reports.
const (
	LostKind             = "lost-write"
	DuplicateKind        = "duplicate"
	InconsistentKind     = "inconsistent-offsets"
	NonmonotonicPollKind = "nonmonotonic-poll"
	SkipKind             = "poll-skip"
	NonmonotonicSendKind = "nonmonotonic-send"
	UnexpectedKind       = "unexpected"
	CommitLostKind       = "commit-lost"
)

// DefaultMaxAnomalies bounds the anomalies reported per kind when
// Checker.MaxAnomalies is zero; Stats count them all.
const DefaultMaxAnomalies = 50

// Checker checks a log history.
type Checker struct {
	// MaxAnomalies bounds the anomalies reported per kind:
	// DefaultMaxAnomalies when zero, no bound when negative.
	MaxAnomalies int
}

// New returns a checker.
func New() *Checker { return &Checker{} }

// Models lists the model of this package for the catalog.
func Models() models.Registry {
	return models.Registry{
		Name: {
			Summary: "Kafka-like logs (Jepsen's kafka checker): lost writes, duplicates, inconsistent offsets, nonmonotonic and skipping polls and sends, committed offsets not honoured",
			New:     func() models.Checker { return New() },
		},
	}
}

var _ models.Checker = (*Checker)(nil)

// Name returns "kafka".
func (c *Checker) Name() string { return Name }

func (c *Checker) maxAnomalies() int {
	switch {
	case c.MaxAnomalies == 0:
		return DefaultMaxAnomalies
	case c.MaxAnomalies < 0:
		return math.MaxInt
	}
	return c.MaxAnomalies
}

// sighting is the first op that showed a message at an offset.
type sighting struct {
	op   int // position in the history
	send bool
}

type pollRec struct {
	inv, done int
	final     bool
	whole     bool // an ok final poll: it read its log to the end
	asked     map[string]int64
	msgs      map[string][]Entry
}

type sendRec struct {
	inv, done int
	key       string
	e         Entry
}

type commitRec struct {
	inv, done int // done -1: never completed
	ok        bool
	offsets   map[string]int64
}

type listRec struct {
	inv, done int
	keys      []string
	offsets   map[string]int64
}

type run struct {
	ops   []history.Op
	max   int
	found []models.Anomaly
	count map[string]int64

	at     map[string]map[int64]map[string]sighting // key -> offset -> msg
	where  map[string]map[string]map[int64]sighting // key -> msg -> offset
	polled map[string]map[string]bool               // key -> msg seen by a poll
	sent   map[string]map[string]bool               // key -> msg of a send that did not fail
	known  map[string][]int64                       // key -> offsets known to exist, sorted

	sends   []sendRec
	polls   []pollRec
	commits []commitRec
	lists   []listRec
}

func (r *run) report(kind, key string, ops []int, format string, args ...any) {
	r.count[kind]++
	if r.count[kind] > int64(r.max) {
		return
	}
	a := models.Anomaly{Kind: kind, Key: key, Explanation: fmt.Sprintf(format, args...), Time: math.MaxInt64}
	for _, p := range ops {
		a.Ops = append(a.Ops, r.ops[p].Index)
		a.Time = min(a.Time, r.ops[p].Time)
	}
	r.found = append(r.found, a)
}

func (r *run) see(key string, e Entry, op int, send bool) {
	if r.at[key] == nil {
		r.at[key] = map[int64]map[string]sighting{}
		r.where[key] = map[string]map[int64]sighting{}
	}
	if r.at[key][e.Offset] == nil {
		r.at[key][e.Offset] = map[string]sighting{}
	}
	if _, ok := r.at[key][e.Offset][e.Msg]; !ok {
		r.at[key][e.Offset][e.Msg] = sighting{op: op, send: send}
	}
	if r.where[key][e.Msg] == nil {
		r.where[key][e.Msg] = map[int64]sighting{}
	}
	if _, ok := r.where[key][e.Msg][e.Offset]; !ok {
		r.where[key][e.Msg][e.Offset] = sighting{op: op, send: send}
	}
}

func mark(m map[string]map[string]bool, key, msg string) {
	if m[key] == nil {
		m[key] = map[string]bool{}
	}
	m[key][msg] = true
}

// Check implements models.Checker.
func (c *Checker) Check(ctx context.Context, ops []history.Op, _ models.Options) models.Result {
	start := time.Now()
	res := c.check(ctx, ops)
	res.Checker, res.Model = Name, Name
	res.DurationNS = time.Since(start).Nanoseconds()
	return res
}

func (c *Checker) check(ctx context.Context, ops []history.Op) models.Result {
	r := &run{
		ops: ops, max: c.maxAnomalies(), count: map[string]int64{},
		at: map[string]map[int64]map[string]sighting{}, where: map[string]map[string]map[int64]sighting{},
		polled: map[string]map[string]bool{}, sent: map[string]map[string]bool{}, known: map[string][]int64{},
	}
	stats := map[string]int64{}
	calls, _, _ := history.Pair(ops)
	for _, cl := range calls {
		inv := ops[cl.Inv]
		var done history.Op
		if cl.Done >= 0 {
			done = ops[cl.Done]
		}
		switch inv.F {
		case SendF:
			if cl.Type != history.Fail {
				mark(r.sent, inv.Key, MsgText(inv.Value))
			}
			if cl.Type != history.OK {
				continue
			}
			e, ok := pair(done.Value)
			if !ok {
				stats["malformed"]++
				continue
			}
			stats["sends-ok"]++
			r.sends = append(r.sends, sendRec{inv: cl.Inv, done: cl.Done, key: inv.Key, e: e})
			r.see(inv.Key, e, cl.Done, true)
		case PollF, FinalPollF:
			final := inv.F == FinalPollF
			if cl.Done < 0 || cl.Type == history.Fail || (cl.Type == history.Info && !final) {
				continue
			}
			msgs, ok := Msgs(done.Value)
			if !ok {
				stats["malformed"]++
				continue
			}
			asked, _ := Offsets(inv.Value)
			p := pollRec{inv: cl.Inv, done: cl.Done, final: final, whole: final && cl.Type == history.OK, asked: asked, msgs: msgs}
			r.polls = append(r.polls, p)
			switch {
			case p.whole:
				stats["final-polls-ok"]++
			case !final:
				stats["polls-ok"]++
			}
			for _, k := range sortedKeys(msgs) {
				for _, e := range msgs[k] {
					stats["messages-polled"]++
					mark(r.polled, k, e.Msg)
					r.see(k, e, cl.Done, false)
				}
			}
		case CommitF:
			if cl.Type == history.Fail {
				continue
			}
			offs, ok := Offsets(inv.Value)
			if !ok {
				stats["malformed"]++
				continue
			}
			if cl.Type == history.OK {
				stats["commits-ok"]++
			}
			r.commits = append(r.commits, commitRec{inv: cl.Inv, done: cl.Done, ok: cl.Type == history.OK, offsets: offs})
		case ListCommittedF:
			if cl.Type != history.OK {
				continue
			}
			offs, ok := Offsets(done.Value)
			if !ok && done.Value != nil {
				stats["malformed"]++
				continue
			}
			stats["lists-ok"]++
			r.lists = append(r.lists, listRec{inv: cl.Inv, done: cl.Done, keys: keyList(inv.Value), offsets: offs})
		}
	}
	for k, offs := range r.at {
		ks := make([]int64, 0, len(offs))
		for o := range offs {
			ks = append(ks, o)
		}
		slices.Sort(ks)
		r.known[k] = ks
	}

	for _, step := range []func(){r.inconsistent, r.duplicates, r.unexpected, r.lost, r.pollOrder, r.sendOrder, r.commitsLost} {
		if err := ctx.Err(); err != nil {
			return models.Result{Verdict: models.Unknown, Reason: "check cut short: " + err.Error(), Stats: stats}
		}
		step()
	}
	stats["unseen"] = r.count["unseen"]
	for _, k := range []string{LostKind, DuplicateKind, InconsistentKind, NonmonotonicPollKind, SkipKind, NonmonotonicSendKind, UnexpectedKind, CommitLostKind} {
		if n := r.count[k]; n > 0 {
			stats[k] = n
		}
	}
	res := models.Result{Stats: stats, Anomalies: r.found}
	switch {
	case len(r.found) > 0:
		res.Verdict = models.Invalid
		var parts []string
		for _, k := range []string{LostKind, DuplicateKind, InconsistentKind, NonmonotonicPollKind, SkipKind, NonmonotonicSendKind, UnexpectedKind, CommitLostKind} {
			if n := r.count[k]; n > 0 {
				parts = append(parts, strconv.FormatInt(n, 10)+" "+k)
			}
		}
		res.Reason = strings.Join(parts, ", ")
	case stats["malformed"] > 0:
		res.Verdict = models.Unknown
		res.Reason = fmt.Sprintf("%d ops with values this checker cannot read (see docs/models/kafka.md for the shapes)", stats["malformed"])
	case stats["sends-ok"] == 0 || stats["polls-ok"]+stats["final-polls-ok"] == 0:
		res.Verdict = models.Unknown
		res.Reason = fmt.Sprintf("too little happened to judge: %d sends acknowledged, %d polls and %d whole final polls ok", stats["sends-ok"], stats["polls-ok"], stats["final-polls-ok"])
	default:
		res.Verdict = models.Valid
	}
	return res
}

// keyList reads a list of keys.
func keyList(v any) []string {
	switch x := v.(type) {
	case []string:
		return x
	case []any:
		out := make([]string, 0, len(x))
		for _, k := range x {
			if s, ok := k.(string); ok {
				out = append(out, s)
			} else {
				out = append(out, MsgText(k))
			}
		}
		return out
	}
	return nil
}

// how says which op showed a sighting.
func (r *run) how(s sighting) string {
	if s.send {
		return fmt.Sprintf("acknowledged by send op %d", r.ops[s.op].Index)
	}
	return fmt.Sprintf("returned by %s op %d", r.ops[s.op].F, r.ops[s.op].Index)
}

func (r *run) inconsistent() {
	for _, k := range sortedKeys(r.at) {
		offs := r.known[k]
		for _, o := range offs {
			ms := r.at[k][o]
			if len(ms) < 2 {
				continue
			}
			var ops []int
			var parts []string
			for _, m := range sortedKeys(ms) {
				ops = append(ops, ms[m].op)
				parts = append(parts, fmt.Sprintf("%s (%s)", m, r.how(ms[m])))
			}
			r.report(InconsistentKind, k, ops, "key %s offset %d holds %d different messages: %s", k, o, len(ms), strings.Join(parts, ", "))
		}
	}
}

func (r *run) duplicates() {
	for _, k := range sortedKeys(r.where) {
		for _, m := range sortedKeys(r.where[k]) {
			offs := r.where[k][m]
			if len(offs) < 2 {
				continue
			}
			os := make([]int64, 0, len(offs))
			for o := range offs {
				os = append(os, o)
			}
			slices.Sort(os)
			var ops []int
			var parts []string
			for _, o := range os {
				ops = append(ops, offs[o].op)
				parts = append(parts, fmt.Sprintf("%d (%s)", o, r.how(offs[o])))
			}
			r.report(DuplicateKind, k, ops, "message %s of key %s is at %d offsets: %s", m, k, len(os), strings.Join(parts, ", "))
		}
	}
}

func (r *run) unexpected() {
	for _, k := range sortedKeys(r.where) {
		for _, m := range sortedKeys(r.where[k]) {
			if r.sent[k][m] {
				continue
			}
			for _, o := range sortedKeys64(r.where[k][m]) {
				s := r.where[k][m][o]
				r.report(UnexpectedKind, k, []int{s.op}, "message %s at offset %d of key %s was %s, but no send of it to key %s may have happened", m, o, k, r.how(s), k)
				break
			}
		}
	}
}

func sortedKeys64[V any](m map[int64]V) []int64 {
	out := make([]int64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// readFrom is where poll p read key k from: the offset it asked for, else
// its first offset; ok is false when it returned nothing of k.
func (p pollRec) readFrom(k string) (int64, bool) {
	if o, ok := p.asked[k]; ok {
		return o, true
	}
	if es := p.msgs[k]; len(es) > 0 {
		return es[0].Offset, true
	}
	return 0, false
}

func (r *run) lost() {
	for _, s := range r.sends {
		if r.polled[s.key][s.e.Msg] {
			continue
		}
		evidence := -1
		why := ""
		for _, p := range r.polls {
			from, ok := p.readFrom(s.key)
			if !ok || from > s.e.Offset {
				continue
			}
			if p.whole && p.inv > s.done {
				evidence, why = p.done, fmt.Sprintf("the final poll op %d read key %s whole from offset %d after the send completed", r.ops[p.done].Index, s.key, from)
				break
			}
			for _, e := range p.msgs[s.key] {
				if e.Offset > s.e.Offset {
					evidence, why = p.done, fmt.Sprintf("%s op %d read key %s from offset %d to offset %d", r.ops[p.done].F, r.ops[p.done].Index, s.key, from, e.Offset)
					break
				}
			}
			if evidence >= 0 {
				break
			}
		}
		if evidence < 0 {
			r.count["unseen"]++
			continue
		}
		r.report(LostKind, s.key, []int{s.done, evidence}, "message %s, acknowledged at offset %d of key %s by send op %d, was never polled, though %s",
			s.e.Msg, s.e.Offset, s.key, r.ops[s.done].Index, why)
	}
}

// knownIn returns the known offsets of key k in [lo, hi).
func (r *run) knownIn(k string, lo, hi int64) []int64 {
	offs := r.known[k]
	i, _ := slices.BinarySearch(offs, lo)
	j, _ := slices.BinarySearch(offs, hi)
	if i >= j {
		return nil
	}
	return offs[i:j]
}

// notIn returns the offsets of offs that es does not hold.
func notIn(offs []int64, es []Entry) []int64 {
	var out []int64
	for _, o := range offs {
		if !slices.ContainsFunc(es, func(e Entry) bool { return e.Offset == o }) {
			out = append(out, o)
		}
	}
	return out
}

// skipped reports a poll that passed over known offsets.
func (r *run) skipped(p pollRec, k string, missing []int64, from, to int64, prev int) {
	first := r.at[k][missing[0]]
	var proof sighting
	for _, m := range sortedKeys(first) {
		proof = first[m]
		break
	}
	shown := missing
	if len(shown) > 5 {
		shown = shown[:5]
	}
	ops := []int{p.done}
	if prev >= 0 {
		ops = append([]int{prev}, ops...)
	}
	ops = append(ops, proof.op)
	r.report(SkipKind, k, ops, "%s op %d read key %s from %d to %d but skipped %d known offset(s) %v (offset %d %s)",
		r.ops[p.done].F, r.ops[p.done].Index, k, from, to, len(missing), shown, missing[0], r.how(proof))
}

func (r *run) pollOrder() {
	type pos struct {
		last int64
		op   int
	}
	consumer := map[history.Process]map[string]pos{}
	for _, p := range r.polls {
		proc := r.ops[p.inv].Process
		if consumer[proc] == nil {
			consumer[proc] = map[string]pos{}
		}
		for _, k := range sortedKeys(p.msgs) {
			es := p.msgs[k]
			if len(es) == 0 {
				continue
			}
			from, asked := p.asked[k]
			prev := -1
			if q, ok := consumer[proc][k]; ok && !asked && !p.final {
				from, asked, prev = q.last+1, true, q.op
			}
			switch {
			case asked && es[0].Offset < from:
				if prev >= 0 {
					r.report(NonmonotonicPollKind, k, []int{prev, p.done}, "process %s polled key %s up to offset %d (op %d), then from offset %d (op %d): the consumer went back",
						proc, k, from-1, r.ops[prev].Index, es[0].Offset, r.ops[p.done].Index)
				} else {
					r.report(NonmonotonicPollKind, k, []int{p.done}, "%s op %d asked for key %s from offset %d but returned offset %d first",
						r.ops[p.done].F, r.ops[p.done].Index, k, from, es[0].Offset)
				}
			case asked:
				if miss := notIn(r.knownIn(k, from, es[0].Offset), es); len(miss) > 0 {
					r.skipped(p, k, miss, from, es[0].Offset, prev)
				}
			}
			for i := 1; i < len(es); i++ {
				a, b := es[i-1].Offset, es[i].Offset
				if b <= a {
					r.report(NonmonotonicPollKind, k, []int{p.done}, "%s op %d returned key %s offset %d after offset %d",
						r.ops[p.done].F, r.ops[p.done].Index, k, b, a)
					continue
				}
				if miss := notIn(r.knownIn(k, a+1, b), es); len(miss) > 0 {
					r.skipped(p, k, miss, a, b, -1)
				}
			}
			if !p.final {
				last := es[len(es)-1].Offset
				for _, e := range es {
					last = max(last, e.Offset)
				}
				consumer[proc][k] = pos{last: last, op: p.done}
			}
		}
	}
}

func (r *run) sendOrder() {
	type last struct {
		off int64
		op  int
	}
	byProc := map[history.Process]map[string]last{}
	for _, s := range r.sends {
		proc := r.ops[s.inv].Process
		if byProc[proc] == nil {
			byProc[proc] = map[string]last{}
		}
		if l, ok := byProc[proc][s.key]; ok && s.e.Offset <= l.off {
			r.report(NonmonotonicSendKind, s.key, []int{l.op, s.done}, "process %s's send to key %s got offset %d (op %d) after its earlier send got offset %d (op %d)",
				proc, s.key, s.e.Offset, r.ops[s.done].Index, l.off, r.ops[l.op].Index)
		}
		byProc[proc][s.key] = last{off: s.e.Offset, op: s.done}
	}
}

// commitIndex is, per key, the ok commits in the order they completed and
// which of the first i+1 committed the highest offset, so the highest
// commit done before a list is a binary search away.
type commitIndex struct {
	done []int // positions of completions, rising
	best []int // index into run.commits of the highest commit among done[:i+1]
}

func (r *run) indexCommits() map[string]*commitIndex {
	type okCommit struct{ done, i int }
	byKey := map[string][]okCommit{}
	for i, c := range r.commits {
		if !c.ok {
			continue
		}
		for k := range c.offsets {
			byKey[k] = append(byKey[k], okCommit{c.done, i})
		}
	}
	out := map[string]*commitIndex{}
	for k, cs := range byKey {
		slices.SortFunc(cs, func(a, b okCommit) int { return a.done - b.done })
		ix := &commitIndex{}
		for j, c := range cs {
			best := c.i
			if j > 0 && r.commits[ix.best[j-1]].offsets[k] >= r.commits[c.i].offsets[k] {
				best = ix.best[j-1]
			}
			ix.done = append(ix.done, c.done)
			ix.best = append(ix.best, best)
		}
		out[k] = ix
	}
	return out
}

func (r *run) commitsLost() {
	index := r.indexCommits()
	// Every commit that did not fail, by key and offset committed: those
	// that may explain a list's answer.
	byValue := map[string]map[int64][]int{}
	for i, c := range r.commits {
		for k, o := range c.offsets {
			if byValue[k] == nil {
				byValue[k] = map[int64][]int{}
			}
			byValue[k][o] = append(byValue[k][o], i)
		}
	}
	for _, l := range r.lists {
		keys := slices.Clone(l.keys)
		for k := range l.offsets {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range slices.Compact(keys) {
			v, present := l.offsets[k]
			// The highest commit of k done before the list began.
			ix := index[k]
			if ix == nil {
				continue
			}
			n, _ := slices.BinarySearch(ix.done, l.inv)
			if n == 0 {
				continue
			}
			best := ix.best[n-1]
			if present && r.commits[best].offsets[k] <= v {
				continue
			}
			c := r.commits[best]
			explained := false
			for _, i := range byValue[k][v] {
				d := r.commits[i]
				if present && d.inv < l.done && (d.done < 0 || d.done > c.inv) {
					explained = true
					break
				}
			}
			if explained {
				continue
			}
			got := "no offset"
			if present {
				got = "offset " + strconv.FormatInt(v, 10)
			}
			r.report(CommitLostKind, k, []int{c.done, l.done}, "list-committed-offsets op %d returned %s for key %s, though commit-offsets op %d had committed offset %d and completed before the list began",
				r.ops[l.done].Index, got, k, r.ops[c.done].Index, c.offsets[k])
		}
	}
}
