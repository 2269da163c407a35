// Package convergence checks eventual consistency of a grow-only set: once
// faults are healed and writes stop, every node's final read returns the
// same set, which holds every acknowledged add and nothing never attempted.
//
// The definition is eventual consistency as convergence (Vogels, "Eventually
// Consistent", CACM 52(1), 2009: "if no new updates are made to the object,
// eventually all accesses will return the last updated value"), made
// checkable as Jepsen's final-read set checks do (jepsen.checker/set with
// final reads from every node after the nemesis heals): ops F "add" with one
// element, F "read" returning the whole set as a list, each with the Node it
// was sent to.
//
// For each key (ops without a key are one set) the quiescent point is the
// later of the completion of the last nuker stop op (the last heal) and the
// end of the last add that was not a fail (its completion, or its invocation
// when it never completed). A node's final read is its last ok read that
// began after the quiescent point. Then:
//
//   - every final read holds every ok add (else the element is lost on that
//     node);
//   - no final read holds an element that no add attempted, or that only
//     failed adds attempted (a fail certainly did not take effect);
//   - all final reads are the same set; an element whose add was
//     indeterminate (info, or never completed) may be in it or not, but on
//     every node alike.
//
// How long convergence took is reported when the history shows it: from the
// quiescent point to the completion of the read with which the nodes' latest
// reads (begun after that point) last came to agree.
//
// The verdict is unknown, with the reason, when a fault was never healed,
// when no node read after the quiescent point, when only one node did (its
// read is still checked for lost and unexpected elements), or when a node
// that served the key has no final read.
package convergence

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// Name is the checker's and the model's name.
const Name = "convergence"

// Kinds of the anomalies.
const (
	LostKind       = "lost-element"
	UnexpectedKind = "unexpected-element"
	DivergedKind   = "diverged"
)

// DefaultMaxAnomalies bounds the anomalies a result lists when
// Checker.MaxAnomalies is zero; Stats count them all.
const DefaultMaxAnomalies = 100

// noNode names the node of ops that carry none.
const noNode = "(no node)"

// Checker checks convergence. The zero value is ready to use.
type Checker struct {
	// MaxAnomalies bounds the anomalies listed (DefaultMaxAnomalies when
	// zero, no bound when negative).
	MaxAnomalies int
}

// New returns a convergence checker.
func New() *Checker { return &Checker{} }

// Models returns the convergence model.
func Models() models.Registry {
	return models.Registry{
		Name: {
			Summary: "eventual consistency of a grow-only set: after the last heal and the last add, every node's final read is the same set, with every ok add and nothing never attempted; reports the convergence time",
			New:     func() models.Checker { return New() },
		},
	}
}

var _ models.Checker = (*Checker)(nil)

// Name returns "convergence".
func (c *Checker) Name() string { return Name }

// Check checks ops, given in history order. It never fails: malformed ops
// are skipped and make an otherwise valid verdict unknown, and a done ctx
// makes it unknown with the reason. Anomalies: one per node whose final
// read lacks acknowledged adds (LostKind), one per node whose final read
// holds unexpected elements (UnexpectedKind), one per key whose final reads
// disagree (DivergedKind). Stats: keys, nodes, final_reads, attempts,
// acknowledged, indeterminate, failed, lost, unexpected, divergent (elements
// in some final reads but not all), recovered (indeterminate adds in every
// final read), nodes_without_final_read, malformed, and
// unmatched_completions when some completion had no invocation.
// Properties: convergence_time (the longest over keys, when ops carry
// times), converged_at_op, quiescent_op and quiescent_cause.
func (c *Checker) Check(ctx context.Context, ops []history.Op, opt models.Options) models.Result {
	start := time.Now()
	res := c.check(ctx, ops)
	res.DurationNS = time.Since(start).Nanoseconds()
	return res
}

// keyOps are the adds and ok reads of one key, in invocation order.
type keyOps struct {
	name  string
	adds  []int
	reads []int
	nodes map[string]bool // nodes that served any op of the key
}

// result gathers what the keys found.
type result struct {
	stats      map[string]int64
	anomalies  []models.Anomaly
	maxAnom    int
	unknown    []string
	malformed  string
	longest    int64 // the longest convergence time, ns
	longestKey string
	convergeOp int64
	quiescent  int // position of the quiescent point of the key converging longest
	cause      string
	timed      bool
	converged  bool
}

