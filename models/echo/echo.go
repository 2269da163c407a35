// Package echo checks histories of an echo service: ops F "echo" whose
// invocation carries the value sent and whose ok completion carries the
// value that came back. Every ok reply must carry exactly what was sent
// (compared as JSON values, see models.ValueKey); a fail or indeterminate
// echo says nothing. This is what Maelstrom's echo workload checks.
package echo

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// Name is the checker's and the model's name.
const Name = "echo"

// AnomalyKind is the kind of an ok reply that did not echo what was sent.
const AnomalyKind = "echo-mismatch"

// DefaultMaxAnomalies bounds the anomalies a result lists when
// Checker.MaxAnomalies is zero; Stats count them all.
const DefaultMaxAnomalies = 100

// Checker checks echo histories. The zero value is ready to use.
type Checker struct {
	// MaxAnomalies bounds the anomalies listed (DefaultMaxAnomalies when
	// zero, no bound when negative).
	MaxAnomalies int
}

// New returns an echo checker.
func New() *Checker { return &Checker{} }

// Models returns the echo model.
func Models() models.Registry {
	return models.Registry{
		Name: {
			Summary: "echo: every ok reply carries exactly the value its request sent (Maelstrom echo)",
			New:     func() models.Checker { return New() },
		},
	}
}

var _ models.Checker = (*Checker)(nil)

// Name returns "echo".
func (c *Checker) Name() string { return Name }

// Check checks ops, given in history order. Each ok echo whose reply is
// not the value sent is one anomaly. Stats: attempted, ok, failed,
// indeterminate (info or unfinished), mismatched, and
// unmatched_completions when some completion had no invocation.
func (c *Checker) Check(ctx context.Context, ops []history.Op, opt models.Options) models.Result {
	start := time.Now()
	res := c.check(ctx, ops)
	res.DurationNS = time.Since(start).Nanoseconds()
	return res
}

func (c *Checker) check(ctx context.Context, ops []history.Op) models.Result {
	res := models.Result{Checker: Name, Model: Name}
	calls, _, unmatched := history.Pair(ops)
	maxAnom := cmp.Or(c.MaxAnomalies, DefaultMaxAnomalies)
	var attempted, ok, failed, indet, mismatched int64
	for i, cl := range calls {
		if i&0xffff == 0 && ctx.Err() != nil {
			res.Verdict = models.Unknown
			res.Reason = fmt.Sprintf("echo check stopped at call %d of %d: %v", i, len(calls), context.Cause(ctx))
			return res
		}
		inv := &ops[cl.Inv]
		if inv.F != "echo" {
			continue
		}
		attempted++
		switch cl.Type {
		case history.Fail:
			failed++
			continue
		case history.OK:
			ok++
		default:
			indet++
			continue
		}
		done := &ops[cl.Done]
		sent, err1 := models.ValueKey(inv.Value)
		got, err2 := models.ValueKey(done.Value)
		if err1 == nil && err2 == nil && sent == got {
			continue
		}
		mismatched++
		if maxAnom < 0 || len(res.Anomalies) < maxAnom {
			res.Anomalies = append(res.Anomalies, models.Anomaly{
				Kind: AnomalyKind,
				Ops:  []int64{inv.Index, done.Index},
				Explanation: fmt.Sprintf("Process %v's echo of %s%s (ops %d–%d) came back as %s",
					inv.Process, models.Show(inv.Value), on(inv, done), inv.Index, done.Index, models.Show(done.Value)),
				Time: inv.Time,
			})
		}
	}
	res.Stats = map[string]int64{
		"attempted":     attempted,
		"ok":            ok,
		"failed":        failed,
		"indeterminate": indet,
		"mismatched":    mismatched,
	}
	if unmatched > 0 {
		res.Stats["unmatched_completions"] = int64(unmatched)
	}
	switch {
	case mismatched > 0:
		res.Verdict = models.Invalid
		res.Reason = res.Anomalies[0].Explanation
		if mismatched > 1 {
			res.Reason = fmt.Sprintf("%d ok replies did not echo what was sent; the first: %s", mismatched, res.Anomalies[0].Explanation)
		}
	case ok == 0:
		res.Verdict = models.Unknown
		res.Reason = "no ok echoes to check"
	default:
		res.Verdict = models.Valid
	}
	return res
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
