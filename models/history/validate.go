package history

import (
	"fmt"
	"sort"
	"strings"
)

// The kinds of op Validate finds against the assumptions every checker
// pairs by: each client process does one operation at a time, invoking it
// and then completing it with the same f; the fault injector is Nuker.
const (
	// CompletionWithoutInvocation is a completion whose process has no
	// pending invocation (a log excerpt that starts mid-run has some).
	CompletionWithoutInvocation = "completion_without_invocation"
	// InvokeWhilePending is an invocation by a process whose previous
	// invocation never completed.
	InvokeWhilePending = "invoke_while_pending"
	// FDiffers is a completion whose f is not its invocation's.
	FDiffers = "completion_f_differs"
	// NegativeProcess is an op of a negative process other than Nuker.
	NegativeProcess = "negative_process"
	// UnknownType is an op whose type is not invoke, ok, fail or info.
	UnknownType = "unknown_type"
)

// Report is what Validate found, by kind, according to what it means for
// the checkers:
//
//   - Ignored ops are left out of what the checkers judge. A completion
//     without an invocation has no start to place it in real time; leaving
//     it out can only hide an anomaly, never make one.
//   - Indeterminate ops are kept with an unknown outcome. A process that
//     invokes again gave up on its pending op without recording how it
//     ended: that op may or may not have taken effect, which is what info
//     means, and is how every checker pairs it.
//   - Unjudgeable ops make the verdict unknown. A completion whose f is not
//     its invocation's, a negative process that is not the fault injector,
//     an unknown type: any reading of them is a guess at what the history
//     means, and a verdict drawn from a guess is not a verdict.
type Report struct {
	Ignored       map[string]int `json:"ignored,omitempty"`
	Indeterminate map[string]int `json:"indeterminate,omitempty"`
	Unjudgeable   map[string]int `json:"unjudgeable,omitempty"`
	// First is the index of the first op of each kind.
	First map[string]int64 `json:"first,omitempty"`
}

// Judgeable reports whether the checkers' verdict on the history stands.
func (r Report) Judgeable() bool { return len(r.Unjudgeable) == 0 }

// Reason says why the history cannot be judged; "" when it can.
func (r Report) Reason() string {
	return r.describe(r.Unjudgeable, "cannot be judged")
}

// Notes say what was set aside or read as indeterminate, one line a kind.
func (r Report) Notes() []string {
	var out []string
	if s := r.describe(r.Ignored, "ignored"); s != "" {
		out = append(out, s)
	}
	if s := r.describe(r.Indeterminate, "read as of unknown outcome"); s != "" {
		out = append(out, s)
	}
	return out
}

var kindText = map[string]string{
	CompletionWithoutInvocation: "completion without an invocation",
	InvokeWhilePending:          "invocation by a process whose previous op never completed (that op)",
	FDiffers:                    "completion's f differs from its invocation's",
	NegativeProcess:             "op of a negative process that is not the fault injector",
	UnknownType:                 "op of unknown type",
}

func (r Report) describe(m map[string]int, what string) string {
	if len(m) == 0 {
		return ""
	}
	kinds := make([]string, 0, len(m))
	for k := range m {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%d× %s (first: op %d)", m[k], kindText[k], r.First[k]))
	}
	return "history " + what + ": " + strings.Join(parts, ", ")
}

func (r *Report) count(m *map[string]int, kind string, op Op) {
	if *m == nil {
		*m = map[string]int{}
	}
	if r.First == nil {
		r.First = map[string]int64{}
	}
	if _, ok := r.First[kind]; !ok {
		r.First[kind] = op.Index
	}
	(*m)[kind]++
}

// Validate checks ops once against the assumptions of every checker (see
// the kinds above) and returns what the checkers should judge: ops without
// the ignored ones (ops itself when nothing is ignored), and the report.
// Nuker ops are not client operations and are left as they are.
func Validate(ops []Op) ([]Op, Report) {
	v := NewValidator()
	var drop []int
	for pos, op := range ops {
		if !v.Keep(op) {
			drop = append(drop, pos)
		}
	}
	r := v.Report()
	if len(drop) == 0 {
		return ops, r
	}
	clean := make([]Op, 0, len(ops)-len(drop))
	prev := 0
	for _, d := range drop {
		clean = append(clean, ops[prev:d]...)
		prev = d + 1
	}
	return append(clean, ops[prev:]...), r
}

// Validator is Validate op by op, for a history read as a stream (see
// ReadEach): it keeps only the f of each process's pending invocation.
type Validator struct {
	r       Report
	pending map[Process]string
}

// NewValidator returns a Validator with nothing seen.
func NewValidator() *Validator { return &Validator{pending: map[Process]string{}} }

// Keep checks the next op and reports whether the checkers should see it
// (false for the ignored ones).
func (v *Validator) Keep(op Op) bool {
	r := &v.r
	if op.Process == Nuker {
		return true
	}
	if !op.Type.Valid() {
		r.count(&r.Unjudgeable, UnknownType, op)
		return false
	}
	if op.Process < 0 {
		r.count(&r.Unjudgeable, NegativeProcess, op)
	}
	if op.Type == Invoke {
		if _, ok := v.pending[op.Process]; ok {
			r.count(&r.Indeterminate, InvokeWhilePending, op)
		}
		v.pending[op.Process] = op.F
		return true
	}
	f, ok := v.pending[op.Process]
	if !ok {
		r.count(&r.Ignored, CompletionWithoutInvocation, op)
		return false
	}
	if f != op.F {
		r.count(&r.Unjudgeable, FDiffers, op)
		return true
	}
	delete(v.pending, op.Process)
	return true
}

// Report returns what was found so far.
func (v *Validator) Report() Report { return v.r }