func (r *result) report(build func() models.Anomaly) {
	if r.maxAnom >= 0 && len(r.anomalies) >= r.maxAnom {
		return
	}
	a := build()
	slices.Sort(a.Ops)
	a.Ops = slices.Compact(a.Ops)
	r.anomalies = append(r.anomalies, a)
}

func (r *result) malformedOp(op *history.Op, format string, args ...any) {
	r.stats["malformed"]++
	if r.malformed == "" {
		r.malformed = fmt.Sprintf("op %d (process %v): ", op.Index, op.Process) + fmt.Sprintf(format, args...)
	}
}

func (c *Checker) check(ctx context.Context, ops []history.Op) models.Result {
	res := models.Result{Checker: Name, Model: Name}
	for _, w := range history.FaultWindows(ops) {
		if w.Open {
			res.Verdict = models.Unknown
			res.Reason = fmt.Sprintf("the %s fault started at op %d was never healed, so convergence cannot be judged", w.Kind, w.StartOp)
			return res
		}
	}
	calls, _, unmatched := history.Pair(ops)
	r := &result{
		stats: map[string]int64{
			"keys": 0, "nodes": 0, "final_reads": 0, "attempts": 0, "acknowledged": 0, "indeterminate": 0,
			"failed": 0, "lost": 0, "unexpected": 0, "divergent": 0, "recovered": 0,
			"nodes_without_final_read": 0, "malformed": 0,
		},
		maxAnom: cmp.Or(c.MaxAnomalies, DefaultMaxAnomalies),
		timed:   hasTimes(ops),
	}
	if unmatched > 0 {
		r.stats["unmatched_completions"] = int64(unmatched)
	}

	heal := -1 // position of the last heal
	for pos := range ops {
		op := &ops[pos]
		if op.Process == history.Nuker && op.Type != history.Invoke && (op.F == "stop" || strings.HasPrefix(op.F, history.StopPrefix)) {
			heal = pos
		}
	}

	keyIDs := map[string]int{}
	var keys []*keyOps
	allNodes := map[string]bool{}
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
			keys = append(keys, &keyOps{name: key, nodes: map[string]bool{}})
		}
		ko := keys[k]
		node := nodeOf(ops, cl)
		ko.nodes[node] = true
		allNodes[node] = true
		switch {
		case inv.F == "add":
			ko.adds = append(ko.adds, i)
		case cl.Type != history.OK:
			// A read of unknown outcome or a failed read says nothing.
		case !isList(ops[cl.Done].Value):
			r.malformedOp(&ops[cl.Done], "read returned %s: not a list", models.Show(ops[cl.Done].Value))
		default:
			ko.reads = append(ko.reads, i)
		}
	}
	slices.SortFunc(keys, func(a, b *keyOps) int { return models.CompareKeys(a.name, b.name) })
	r.stats["keys"] = int64(len(keys))
	r.stats["nodes"] = int64(len(allNodes))

	for _, ko := range keys {
		if err := ctx.Err(); err != nil {
			res.Verdict = models.Unknown
			res.Reason = fmt.Sprintf("convergence check stopped: %v", context.Cause(ctx))
			return res
		}
		checkKey(ops, calls, ko, heal, r)
	}

	res.Stats = r.stats
	res.Anomalies = r.anomalies
	if r.converged {
		res.Properties = map[string]string{
			"converged_at_op": strconv.FormatInt(r.convergeOp, 10),
			"quiescent_op":    strconv.FormatInt(ops[r.quiescent].Index, 10),
			"quiescent_cause": r.cause,
		}
		if r.timed {
			res.Properties["convergence_time"] = time.Duration(r.longest).String()
		}
	}
	bad := r.stats["lost"] + r.stats["unexpected"] + r.stats["divergent"]
	var parts []string
	if bad > 0 {
		if len(r.anomalies) == 1 {
			parts = append(parts, r.anomalies[0].Explanation)
		} else {
			var counts []string
			for _, x := range []struct{ stat, what string }{
				{"lost", "lost"}, {"unexpected", "unexpected"}, {"divergent", "divergent"},
			} {
				if n := r.stats[x.stat]; n > 0 {
					counts = append(counts, fmt.Sprintf("%d %s", n, x.what))
				}
			}
			parts = append(parts, fmt.Sprintf("%s elements; the first: %s", strings.Join(counts, ", "), r.anomalies[0].Explanation))
		}
	}
	if len(keys) == 0 {
		r.unknown = append(r.unknown, "no adds or reads to check")
	}
	switch {
	case len(r.unknown) > 3:
		parts = append(parts, fmt.Sprintf("%d keys could not be judged: %s; ...", len(r.unknown), strings.Join(r.unknown[:3], "; ")))
	case len(r.unknown) > 0:
		parts = append(parts, r.unknown...)
	}
	if r.malformed != "" {
		parts = append(parts, fmt.Sprintf("%d malformed ops skipped, the first %s", r.stats["malformed"], r.malformed))
	}
	res.Reason = strings.Join(parts, "; ")
	switch {
	case bad > 0:
		res.Verdict = models.Invalid
	case len(r.unknown) > 0 || r.malformed != "":
		res.Verdict = models.Unknown
	default:
		res.Verdict = models.Valid
	}
	return res
}

