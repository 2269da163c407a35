package linear

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// Model names.
const (
	// CASRegister is a register with read, write and compare-and-set.
	CASRegister = "cas-register"
	// Register is a register with read and write only.
	Register = "register"
	// KV is a key-value store: a compare-and-set register per key, the
	// key taken from the op's Key or from Jepsen's [key value] tuples.
	KV = "kv"
	// Mutex is a non-reentrant lock with owners: acquire, release.
	Mutex = "mutex"
	// FIFOQueue is a first-in first-out queue: enqueue, dequeue.
	FIFOQueue = "fifo-queue"
	// Set is a grow-only set: add, read.
	Set = "set-linearizable"
	// Counter is a counter: add, read.
	Counter = "counter-linearizable"
)

// Name is the checker's name in results.
const Name = "linearizable"

// VisualizationFile is the name of the HTML file created with Options.Create.
const VisualizationFile = "linearizability.html"

// DefaultMaxVisualizedOps is the visualization's bound when
// Checker.MaxVisualizedOps is zero.
const DefaultMaxVisualizedOps = 10000

// Checker checks a history for linearizability against one object model.
// The zero value checks a cas-register with the defaults.
type Checker struct {
	// Model is the model's name: CASRegister (when empty), Register, KV,
	// Mutex, FIFOQueue, Set or Counter.
	Model string
	// Timeout, when positive, bounds the check of each key below the
	// context's deadline; zero or negative adds no bound of its own, so the
	// caller's budget (check --timeout, the spec's check_timeout) holds. A
	// key that runs out of time is unknown.
	Timeout time.Duration
	// MaxVisualizedOps bounds the ops of valid keys drawn in the
	// visualization (DefaultMaxVisualizedOps when zero); invalid keys are
	// always drawn.
	MaxVisualizedOps int
	// Parallelism is how many keys are checked at once (GOMAXPROCS when
	// zero).
	Parallelism int
	// Porcupine forces porcupine's search for every model. By default the
	// register models (register, cas-register, kv) are checked by
	// faultline's own search (search.go), which agrees with porcupine's
	// verdicts and scales to a million entries on one key; the other
	// models always use porcupine.
	Porcupine bool
}

// NewCASRegister returns a checker of the compare-and-set register model.
func NewCASRegister() *Checker { return &Checker{Model: CASRegister} }

// NewRegister returns a checker of the read/write register model.
func NewRegister() *Checker { return &Checker{Model: Register} }

// NewKV returns a checker of the key-value store model.
func NewKV() *Checker { return &Checker{Model: KV} }

// NewMutex returns a checker of the mutex model.
func NewMutex() *Checker { return &Checker{Model: Mutex} }

// NewFIFOQueue returns a checker of the FIFO queue model.
func NewFIFOQueue() *Checker { return &Checker{Model: FIFOQueue} }

// NewSet returns a checker of the set model.
func NewSet() *Checker { return &Checker{Model: Set} }

// NewCounter returns a checker of the counter model.
func NewCounter() *Checker { return &Checker{Model: Counter} }

var _ models.Checker = (*Checker)(nil)

// Name returns "linearizable".
func (c *Checker) Name() string { return Name }

func (c *Checker) model() string { return cmp.Or(c.Model, CASRegister) }

// keyContext bounds the check of one key: by ctx, and by Timeout when set.
// There is no fixed cap here: the caller's deadline is the budget.
func (c *Checker) keyContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return models.Narrow(ctx, c.Timeout)
}

// keyResult is the outcome of checking one key.
type keyResult struct {
	verdict models.Verdict
	reason  string
	anomaly *models.Anomaly
	// info is kept only when the history has a single key, so that the
	// visualization can reuse it instead of checking again.
	info *porcupine.LinearizationInfo
	// own is true when faultline's own search judged the key (info is
	// then nil).
	own bool
	// window, for an invalid key too large for porcupine, is the part of
	// it the visualization draws instead (see window).
	window []porcupine.Operation
}

// Check checks ops, given in history order, and returns the verdict. It
// never fails: malformed ops, an exhausted context or a timeout make the
// verdict unknown with a reason. Each invalid key yields one anomaly naming
// the op that cannot be linearized. Stats: keys, ops (checked: fail ops,
// and ops of unknown outcome that constrain nothing, excluded; see
// Prepare), indeterminate (of those, ops of unknown outcome), failed,
// invalid_keys, unknown_keys, and
// unmatched_completions when some completion had no invocation. With
// opt.Create set it writes VisualizationFile with it and lists it in
// Artifacts.
func (c *Checker) Check(ctx context.Context, ops []history.Op, opt models.Options) models.Result {
	start := time.Now()
	res := c.check(ctx, ops, opt)
	res.DurationNS = time.Since(start).Nanoseconds()
	return res
}

