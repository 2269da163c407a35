// Package uniqueids checks histories of a unique-id service: ops F
// "generate" whose ok completion carries the id the service returned. Every
// id acknowledged must be unique across the whole history, whichever node
// returned it and however often nodes restarted in between. Ids may be any
// JSON value; two are the same id when they are the same JSON value
// (models.ValueKey: strings exactly, numbers by value). A fail or
// indeterminate generate constrains nothing: an id nobody saw cannot
// collide. This is what Maelstrom's unique-ids workload checks.
package uniqueids

import (
	"cmp"
	"context"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// Name is the checker's and the model's name.
const Name = "unique-ids"

// AnomalyKind is the kind of an id acknowledged to more than one op.
const AnomalyKind = "duplicate-id"

// DefaultMaxAnomalies bounds the anomalies a result lists when
// Checker.MaxAnomalies is zero; Stats count them all.
const DefaultMaxAnomalies = 100

// maxNamed bounds the ops one anomaly's explanation names; its Ops list
// them all.
const maxNamed = 5

// Checker checks unique-id histories. The zero value is ready to use.
type Checker struct {
	// MaxAnomalies bounds the anomalies listed (DefaultMaxAnomalies when
	// zero, no bound when negative).
	MaxAnomalies int
}

// New returns a unique-ids checker.
func New() *Checker { return &Checker{} }

// Models returns the unique-ids model.
func Models() models.Registry {
	return models.Registry{
		Name: {
			Summary: "unique ids: every id an ok generate returned is returned to no other op, across all nodes and restarts (Maelstrom unique-ids)",
			New:     func() models.Checker { return New() },
		},
	}
}

var _ models.Checker = (*Checker)(nil)

// Name returns "unique-ids".
func (c *Checker) Name() string { return Name }

// Check checks ops, given in history order. Each id returned to more than
// one ok generate is one anomaly, naming every op that got it. Stats:
// attempted, acknowledged, failed, indeterminate (info or unfinished),
// distinct (ids acknowledged), duplicated (ids acknowledged more than
// once), duplicate_acks (acknowledgements beyond each id's first), and
// unmatched_completions when some completion had no invocation.
// Properties: id_types (the JSON types of the ids: string, integer,
// number, or several joined by "+"), and id_min and id_max when every id
// is a number.
func (c *Checker) Check(ctx context.Context, ops []history.Op, opt models.Options) models.Result {
	start := time.Now()
	res := c.check(ctx, ops)
	res.DurationNS = time.Since(start).Nanoseconds()
	return res
}

// got is one ok generate: the positions of its invocation and completion.
type got struct{ inv, done int }

func (c *Checker) check(ctx context.Context, ops []history.Op) models.Result {
	res := models.Result{Checker: Name, Model: Name}
	calls, _, unmatched := history.Pair(ops)
	maxAnom := cmp.Or(c.MaxAnomalies, DefaultMaxAnomalies)

	var attempted, acked, failed, indet int64
	byID := map[string][]got{}
	var order []string // ids in the order first acknowledged
	types := map[string]bool{}
	var lo, hi *big.Float
	var loText, hiText string
	allNumbers := true
	for i, cl := range calls {
		if i&0xffff == 0 && ctx.Err() != nil {
			res.Verdict = models.Unknown
			res.Reason = fmt.Sprintf("unique-ids check stopped at call %d of %d: %v", i, len(calls), context.Cause(ctx))
			return res
		}
		if ops[cl.Inv].F != "generate" {
			continue
		}
		attempted++
		switch cl.Type {
		case history.OK:
			acked++
		case history.Fail:
			failed++
			continue
		default:
			indet++
			continue
		}
		v := ops[cl.Done].Value
		key, err := models.ValueKey(v)
		if err != nil {
			key = "?" + fmt.Sprint(v) // not JSON (a hand-made history): compare as printed
		}
		if _, seen := byID[key]; !seen {
			order = append(order, key)
		}
		byID[key] = append(byID[key], got{cl.Inv, cl.Done})

		t, num := idType(key)
		types[t] = true
		if num == nil {
			allNumbers = false
			continue
		}
		if lo == nil || num.Cmp(lo) < 0 {
			lo, loText = num, key
		}
		if hi == nil || num.Cmp(hi) > 0 {
			hi, hiText = num, key
		}
	}

	var duplicated, extra int64
	for _, key := range order {
		gs := byID[key]
		if len(gs) < 2 {
			continue
		}
		duplicated++
		extra += int64(len(gs) - 1)
		if maxAnom < 0 || len(res.Anomalies) < maxAnom {
			res.Anomalies = append(res.Anomalies, anomaly(ops, gs))
		}
	}

	res.Stats = map[string]int64{
		"attempted":      attempted,
		"acknowledged":   acked,
		"failed":         failed,
		"indeterminate":  indet,
		"distinct":       int64(len(byID)),
		"duplicated":     duplicated,
		"duplicate_acks": extra,
	}
	if unmatched > 0 {
		res.Stats["unmatched_completions"] = int64(unmatched)
	}
	if len(types) > 0 {
		ts := make([]string, 0, len(types))
		for t := range types {
			ts = append(ts, t)
		}
		slices.Sort(ts)
		res.Properties = map[string]string{"id_types": strings.Join(ts, "+")}
		if allNumbers {
			res.Properties["id_min"], res.Properties["id_max"] = loText, hiText
		}
	}
	switch {
	case duplicated > 0:
		res.Verdict = models.Invalid
		res.Reason = res.Anomalies[0].Explanation
		if duplicated > 1 {
			res.Reason = fmt.Sprintf("%d ids were returned more than once (%d extra acknowledgements); the first: %s",
				duplicated, extra, res.Anomalies[0].Explanation)
		}
	case acked == 0:
		res.Verdict = models.Unknown
		res.Reason = "no ids acknowledged to check"
	default:
		res.Verdict = models.Valid
	}
	return res
}

// idType names the JSON type of an id from its canonical text (key) and,
// for a number, returns its value.
func idType(key string) (string, *big.Float) {
	if key == "" || key[0] == '?' {
		return "other", nil
	}
	switch key[0] {
	case '"':
		return "string", nil
	case '[':
		return "array", nil
	case '{':
		return "object", nil
	case 't', 'f':
		return "boolean", nil
	case 'n':
		return "null", nil
	}
	f, _, err := big.ParseFloat(key, 10, 256, big.ToNearestEven)
	if err != nil {
		return "other", nil
	}
	if f.IsInt() {
		return "integer", f
	}
	return "number", f
}

// anomaly explains one id returned to the ops gs (in history order).
func anomaly(ops []history.Op, gs []got) models.Anomaly {
	first := &ops[gs[0].done]
	a := models.Anomaly{Kind: AnomalyKind, Time: ops[gs[0].inv].Time}
	var named []string
	for i, g := range gs {
		inv, done := &ops[g.inv], &ops[g.done]
		a.Ops = append(a.Ops, inv.Index, done.Index)
		if i < maxNamed {
			named = append(named, fmt.Sprintf("process %v%s at %s (ops %d–%d)",
				inv.Process, on(done, inv), seconds(done.Time), inv.Index, done.Index))
		}
	}
	if len(gs) > maxNamed {
		named = append(named, fmt.Sprintf("and %d more", len(gs)-maxNamed))
	}
	a.Explanation = fmt.Sprintf("id %s was returned %d times: to %s", models.Show(first.Value), len(gs), strings.Join(named, ", "))
	return a
}

// on names the node an op went to, when the history says.
func on(ops ...*history.Op) string {
	for _, op := range ops {
		if op.Node != "" {
			return " on " + op.Node
		}
	}
	return ""
}

// seconds renders a history time (ns since the run started).
func seconds(ns int64) string {
	return time.Duration(ns).Round(time.Millisecond).String()
}