// element is what the checker knows of one element of one key.
type element struct {
	val   any // int64 or string, for people
	add   int // call of its add (the first not failed), -1 when none
	fail  int // call of a failed add of it, -1 when none
	count int // final reads holding it
	mark  int // the last read that counted it, to skip duplicates
}

// elements interns one key's elements.
type elements struct {
	ints  map[int64]int
	strs  map[string]int
	elems []element
	reads int // reads counted so far, for element.mark
}

func (es *elements) id(v any) int {
	if n, ok := history.Int(v); ok {
		if id, ok := es.ints[n]; ok {
			return id
		}
		es.ints[n] = len(es.elems)
		es.elems = append(es.elems, element{val: n, add: -1, fail: -1, mark: -1})
		return len(es.elems) - 1
	}
	s, ok := v.(string)
	if !ok {
		s = fmt.Sprint(v)
	}
	if id, ok := es.strs[s]; ok {
		return id
	}
	es.strs[s] = len(es.elems)
	es.elems = append(es.elems, element{val: s, add: -1, fail: -1, mark: -1})
	return len(es.elems) - 1
}

// read returns the distinct element ids of a read's value.
func (es *elements) read(v any, ids []int) []int {
	vals, _ := v.([]any)
	es.reads++
	ids = ids[:0]
	for _, x := range vals {
		id := es.id(x)
		if e := &es.elems[id]; e.mark != es.reads {
			e.mark = es.reads
			ids = append(ids, id)
		}
	}
	return ids
}

