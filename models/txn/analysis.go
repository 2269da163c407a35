package txn

import (
	"fmt"
	"slices"
	"strings"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// analysis holds one check's state.
type analysis struct {
	p     *parsed
	c     *Checker
	model string
	g     graph
	nodes []int32 // node -> transaction

	anomalies map[string][]models.Anomaly // listed, per kind
	counts    map[string]int64            // found, per kind
	// incomplete says what was not fully searched: a valid verdict then
	// becomes unknown.
	incomplete []string
	// budget bounds the edges added by the products that can grow
	// quadratically (readers of a final or initial version times writers
	// of the versions after it).
	budget int
}

func newAnalysis(p *parsed, c *Checker, model string) *analysis {
	return &analysis{
		p: p, c: c, model: model,
		anomalies: map[string][]models.Anomaly{},
		counts:    map[string]int64{},
		budget:    16*len(p.txns) + 1<<20,
	}
}

// commit makes transaction t a graph node.
func (a *analysis) commit(t int32) {
	if a.p.txns[t].node < 0 {
		a.p.txns[t].node = int32(len(a.nodes))
		a.nodes = append(a.nodes, t)
	}
}

// spend takes n from the edge budget, reporting whether it was available.
func (a *analysis) spend(n int, what string) bool {
	if n <= a.budget {
		a.budget -= n
		return true
	}
	a.note("edge budget exhausted: some anti-dependencies on " + what + " left out, so cycles through them may be missed")
	return false
}

// note records, once, that part of the search was incomplete.
func (a *analysis) note(msg string) {
	if !slices.Contains(a.incomplete, msg) {
		a.incomplete = append(a.incomplete, msg)
	}
}

// opIndex is the history index that names transaction t: its completion,
// or its invocation when it never completed.
func (a *analysis) opIndex(t int32) int64 { return a.p.txns[t].index() }

func (a *analysis) opTime(t int32) int64 { return a.p.txns[t].time }

// report records an anomaly of kind about transactions ts.
func (a *analysis) report(kind string, key int32, ts []int32, explain func() string) {
	a.reportWithCycle(kind, key, ts, nil, explain)
}

// reportWithCycle is report with the edges of a cycle through ts.
func (a *analysis) reportWithCycle(kind string, key int32, ts []int32, cycle []models.CycleEdge, explain func() string) {
	a.counts[kind]++
	if len(a.anomalies[kind]) >= a.c.maxAnomalies() {
		return
	}
	an := models.Anomaly{Kind: kind, Explanation: explain(), Cycle: cycle}
	if key >= 0 {
		an.Key = a.p.keys[key].String()
	}
	for i, t := range ts {
		an.Ops = append(an.Ops, a.opIndex(t))
		if tm := a.opTime(t); i == 0 || tm < an.Time {
			an.Time = tm
		}
	}
	a.anomalies[kind] = append(a.anomalies[kind], an)
}

// orders adds process and real-time edges between committed transactions.
// Only ok transactions precede anything: an info one may take effect at
// any time after its invocation.
func (a *analysis) orders(process, realtime bool) {
	a.g.n = len(a.nodes)
	txns := a.p.txns
	if process {
		last := map[history.Process]int32{}
		for t := range txns {
			x := &txns[t]
			if x.node < 0 || x.inv < 0 {
				continue
			}
			if prev, ok := last[x.proc]; ok {
				if y := &txns[prev]; y.typ == tOK && y.done < x.inv {
					a.g.addOrder(y.node, x.node, relProcess)
				}
			}
			last[x.proc] = int32(t)
		}
	}
	if !realtime {
		return
	}
	// Sweep the history keeping the frontier: ok transactions completed so
	// far that no completed transaction follows in real time. A new
	// transaction follows exactly the frontier; everything older reaches
	// it through the frontier, so the order stays transitively reduced.
	invAt := make([]int32, a.p.nops)
	doneAt := make([]int32, a.p.nops)
	for t := range txns {
		x := &txns[t]
		if x.node < 0 {
			continue
		}
		if x.inv >= 0 {
			invAt[x.inv] = int32(t) + 1
		}
		if x.typ == tOK && x.done >= 0 {
			doneAt[x.done] = int32(t) + 1
		}
	}
	preds := make([][2]int32, len(txns)) // range of a transaction's incoming edges
	inFront := make([]bool, len(a.nodes))
	var front []int32
	for pos := range a.p.nops {
		if t := invAt[pos] - 1; t >= 0 {
			lo := int32(len(a.g.edges))
			for _, f := range front {
				a.g.addOrder(f, txns[t].node, relRealtime)
			}
			preds[t] = [2]int32{lo, int32(len(a.g.edges))}
		}
		if t := doneAt[pos] - 1; t >= 0 {
			for _, e := range a.g.edges[preds[t][0]:preds[t][1]] {
				inFront[e.from] = false
			}
			front = slices.DeleteFunc(front, func(f int32) bool { return !inFront[f] })
			front = append(front, txns[t].node)
			inFront[txns[t].node] = true
		}
	}
}

// result fills res from the analysis.
func (a *analysis) result(res *models.Result) {
	p := a.p
	res.Stats = map[string]int64{"txns": int64(len(p.txns))}
	for _, t := range p.txns {
		switch t.typ {
		case tOK:
			res.Stats["ok"]++
		case tFail:
			res.Stats["failed"]++
		default:
			res.Stats["info"]++
		}
	}
	res.Stats["committed"] = int64(len(a.nodes))
	res.Stats["edges"] = int64(len(a.g.edges))
	for k, n := range map[string]int{"malformed": p.malformed, "unmatched_completions": p.unmatched, "other_ops": p.other} {
		if n > 0 {
			res.Stats[k] = int64(n)
		}
	}
	kinds := make([]string, 0, len(a.counts))
	for k, n := range a.counts {
		kinds = append(kinds, k)
		res.Stats[k] = n
	}
	slices.SortFunc(kinds, kindOrder)

	judged := rank(a.c.consistency())
	weakest := len(Consistencies())
	var listed []string
	for _, k := range kinds {
		r := rank(kindModel(k))
		weakest = min(weakest, r)
		if r <= judged {
			res.Anomalies = append(res.Anomalies, a.anomalies[k]...)
			listed = append(listed, fmt.Sprintf("%s (%d)", k, a.counts[k]))
		}
	}
	if len(kinds) > 0 {
		res.Properties = map[string]string{
			"anomalies": strings.Join(kinds, ","),
			"violates":  strings.Join(Consistencies()[weakest:], ","),
		}
	}

	var notes []string
	if p.malformed > 0 {
		notes = append(notes, fmt.Sprintf("%d malformed transaction(s) left out (first: %s)", p.malformed, p.firstMalformed))
	}
	notes = append(notes, a.incomplete...)
	switch {
	case len(listed) > 0:
		res.Verdict = models.Invalid
		reason := fmt.Sprintf("not %s: %s", a.c.consistency(), strings.Join(listed, ", "))
		if len(res.Anomalies) > 0 {
			reason += ". " + res.Anomalies[0].Explanation
		}
		res.Reason = reason
	case len(p.txns) == 0:
		res.Verdict = models.Unknown
		res.Reason = "no txn ops to check"
		if len(notes) > 0 {
			res.Reason += "; " + strings.Join(notes, "; ")
		}
		return
	case len(notes) > 0:
		res.Verdict = models.Unknown
	default:
		res.Verdict = models.Valid
	}
	if len(listed) == 0 && len(kinds) > 0 {
		var found []string
		for _, k := range kinds {
			found = append(found, fmt.Sprintf("%s (%d)", k, a.counts[k]))
		}
		res.Reason = fmt.Sprintf("%s allows what was found: %s, which rules out %s", a.c.consistency(), strings.Join(found, ", "), Consistencies()[weakest])
	}
	if len(notes) > 0 {
		res.Reason = strings.Join(append([]string{res.Reason}, notes...), "; ")
		res.Reason = strings.TrimPrefix(res.Reason, "; ")
	}
}