func (c *Checker) check(ctx context.Context, ops []history.Op, opt models.Options) models.Result {
	res := models.Result{Checker: Name, Model: c.model()}
	spec, err := SpecFor(c.model())
	if err != nil {
		res.Verdict = models.Unknown
		res.Reason = err.Error()
		return res
	}
	p := prepare(ops, spec)
	results := c.checkKeys(ctx, spec, p, ops)

	var nops, indet, invalid, unknown int
	var verdicts []models.Verdict
	var invalidNames, unknownReasons []string
	for i, kh := range p.keys {
		nops += len(kh.ops)
		indet += kh.indet
		r := results[i]
		verdicts = append(verdicts, r.verdict)
		switch r.verdict {
		case models.Invalid:
			invalid++
			invalidNames = append(invalidNames, cmp.Or(kh.name, "(no key)"))
			res.Anomalies = append(res.Anomalies, *r.anomaly)
		case models.Unknown:
			unknown++
			unknownReasons = append(unknownReasons, r.reason)
		}
	}
	res.Stats = map[string]int64{
		"keys":          int64(len(p.keys)),
		"ops":           int64(nops),
		"indeterminate": int64(indet),
		"failed":        int64(p.failed),
		"invalid_keys":  int64(invalid),
		"unknown_keys":  int64(unknown),
	}
	if p.unmatched > 0 {
		res.Stats["unmatched_completions"] = int64(p.unmatched)
	}
	if len(p.keys) == 0 {
		res.Verdict = models.Unknown
		res.Reason = fmt.Sprintf("no %s ops with a known or possible effect to check", orList(spec.Functions()))
		return res
	}
	res.Verdict = models.Combine(verdicts...)
	res.Reason = summarize(p, res.Anomalies, invalidNames, unknownReasons)

	if opt.Create != nil && ctx.Err() == nil {
		wrote, err := c.visualize(ctx, opt.Create, spec, p, results, ops)
		switch {
		case err != nil:
			note := fmt.Sprintf("%s not written: %v", VisualizationFile, err)
			if res.Reason == "" {
				res.Reason = note
			} else {
				res.Reason += "; " + note
			}
		case wrote:
			res.Artifacts = append(res.Artifacts, VisualizationFile)
		}
	}
	return res
}

// summarize writes the result's reason: the invalid keys (with the
// explanation when there is one), then the keys that could not be judged.
func summarize(p prepared, anomalies []models.Anomaly, invalid, unknown []string) string {
	var parts []string
	switch {
	case len(invalid) == 1:
		parts = append(parts, anomalies[0].Explanation)
	case len(invalid) > 1:
		names := invalid
		if len(names) > 10 {
			names = append(names[:10:10], "...")
		}
		parts = append(parts, fmt.Sprintf("%d of %d keys are not linearizable: %s", len(invalid), len(p.keys), strings.Join(names, ", ")))
	}
	switch {
	case len(unknown) == 1:
		parts = append(parts, unknown[0])
	case len(unknown) > 1:
		shown := unknown
		if len(shown) > 3 {
			shown = append(shown[:3:3], "...")
		}
		parts = append(parts, fmt.Sprintf("%d of %d keys could not be checked: %s", len(unknown), len(p.keys), strings.Join(shown, "; ")))
	}
	return strings.Join(parts, "; ")
}

// checkKeys checks every key, several at a time.
func (c *Checker) checkKeys(ctx context.Context, spec Spec, p prepared, ops []history.Op) []keyResult {
	results := make([]keyResult, len(p.keys))
	workers := c.Parallelism
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, len(p.keys))
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				results[i] = c.checkKey(ctx, spec, p.keys[i], ops, len(p.keys) == 1)
			}
		})
	}
	for i := range p.keys {
		next <- i
	}
	close(next)
	wg.Wait()
	return results
}