func checkKey(ops []history.Op, calls []call, ko *keyOps, heal int, r *result) {
	label := "the set"
	if ko.name != "" {
		label = "key " + ko.name
	}
	es := &elements{ints: map[int64]int{}, strs: map[string]int{}}

	// The quiescent point: the last heal or the end of the last add.
	quiet, cause := heal, "last heal"
	for _, ci := range ko.adds {
		cl := calls[ci]
		arg := ops[cl.Inv].Value
		if arg == nil && cl.Done >= 0 {
			arg = ops[cl.Done].Value
		}
		if !scalar(arg) {
			r.malformedOp(&ops[cl.Inv], "add of %s: not a single element", models.Show(arg))
			continue
		}
		r.stats["attempts"]++
		e := &es.elems[es.id(arg)]
		switch cl.Type {
		case history.OK:
			r.stats["acknowledged"]++
		case history.Fail:
			r.stats["failed"]++
			if e.fail < 0 {
				e.fail = ci
			}
			continue
		default:
			r.stats["indeterminate"]++
		}
		if e.add < 0 {
			e.add = ci
		}
		end := cl.Done
		if end < 0 {
			end = cl.Inv
		}
		if end > quiet {
			quiet, cause = end, "last add"
		}
	}
	if quiet < 0 {
		r.unknown = append(r.unknown, fmt.Sprintf("%s has no add and the history no heal to wait for", label))
		return
	}

	// Reads that began after the quiescent point, in completion order.
	var after []int
	for _, ci := range ko.reads {
		if calls[ci].Inv > quiet {
			after = append(after, ci)
		}
	}
	slices.SortFunc(after, func(a, b int) int { return calls[a].Done - calls[b].Done })

	// Convergence: the nodes' latest reads agree when all nodes with a
	// final read have read since the quiescent point and their reads hash
	// alike. The hash is order-free; the final agreement is checked
	// exactly below, the hash only dates it.
	final := map[string]int{} // node -> its final read
	for _, ci := range after {
		final[nodeOf(ops, calls[ci])] = ci
	}
	nodes := slices.Sorted(func(yield func(string) bool) {
		for n := range final {
			if !yield(n) {
				return
			}
		}
	})
	latest := map[string]uint64{}
	agreeSince := -1 // the read with which the nodes last came to agree
	var ids []int
	for _, ci := range after {
		ids = es.read(ops[calls[ci].Done].Value, ids)
		var h uint64
		for _, id := range ids {
			h += mix(uint64(id))
		}
		latest[nodeOf(ops, calls[ci])] = h
		agree := len(latest) == len(nodes)
		for _, x := range latest {
			if x != h {
				agree = false
				break
			}
		}
		switch {
		case !agree:
			agreeSince = -1
		case agreeSince < 0:
			agreeSince = ci
		}
	}

	var missingNodes []string
	for n := range ko.nodes {
		if _, ok := final[n]; !ok {
			missingNodes = append(missingNodes, n)
		}
	}
	slices.Sort(missingNodes)
	r.stats["nodes_without_final_read"] += int64(len(missingNodes))
	r.stats["final_reads"] += int64(len(nodes))
	quietName := fmt.Sprintf("op %d (the %s)", ops[quiet].Index, cause)
	if len(nodes) == 0 {
		r.unknown = append(r.unknown, fmt.Sprintf("no ok read of %s began after %s", label, quietName))
		return
	}

	// The final reads, checked element by element.
	elems := es.elems
	has := make([][]int, len(nodes)) // each final read's elements
	for i, n := range nodes {
		ci := final[n]
		has[i] = es.read(ops[calls[ci].Done].Value, nil)
		var unexpected []int
		for _, id := range has[i] {
			e := &elems[id]
			e.count++
			if e.add < 0 {
				unexpected = append(unexpected, id)
			}
		}
		var lost []int
		for id := range elems {
			e := &elems[id]
			if e.mark != es.reads && e.add >= 0 && calls[e.add].Type == history.OK {
				lost = append(lost, id)
			}
		}
		if len(lost) > 0 {
			r.report(func() models.Anomaly { return lostAnomaly(ops, calls, ko.name, n, ci, elems, lost) })
		}
		if len(unexpected) > 0 {
			r.report(func() models.Anomaly { return unexpectedAnomaly(ops, calls, ko.name, n, ci, elems, unexpected) })
		}
	}
	var divergent []int
	for id := range elems {
		e := &elems[id]
		ok := e.add >= 0 && calls[e.add].Type == history.OK
		switch {
		case e.count == 0:
			if ok {
				r.stats["lost"]++
			}
		case e.count < len(nodes):
			divergent = append(divergent, id)
			if ok {
				r.stats["lost"]++
			}
		case e.add >= 0 && !ok:
			r.stats["recovered"]++
		}
		if e.count > 0 && e.add < 0 {
			r.stats["unexpected"]++
		}
	}
	r.stats["divergent"] += int64(len(divergent))
	if len(divergent) > 0 {
		r.report(func() models.Anomaly {
			return divergedAnomaly(ops, calls, ko.name, nodes, final, has, elems, divergent)
		})
	}

	switch {
	case len(nodes) == 1:
		r.unknown = append(r.unknown, fmt.Sprintf("only node %s read %s after %s; agreement needs two", nodes[0], label, quietName))
	case len(missingNodes) > 0:
		r.unknown = append(r.unknown, fmt.Sprintf("node %s served %s but has no ok read that began after %s", strings.Join(missingNodes, ", "), label, quietName))
	}
	if len(divergent) == 0 && len(nodes) > 1 && agreeSince >= 0 {
		took := ops[calls[agreeSince].Done].Time - ops[quiet].Time
		if !r.converged || took > r.longest {
			r.converged, r.longest = true, took
			r.convergeOp = ops[calls[agreeSince].Done].Index
			r.quiescent, r.cause = quiet, cause
		}
	}
}

