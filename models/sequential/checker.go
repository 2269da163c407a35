package sequential

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/models/linear"
)

// Name is the checker's name in results.
const Name = "sequential"

// Model names for the registry: Sequential is the key-value store (and
// so the register and cas-register) key by key; SequentialWhole the store
// as one object; the others one object model each, key by key.
const (
	Sequential          = "sequential"
	SequentialWhole     = "sequential-whole"
	SequentialMutex     = "sequential-mutex"
	SequentialFIFOQueue = "sequential-fifo-queue"
	SequentialSet       = "sequential-set"
	SequentialCounter   = "sequential-counter"
)

// AnomalyKind is the kind of a key that is not sequentially consistent;
// NonMonotonicReadKind and ReadYourWritesKind name the register anomalies
// proved by program order alone.
const (
	AnomalyKind          = "not-sequential"
	NonMonotonicReadKind = "non-monotonic-read"
	ReadYourWritesKind   = "read-your-writes"
)

// Checker checks a history for sequential consistency against one object
// model of package linear. The zero value checks the kv model key by key.
type Checker struct {
	// Model is a model of package linear (linear.KV when empty).
	Model string
	// Whole checks all keys together as one object instead of each key
	// on its own (see the package doc).
	Whole bool
	// Timeout, when positive, bounds the search of each key below the
	// context's deadline; zero or negative adds no bound of its own, so the
	// caller's budget (check --timeout, the spec's check_timeout) holds.
	Timeout time.Duration
	// Parallelism is how many keys are searched at once (GOMAXPROCS when
	// zero).
	Parallelism int
	// window overrides realTimeWindow, for tests.
	window int32
}

var _ models.Checker = (*Checker)(nil)

// Name returns "sequential".
func (c *Checker) Name() string { return Name }

func (c *Checker) model() string { return cmp.Or(c.Model, linear.KV) }

// keyContext bounds the search of one key: by ctx, and by Timeout when
// set. There is no fixed cap here: the caller's deadline is the budget.
func (c *Checker) keyContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return models.Narrow(ctx, c.Timeout)
}

// Models returns the sequential consistency models of this package, for
// the catalog.
func Models() models.Registry {
	entry := func(c Checker, summary string) models.Entry {
		return models.Entry{Summary: summary, New: func() models.Checker { cc := c; return &cc }}
	}
	return models.Registry{
		Sequential:          entry(Checker{Model: linear.KV}, "sequential consistency per key of a register/kv store: one order keeping each process's order, not real time (Lamport 1979); checked key by key, so valid means each key alone (see sequential-whole)"),
		SequentialWhole:     entry(Checker{Model: linear.KV, Whole: true}, "sequential consistency of a whole kv store, all keys in one order (Lamport 1979); exponential, for small histories"),
		SequentialMutex:     entry(Checker{Model: linear.Mutex}, "sequential consistency per key of a mutex: acquire, release by an owner (Lamport 1979)"),
		SequentialFIFOQueue: entry(Checker{Model: linear.FIFOQueue}, "sequential consistency per key of a FIFO queue: enqueue, dequeue (Lamport 1979)"),
		SequentialSet:       entry(Checker{Model: linear.Set}, "sequential consistency per key of a grow-only set: add, read (Lamport 1979)"),
		SequentialCounter:   entry(Checker{Model: linear.Counter}, "sequential consistency per key of a counter: add, read (Lamport 1979)"),
	}
}

// keyResult is the outcome of one key.
type keyResult struct {
	verdict models.Verdict
	reason  string
	anomaly *models.Anomaly
	nodes   int64
	memo    int
}

// Check checks ops, given in history order. It never fails: malformed ops,
// an exhausted context or a timeout make the verdict unknown with a reason.
// Each invalid key yields one anomaly. Stats: keys, ops (checked),
// indeterminate (of those, ops of unknown outcome), failed, invalid_keys,
// unknown_keys, nodes (branching points searched), dead_ends (remembered),
// and unmatched_completions when some completion had no invocation.
// Properties: scope ("per-key" or "whole") and sessions ("process").
func (c *Checker) Check(ctx context.Context, ops []history.Op, _ models.Options) models.Result {
	start := time.Now()
	res := c.check(ctx, ops)
	res.DurationNS = time.Since(start).Nanoseconds()
	return res
}

