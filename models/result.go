// Package models holds faultline's consistency checkers: pure Go functions
// from a recorded history to a verdict. Nothing here knows Docker or any
// target system. Sub-packages hold the individual models (linear: porcupine
// models for linearizability); this package holds the shared result types.
package models

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/faultline/faultline/models/history"
)

// Verdict is a checker's three-valued answer.
type Verdict string

// The verdicts. Combined, invalid beats unknown beats valid.
const (
	Valid   Verdict = "valid"
	Invalid Verdict = "invalid"
	Unknown Verdict = "unknown"
)

func (v Verdict) rank() int {
	switch v {
	case Valid:
		return 0
	case Unknown:
		return 1
	case Invalid:
		return 2
	}
	return 1
}

// Combine returns the verdict of several checks: invalid if any is invalid,
// else unknown if any is unknown, else valid. No verdicts at all is unknown.
func Combine(vs ...Verdict) Verdict {
	if len(vs) == 0 {
		return Unknown
	}
	out := Valid
	for _, v := range vs {
		if v.rank() > out.rank() {
			out = v
		}
	}
	return out
}

// Anomaly is one violation a checker found.
type Anomaly struct {
	// Kind names the anomaly, e.g. "nonlinearizable", "stale-read".
	Kind string `json:"kind"`
	// Key is the object it concerns, when the history has several.
	Key string `json:"key,omitempty"`
	// Ops are the history indexes of the ops involved.
	Ops []int64 `json:"ops"`
	// Explanation is one sentence a person can follow.
	Explanation string `json:"explanation"`
	// Time is the earliest time (ns since run start) of the ops involved, so
	// a report can place the anomaly next to the faults active then.
	Time int64 `json:"time"`
	// Cycle, for a dependency cycle, is its edges in order: edge i runs
	// from the transaction named by Ops[i] to the one named by
	// Ops[(i+1)%len(Ops)], so a report can draw the cycle without parsing
	// the explanation.
	Cycle []CycleEdge `json:"cycle,omitempty"`
}

// CycleEdge is one edge of a dependency cycle.
type CycleEdge struct {
	// Rel is why the first transaction precedes the second: "ww", "wr",
	// "rw", "process" or "realtime".
	Rel string `json:"rel"`
	// Key is the object of a ww, wr or rw edge.
	Key string `json:"key,omitempty"`
}

// Result is what one checker says about one history.
type Result struct {
	// Checker names the checker, e.g. "linearizable".
	Checker string `json:"checker"`
	// Model names the model checked against, e.g. "cas-register".
	Model string `json:"model,omitempty"`
	// Verdict is valid, invalid or unknown.
	Verdict Verdict `json:"verdict"`
	// Reason says why the verdict is unknown (or summarises invalid).
	Reason string `json:"reason,omitempty"`
	// Anomalies found; empty when valid.
	Anomalies []Anomaly `json:"anomalies,omitempty"`
	// Stats are checker-specific counts (keys checked, ops, ...).
	Stats map[string]int64 `json:"stats,omitempty"`
	// Properties are checker-specific findings that are not counts, e.g.
	// "delivery": "at-least-once", "convergence_time": "1.2s",
	// "violates": "serializable,snapshot-isolation".
	Properties map[string]string `json:"properties,omitempty"`
	// DurationNS is how long the check took.
	DurationNS int64 `json:"duration_ns"`
	// Artifacts are files the checker wrote, relative to the run directory
	// (e.g. "linearizability.html").
	Artifacts []string `json:"artifacts,omitempty"`
}

// Options carries what every checker may need beyond the history.
type Options struct {
	// Create, when set, creates the artifact file name (a visualization),
	// which the checker writes and closes. Checkers never open paths
	// themselves: the harness decides where artifacts go and how (staged
	// inside the run directory, links refused).
	Create func(name string) (io.WriteCloser, error)
}

// Checker judges a history.
type Checker interface {
	// Name is the checker's name as it appears in results.json.
	Name() string
	// Check returns the checker's result. It honours ctx: when ctx is done
	// it returns Unknown with the reason, never an error.
	Check(ctx context.Context, ops []history.Op, opt Options) Result
}

// Registry lists the models faultline can check, for `faultline list` and
// `faultline check --model`.
type Registry map[string]Entry

// Entry describes one model.
type Entry struct {
	// Summary is one line for `faultline list`.
	Summary string
	// New returns a fresh checker for the model.
	New func() Checker
}

// Lookup returns the model with the given name or an error listing the known ones.
func (r Registry) Lookup(name string) (Entry, error) {
	e, ok := r[name]
	if !ok {
		return Entry{}, fmt.Errorf("unknown model %q (known: %v)", name, r.Names())
	}
	return e, nil
}

// Names returns the model names, sorted.
func (r Registry) Names() []string {
	names := make([]string, 0, len(r))
	for n := range r {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Narrow bounds ctx by limit when limit is positive, for a checker's own
// per-key limit; otherwise ctx (the caller's deadline, from check --timeout
// or the spec's check_timeout) is the whole budget: no hidden fixed cap.
func Narrow(ctx context.Context, limit time.Duration) (context.Context, context.CancelFunc) {
	if limit > 0 {
		return context.WithTimeout(ctx, limit)
	}
	return ctx, func() {}
}