// mix scrambles an element id for the order-free hash of a read
// (splitmix64's finalizer).
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func nodeOf(ops []history.Op, cl call) string {
	n := ops[cl.Inv].Node
	if n == "" && cl.Done >= 0 {
		n = ops[cl.Done].Node
	}
	return cmp.Or(n, noNode)
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

// hasTimes reports whether ops carry times at all (imported Jepsen logs
// may not), so that a convergence time of 0 is not made up.
func hasTimes(ops []history.Op) bool {
	for _, op := range ops {
		if op.Time != 0 {
			return true
		}
	}
	return false
}

// readName names a final read: "node n2's final read (process 4, ops 80–81)".
func readName(ops []history.Op, cl call, node string) string {
	return fmt.Sprintf("node %s's final read (process %v, ops %d–%d)", node, ops[cl.Inv].Process, ops[cl.Inv].Index, ops[cl.Done].Index)
}

func addName(ops []history.Op, cl call) string {
	if cl.Done < 0 {
		return fmt.Sprintf("process %v, op %d", ops[cl.Inv].Process, ops[cl.Inv].Index)
	}
	return fmt.Sprintf("process %v, ops %d–%d", ops[cl.Inv].Process, ops[cl.Inv].Index, ops[cl.Done].Index)
}

// newAnomaly starts an anomaly over the given calls.
func newAnomaly(kind, key string, ops []history.Op, calls []call, ids ...int) models.Anomaly {
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

// examples is how many elements an explanation names.
const examples = 3

func onKey(key string) string {
	if key == "" {
		return ""
	}
	return " of key " + key
}

// list joins names as "a, b and c", adding "and N more" past examples.
func list(names []string, total int) string {
	if total > len(names) {
		return strings.Join(names, ", ") + fmt.Sprintf(" and %d more", total-len(names))
	}
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func lostAnomaly(ops []history.Op, calls []call, key, node string, read int, elems []element, lost []int) models.Anomaly {
	ids := []int{read}
	var names []string
	for _, id := range lost[:min(len(lost), examples)] {
		e := elems[id]
		ids = append(ids, e.add)
		names = append(names, fmt.Sprintf("%v (%s)", e.val, addName(ops, calls[e.add])))
	}
	a := newAnomaly(LostKind, key, ops, calls, ids...)
	a.Explanation = fmt.Sprintf("%s%s lacks %s: %s",
		models.Capitalize(readName(ops, calls[read], node)), onKey(key), plural(len(lost), "acknowledged add", "acknowledged adds"), list(names, len(lost)))
	return a
}

func unexpectedAnomaly(ops []history.Op, calls []call, key, node string, read int, elems []element, unexpected []int) models.Anomaly {
	ids := []int{read}
	var names []string
	for _, id := range unexpected[:min(len(unexpected), examples)] {
		e := elems[id]
		if e.fail >= 0 {
			ids = append(ids, e.fail)
			names = append(names, fmt.Sprintf("%v (only a failed add tried it: %s)", e.val, addName(ops, calls[e.fail])))
		} else {
			names = append(names, fmt.Sprintf("%v (never added)", e.val))
		}
	}
	a := newAnomaly(UnexpectedKind, key, ops, calls, ids...)
	a.Explanation = fmt.Sprintf("%s%s holds %s no add put there: %s",
		models.Capitalize(readName(ops, calls[read], node)), onKey(key), plural(len(unexpected), "element", "elements"), list(names, len(unexpected)))
	return a
}

func divergedAnomaly(ops []history.Op, calls []call, key string, nodes []string, final map[string]int, has [][]int, elems []element, divergent []int) models.Anomaly {
	var ids []int
	var reads, with, without []string
	for i, n := range nodes {
		cl := calls[final[n]]
		ids = append(ids, final[n])
		reads = append(reads, fmt.Sprintf("%s (ops %d–%d)", n, ops[cl.Inv].Index, ops[cl.Done].Index))
		// Name the first divergent element and which nodes have it.
		if slices.Contains(has[i], divergent[0]) {
			with = append(with, n)
		} else {
			without = append(without, n)
		}
	}
	a := newAnomaly(DivergedKind, key, ops, calls, ids...)
	a.Explanation = fmt.Sprintf("The final reads%s of %s disagree on %s: %v is in the reads of %s but not of %s",
		onKey(key), list(reads, len(reads)), plural(len(divergent), "element", "elements"), elems[divergent[0]].val, list(with, len(with)), list(without, len(without)))
	return a
}

// call is one client operation (see history.Pair).
type call = history.Call
