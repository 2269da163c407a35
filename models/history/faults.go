package history

import "strings"

// Fault ops. The nuker writes each fault as two operations of process Nuker:
// F "start-<kind>" (invoke, then an info completion once it is in effect)
// and F "stop-<kind>" (invoke, then info once healed). The completions carry
// the affected nodes in Nodes and a description in Value.
const (
	StartPrefix = "start-"
	StopPrefix  = "stop-"
)

// JepsenNemesis is the fault kind of Jepsen's generic nemesis ops, whose F
// is just "start" or "stop".
const JepsenNemesis = "nemesis"

// Window is the span during which one fault was in effect.
type Window struct {
	// Kind is the fault kind: "partition", "kill", "pause", ...
	Kind string `json:"kind"`
	// Start is the time of the start invocation; End the time of the stop
	// completion, or the time of the history's last op if it was never
	// healed in the history (Open is then true).
	Start int64 `json:"start"`
	End   int64 `json:"end"`
	Open  bool  `json:"open,omitempty"`
	// Nodes are the nodes it acted on.
	Nodes []string `json:"nodes,omitempty"`
	// Value describes it (e.g. the grudge of a partition).
	Value any `json:"value,omitempty"`
	// Effective is when the start completed (the fault was in effect) and
	// Healing when its stop was invoked; between the two the fault certainly
	// held. Zero when the history does not say.
	Effective int64 `json:"effective,omitempty"`
	Healing   int64 `json:"healing,omitempty"`
	// StartOp and EndOp are the history indexes bounding the window (EndOp
	// is -1 when Open).
	StartOp int64 `json:"start_op"`
	EndOp   int64 `json:"end_op"`
	// Outcome is Partial or Failed when its start did not take full effect
	// (see StartOutcome), empty otherwise; Error says what failed. A
	// Failed window was asked for but never held.
	Outcome Outcome `json:"outcome,omitempty"`
	Error   string  `json:"error,omitempty"`
}

// Failed reports whether the fault never took effect.
func (w Window) Failed() bool { return w.Outcome == Failed }

// FaultWindows pairs the nuker's start and stop ops into windows, in order
// of start. A fault started twice without a stop in between yields one
// window per start, each ending at the next stop of that kind. Jepsen's
// bare nemesis ops F "start" and "stop" (imported histories) are windows of
// kind JepsenNemesis.
func FaultWindows(ops []Op) []Window {
	var out []Window
	open := map[string][]int{} // kind -> indexes into out
	invs := map[int]Op{}       // index into out -> its start invocation
	var last int64
	for _, op := range ops {
		if op.Time > last {
			last = op.Time
		}
		if op.Process != Nuker {
			continue
		}
		if kind, ok := faultKind(op.F, StartPrefix); ok {
			if op.Type == Invoke {
				out = append(out, Window{Kind: kind, Start: op.Time, StartOp: op.Index, EndOp: -1, Open: true})
				invs[len(out)-1] = op
				open[kind] = append(open[kind], len(out)-1)
				continue
			}
			// The completion names the nodes and what was done.
			if is := open[kind]; len(is) > 0 {
				w := &out[is[len(is)-1]]
				w.Effective = op.Time
				if o := StartOutcome(invs[is[len(is)-1]], op); o != Effective {
					w.Outcome, w.Error = o, op.Error
				}
				if len(op.Nodes) > 0 {
					w.Nodes = op.Nodes
				}
				if op.Value != nil {
					w.Value = op.Value
				}
			}
		} else if kind, ok := faultKind(op.F, StopPrefix); ok && op.Type == Invoke {
			for _, i := range open[kind] {
				out[i].Healing = op.Time
			}
		} else if ok && op.Type != Invoke {
			for _, i := range open[kind] {
				out[i].End, out[i].EndOp, out[i].Open = op.Time, op.Index, false
			}
			delete(open, kind)
		}
	}
	for i := range out {
		if out[i].Open {
			out[i].End = last
		}
	}
	return out
}

// faultKind returns the kind named by f when f starts with prefix, or
// JepsenNemesis when f is the prefix's bare word.
func faultKind(f, prefix string) (string, bool) {
	if f == strings.TrimSuffix(prefix, "-") {
		return JepsenNemesis, true
	}
	if kind, ok := strings.CutPrefix(f, prefix); ok {
		return kind, true
	}
	return "", false
}

// PowerKind is the fault kind of a power failure (the nuker's power fault:
// the target killed and its unsynced writes dropped).
const PowerKind = "power"

// PowerFailureBetween returns the first power failure that could have
// dropped a write last shown to exist at time after (its ack, or the last
// read that returned it) and found missing by a read invoked at time
// before: one that began before before and finished dropping (its start
// completed; its end when the history does not say) after after. Power
// failures that never took effect are skipped. Which nodes held the write
// is not in the history (a client's node may forward it to a primary), so
// the window's nodes are reported, not matched.
func PowerFailureBetween(windows []Window, after, before int64) (Window, bool) {
	for _, w := range windows {
		done := w.Effective
		if done == 0 {
			done = w.End
		}
		if w.Kind == PowerKind && !w.Failed() && done > after && w.Start < before {
			return w, true
		}
	}
	return Window{}, false
}