// checkKey checks one key within the per-key timeout and ctx.
func (c *Checker) checkKey(ctx context.Context, spec Spec, kh *keyHistory, ops []history.Op, keepInfo bool) keyResult {
	if kh.reject != nil {
		return keyResult{verdict: models.Unknown, reason: fmt.Sprintf("%s cannot be checked: %v", kh.label(), kh.reject)}
	}
	start := time.Now()
	kctx, cancel := c.keyContext(ctx)
	defer cancel()
	stop := new(atomic.Bool)
	defer context.AfterFunc(kctx, func() { stop.Store(true) })()
	if kctx.Err() != nil {
		stop.Store(true)
	}
	var (
		verdict porcupine.CheckResult
		info    porcupine.LinearizationInfo
		found   searchResult
		own     = !c.Porcupine && searchable(spec)
	)
	switch {
	case own && !isRegister(spec):
		verdict, info, found, own = race(kctx, spec, kh)
	case own:
		found = searchKey(kctx, spec, kh)
		verdict = found.verdict()
	default:
		model := newModel(spec, stop, nil)
		verdict, info = porcupine.CheckOperationsVerbose(model, kh.ops, 0)
	}
	if (kctx.Err() != nil && verdict != porcupine.Ok) || found.stopped {
		// Steps refused after the deadline make porcupine say Illegal;
		// only Ok (every step a real one) survives cancellation.
		what := fmt.Sprintf("linearizability check of %s (%d ops, %d indeterminate)", kh.label(), len(kh.ops), kh.indet)
		if kh.name == "" {
			what = fmt.Sprintf("linearizability check (%d ops, %d indeterminate)", len(kh.ops), kh.indet)
		}
		took := time.Since(start).Round(time.Millisecond)
		switch {
		case ctx.Err() == nil:
			return keyResult{verdict: models.Unknown, reason: fmt.Sprintf("%s timed out after %v", what, c.Timeout)}
		case errors.Is(context.Cause(ctx), context.DeadlineExceeded):
			return keyResult{verdict: models.Unknown, reason: fmt.Sprintf("%s timed out after %v (the check's deadline)", what, took)}
		}
		return keyResult{verdict: models.Unknown, reason: fmt.Sprintf("%s stopped after %v: %v", what, took, context.Cause(ctx))}
	}
	r := keyResult{verdict: models.Valid, own: own}
	if verdict == porcupine.Illegal {
		var a models.Anomaly
		switch {
		case !own:
			a = explain(spec, kh, ops, info)
		default:
			pinfo, pok, agree := c.porcupineAgain(kctx, spec, kh, time.Since(start))
			if !agree {
				return keyResult{verdict: models.Unknown, reason: fmt.Sprintf("%s: faultline's search found no linearization but porcupine found one; please report this history", kh.label())}
			}
			switch {
			case pok:
				a, r.info = explain(spec, kh, ops, pinfo), &pinfo
			default:
				a = explainPrefix(spec, kh, ops, found.prefix)
				r.window = window(spec, kh, found.prefix)
			}
		}
		r.verdict, r.anomaly = models.Invalid, &a
	}
	if !keepInfo {
		r.info = nil
	} else if !own {
		r.info = &info
	}
	return r
}

// porcupineAgain runs porcupine on a key that faultline's own search found
// not linearizable, so that the explanation names porcupine's longest
// prefix and the visualization can draw it, as with porcupine alone. It
// runs only on keys of at most explainOps ops, and for at most ten times
// what the own search took (at least a second), since porcupine may need
// far longer on the same key. ok reports whether porcupine finished (and
// found the key illegal); agree is false only when it found a
// linearization, which would be a bug in one of the two searches.
func (c *Checker) porcupineAgain(ctx context.Context, spec Spec, kh *keyHistory, took time.Duration) (info porcupine.LinearizationInfo, ok, agree bool) {
	if len(kh.ops) > explainOps {
		return info, false, true
	}
	pctx, cancel := context.WithTimeout(ctx, max(time.Second, 10*took))
	defer cancel()
	stop := new(atomic.Bool)
	defer context.AfterFunc(pctx, func() { stop.Store(true) })()
	verdict, info := porcupine.CheckOperationsVerbose(newModel(spec, stop, nil), kh.ops, 0)
	switch {
	case verdict == porcupine.Ok:
		return info, false, false
	case pctx.Err() != nil:
		return info, false, true
	}
	return info, true, true
}

// explainOps bounds the keys on which porcupine runs again for the
// explanation and visualization of a violation the own search found:
// small keys, where it takes milliseconds. Larger keys are explained from
// the own search's prefix and drawn from a window around the violation.
const explainOps = 1000

// describeMeta renders an op's metadata in the visualization: its history
// indexes, process, node and times.
func describeMeta(ops []history.Op) func(any) string {
	timed := hasTimes(ops)
	return func(m any) string {
		ref, ok := m.(opRef)
		if !ok {
			s, _ := m.(string) // a window's synthetic op says what it is
			return s
		}
		inv := ops[ref.inv]
		var sb strings.Builder
		if ref.done >= 0 {
			done := ops[ref.done]
			fmt.Fprintf(&sb, "ops %d→%d, %s, process %v", inv.Index, done.Index, done.Type, inv.Process)
			if inv.Node != "" {
				fmt.Fprintf(&sb, ", node %s", inv.Node)
			}
			if timed {
				fmt.Fprintf(&sb, ", t %s→%s", seconds(inv.Time), seconds(done.Time))
			}
			if done.Error != "" {
				fmt.Fprintf(&sb, ", error %s", done.Error)
			}
		} else {
			fmt.Fprintf(&sb, "op %d, never completed, process %v", inv.Index, inv.Process)
			if inv.Node != "" {
				fmt.Fprintf(&sb, ", node %s", inv.Node)
			}
			if timed {
				fmt.Fprintf(&sb, ", t %s", seconds(inv.Time))
			}
		}
		return sb.String()
	}
}

// hasTimes reports whether ops carry times at all (imported Jepsen
// histories may not), so that descriptions leave out meaningless zeros.
func hasTimes(ops []history.Op) bool {
	for _, op := range ops {
		if op.Time != 0 {
			return true
		}
	}
	return false
}

func seconds(ns int64) string {
	return fmt.Sprintf("%.3fs", float64(ns)/1e9)
}