func (c *Checker) check(ctx context.Context, ops []history.Op) models.Result {
	res := models.Result{Checker: Name, Model: c.model(), Properties: map[string]string{"scope": "per-key", "sessions": "process"}}
	spec, err := linear.SpecFor(c.model())
	if err != nil {
		res.Verdict, res.Reason = models.Unknown, err.Error()
		return res
	}
	p := linear.Prepare(ops, spec)
	objs := p.Objects
	if c.Whole {
		res.Properties["scope"] = "whole"
		var w *linear.Object
		spec, w = whole(spec, objs)
		objs = nil
		if w != nil {
			objs = []*linear.Object{w}
		}
	}
	results := c.checkKeys(ctx, spec, objs, ops)

	var nops, indet, invalid, unknown int
	var nodes int64
	var memo int
	var verdicts []models.Verdict
	var invalidNames, unknownReasons []string
	for i, o := range objs {
		nops += len(o.Ops)
		indet += o.Indeterminate
		r := results[i]
		nodes += r.nodes
		memo += r.memo
		verdicts = append(verdicts, r.verdict)
		switch r.verdict {
		case models.Invalid:
			invalid++
			invalidNames = append(invalidNames, cmp.Or(o.Key, "(no key)"))
			res.Anomalies = append(res.Anomalies, *r.anomaly)
		case models.Unknown:
			unknown++
			unknownReasons = append(unknownReasons, r.reason)
		}
	}
	res.Stats = map[string]int64{
		"keys":          int64(len(objs)),
		"ops":           int64(nops),
		"indeterminate": int64(indet),
		"failed":        int64(p.Failed),
		"invalid_keys":  int64(invalid),
		"unknown_keys":  int64(unknown),
		"nodes":         nodes,
		"dead_ends":     int64(memo),
	}
	if p.Unmatched > 0 {
		res.Stats["unmatched_completions"] = int64(p.Unmatched)
	}
	if len(objs) == 0 {
		res.Verdict = models.Unknown
		res.Reason = fmt.Sprintf("no %s ops with a known or possible effect to check", orList(spec.Functions()))
		return res
	}
	res.Verdict = models.Combine(verdicts...)
	res.Reason = summarize(len(objs), res.Anomalies, invalidNames, unknownReasons)
	return res
}

// summarize writes the result's reason: the invalid keys (with the
// explanation when there is one), then the keys that could not be judged.
func summarize(keys int, anomalies []models.Anomaly, invalid, unknown []string) string {
	var parts []string
	switch {
	case len(invalid) == 1:
		parts = append(parts, anomalies[0].Explanation)
	case len(invalid) > 1:
		names := invalid
		if len(names) > 10 {
			names = append(names[:10:10], "...")
		}
		parts = append(parts, fmt.Sprintf("%d of %d keys are not sequentially consistent: %s", len(invalid), keys, strings.Join(names, ", ")))
	}
	switch {
	case len(unknown) == 1:
		parts = append(parts, unknown[0])
	case len(unknown) > 1:
		shown := unknown
		if len(shown) > 3 {
			shown = append(shown[:3:3], "...")
		}
		parts = append(parts, fmt.Sprintf("%d of %d keys could not be checked: %s", len(unknown), keys, strings.Join(shown, "; ")))
	}
	return strings.Join(parts, "; ")
}

func (c *Checker) checkKeys(ctx context.Context, spec linear.Spec, objs []*linear.Object, ops []history.Op) []keyResult {
	results := make([]keyResult, len(objs))
	workers := c.Parallelism
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, len(objs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				results[i] = c.checkKey(ctx, spec, objs[i], ops)
			}
		})
	}
	for i := range objs {
		next <- i
	}
	close(next)
	wg.Wait()
	return results
}

// checkKey searches one key within the per-key timeout and ctx.
func (c *Checker) checkKey(ctx context.Context, spec linear.Spec, obj *linear.Object, ops []history.Op) keyResult {
	if obj.Err != nil {
		return keyResult{verdict: models.Unknown, reason: fmt.Sprintf("%s cannot be checked: %v", obj.Label(), obj.Err)}
	}
	start := time.Now()
	kctx, cancel := c.keyContext(ctx)
	defer cancel()
	sr := newSearcher(spec, obj)
	sr.first = c.window
	out := sr.run(kctx)
	r := keyResult{nodes: out.nodes, memo: out.memo}
	switch {
	case out.ok:
		r.verdict = models.Valid
	case out.err != nil:
		what := fmt.Sprintf("sequential consistency check of %s (%d ops, %d indeterminate)", obj.Label(), len(obj.Ops), obj.Indeterminate)
		if obj.Key == "" {
			what = fmt.Sprintf("sequential consistency check (%d ops, %d indeterminate)", len(obj.Ops), obj.Indeterminate)
		}
		took := time.Since(start).Round(time.Millisecond)
		r.verdict = models.Unknown
		switch {
		case ctx.Err() == nil:
			r.reason = fmt.Sprintf("%s timed out after %v", what, c.Timeout)
		case errors.Is(context.Cause(ctx), context.DeadlineExceeded):
			r.reason = fmt.Sprintf("%s timed out after %v (the check's deadline)", what, took)
		default:
			r.reason = fmt.Sprintf("%s stopped after %v: %v", what, took, context.Cause(ctx))
		}
	default:
		a := explain(spec, obj, ops, out)
		r.verdict, r.anomaly = models.Invalid, &a
	}
	return r
}

// orList joins words as "a, b or c".
func orList(words []string) string {
	if len(words) <= 1 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}
