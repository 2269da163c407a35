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
	// StartOp and EndOp are the history indexes bounding the window (EndOp
	// is -1 when Open).
	StartOp int64 `json:"start_op"`
	EndOp   int64 `json:"end_op"`
}

// FaultWindows pairs the nuker's start and stop ops into windows, in order
// of start. A fault started twice without a stop in between yields one
// window per start, each ending at the next stop of that kind.
func FaultWindows(ops []Op) []Window {
	var out []Window
	open := map[string][]int{} // kind -> indexes into out
	var last int64
	for _, op := range ops {
		if op.Time > last {
			last = op.Time
		}
		if op.Process != Nuker {
			continue
		}
		switch {
		case strings.HasPrefix(op.F, StartPrefix):
			kind := strings.TrimPrefix(op.F, StartPrefix)
			if op.Type == Invoke {
				out = append(out, Window{Kind: kind, Start: op.Time, StartOp: op.Index, EndOp: -1, Open: true})
				open[kind] = append(open[kind], len(out)-1)
				continue
			}
			// The completion names the nodes and what was done.
			if is := open[kind]; len(is) > 0 {
				w := &out[is[len(is)-1]]
				if len(op.Nodes) > 0 {
					w.Nodes = op.Nodes
				}
				if op.Value != nil {
					w.Value = op.Value
				}
			}
		case strings.HasPrefix(op.F, StopPrefix) && op.Type != Invoke:
			kind := strings.TrimPrefix(op.F, StopPrefix)
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
