package linear

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"

	"github.com/anishathalye/porcupine"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// faultTagPrefix starts the visualization row of each fault kind; anomalies
// get a row of their own.
const (
	faultTagPrefix = "fault: "
	anomalyTag     = "anomalies"
)

// visualize writes VisualizationFile into dir: every invalid key (for a
// key too large for porcupine, the window around its violation), and valid
// keys in key order while their ops fit in MaxVisualizedOps. Unknown keys
// are left out, since drawing them would mean running out of time again.
// It reports whether it wrote the file.
func (c *Checker) visualize(ctx context.Context, create func(string) (io.WriteCloser, error), spec Spec, p prepared, results []keyResult, ops []history.Op) (bool, error) {
	budget := c.MaxVisualizedOps
	if budget <= 0 {
		budget = DefaultMaxVisualizedOps
	}
	var chosen []int
	for i, r := range results {
		if r.verdict == models.Invalid {
			chosen = append(chosen, i)
		}
	}
	for i, r := range results {
		if r.verdict == models.Valid && len(p.keys[i].ops) <= budget {
			chosen = append(chosen, i)
			budget -= len(p.keys[i].ops)
		}
	}
	if len(chosen) == 0 {
		return false, nil
	}

	var info porcupine.LinearizationInfo
	if len(chosen) == 1 && results[chosen[0]].info != nil {
		info = *results[chosen[0]].info
	} else {
		// porcupine's LinearizationInfo cannot be merged, so the chosen
		// keys are checked again together, one partition each.
		var all []porcupine.Operation
		bounds := make([]int, 0, len(chosen)+1)
		for _, i := range chosen {
			bounds = append(bounds, len(all))
			if w := results[i].window; w != nil {
				all = append(all, w...)
				continue
			}
			all = append(all, p.keys[i].ops...)
		}
		bounds = append(bounds, len(all))
		partition := func(h []porcupine.Operation) [][]porcupine.Operation {
			out := make([][]porcupine.Operation, 0, len(chosen))
			for j := range chosen {
				out = append(out, h[bounds[j]:bounds[j+1]])
			}
			return out
		}
		kctx, cancel := c.keyContext(ctx)
		defer cancel()
		stop := new(atomic.Bool)
		defer context.AfterFunc(kctx, func() { stop.Store(true) })()
		m := newModel(spec, stop, nil)
		m.Partition = partition
		_, info = porcupine.CheckOperationsVerbose(m, all, 0)
		// A partial result still draws: partial linearizations only hold
		// steps that were taken.
	}
	info.AddAnnotations(annotations(ops, results))

	f, err := create(VisualizationFile)
	if err != nil {
		return false, fmt.Errorf("create visualization: %w", err)
	}
	w := bufio.NewWriter(f)
	// Drawing replays the linearizations, so it needs the model without
	// the stop switch.
	if err := porcupine.Visualize(newModel(spec, nil, describeMeta(ops)), info, w); err != nil {
		f.Close()
		return false, fmt.Errorf("write visualization: %w", err)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return false, fmt.Errorf("write visualization: %w", err)
	}
	if err := f.Close(); err != nil {
		return false, fmt.Errorf("write visualization: %w", err)
	}
	return true, nil
}

// annotations marks the nuker's fault windows, one row per fault kind, and
// the ops named by anomalies, on the visualization's time axis (positions in
// the history).
func annotations(ops []history.Op, results []keyResult) []porcupine.Annotation {
	// Positions of the few ops annotations name, not of every op: a map of
	// a million positions cost half a second of `faultline check`.
	windows := history.FaultWindows(ops)
	named := map[int64]bool{}
	for _, w := range windows {
		named[w.StartOp], named[w.EndOp] = true, true
	}
	for _, r := range results {
		if r.anomaly != nil {
			for _, idx := range r.anomaly.Ops {
				named[idx] = true
			}
		}
	}
	pos := make(map[int64]int, len(named))
	for i, op := range ops {
		if named[op.Index] {
			pos[op.Index] = i
		}
	}
	var out []porcupine.Annotation
	timed := hasTimes(ops)
	for _, w := range windows {
		start, ok := pos[w.StartOp]
		if !ok {
			continue
		}
		end := len(ops)
		if e, ok := pos[w.EndOp]; ok && !w.Open {
			end = e
		}
		desc := w.Kind
		if len(w.Nodes) > 0 {
			desc += " " + strings.Join(w.Nodes, ",")
		}
		details := fmt.Sprintf("%s: ops %d→", w.Kind, w.StartOp)
		if w.Open {
			details += "end (never healed)"
		} else {
			details += fmt.Sprint(w.EndOp)
		}
		if timed {
			details += fmt.Sprintf(", t %s→%s", seconds(w.Start), seconds(w.End))
		}
		if len(w.Nodes) > 0 {
			details += ", nodes " + strings.Join(w.Nodes, ", ")
		}
		if w.Value != nil {
			details += fmt.Sprintf(", %v", w.Value)
		}
		out = append(out, porcupine.Annotation{
			Tag:             faultTagPrefix + w.Kind,
			Start:           int64(start),
			End:             int64(end),
			Description:     desc,
			Details:         details,
			BackgroundColor: "#f6d5d1",
		})
	}
	for _, r := range results {
		if r.anomaly == nil || len(r.anomaly.Ops) == 0 {
			continue
		}
		first, last := len(ops), -1
		for _, idx := range r.anomaly.Ops {
			if i, ok := pos[idx]; ok {
				first, last = min(first, i), max(last, i)
			}
		}
		if last < 0 {
			continue
		}
		desc := r.anomaly.Kind
		if r.anomaly.Key != "" {
			desc += " (key " + r.anomaly.Key + ")"
		}
		out = append(out, porcupine.Annotation{
			Tag:             anomalyTag,
			Start:           int64(first),
			End:             int64(last),
			Description:     desc,
			Details:         r.anomaly.Explanation,
			BackgroundColor: "#f3a6a0",
		})
	}
	return out
}
