package reports

import (
	"fmt"
	"strings"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/faultline/faultline/models/history"
)

// failedHex is the grey of fault windows that never took effect: they are
// hatched in it instead of shaded in their kind's color, so a window that
// did not hold is never read as a fault.
const failedHex = "#6b7280"

// hatch draws grey diagonal lines over the rectangle [x0,x1]×[y0,y1]: the
// mark of a fault window that never took effect.
func hatch(c draw.Canvas, x0, x1, y0, y1 vg.Length) {
	if x1 < x0+1 {
		x1 = x0 + 1
	}
	c.FillPolygon(rgb(failedHex, 24), []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}})
	sty := draw.LineStyle{Color: rgb(failedHex, 160), Width: vg.Points(0.6)}
	const step = vg.Length(5)
	// Lines x - y = k, clipped to the rectangle.
	for k := x0 - (y1 - y0); k < x1; k += step {
		ax, ay := k, y0 // where the line meets the bottom edge
		if ax < x0 {
			ax, ay = x0, y0+(x0-k)
		}
		bx, by := k+(y1-y0), y1 // where it meets the top edge
		if bx > x1 {
			bx, by = x1, y0+(x1-k)
		}
		if ay > y1 || by < y0 {
			continue
		}
		c.StrokeLine2(sty, ax, ay, bx, by)
	}
}

// heldWindows drops the windows of faults that never took effect: the
// statistics' fault phases (latency, availability, CAP, SLOs, faults at
// an anomaly) cover only time when a fault held. The plots still show
// every window, the failed ones hatched.
func heldWindows(ws []history.Window) []history.Window {
	var out []history.Window
	for _, w := range ws {
		if !w.Failed() {
			out = append(out, w)
		}
	}
	return out
}

// outcomeNote says how a fault window's start ended, for its label and
// the fault table: "" when it took full effect.
func outcomeNote(w history.Window) string {
	switch w.Outcome {
	case history.Failed:
		return "failed"
	case history.Partial:
		return "partly failed"
	}
	return ""
}

// tallyRow is one fault kind's line in the report's fault count table.
type tallyRow struct {
	history.FaultTally
	Color string
	// Took is "effective/requested", Note what went wrong, if anything.
	Took, Note string
	// Never is true when the kind never took effect though it was drawn.
	Never bool
}

// tallyRows builds the fault count table: ts when the run gave them
// (requested kinds included), else counted from ops.
func tallyRows(ts []history.FaultTally, ops []history.Op, colors map[string]string) []tallyRow {
	if ts == nil {
		ts = history.CountFaults(ops)
	}
	var out []tallyRow
	for _, t := range ts {
		r := tallyRow{FaultTally: t, Color: colors[t.Kind], Took: fmt.Sprintf("%d/%d", t.Effective+t.Partial, t.Requested)}
		if r.Color == "" {
			r.Color = failedHex
		}
		var notes []string
		if t.Requested == 0 {
			notes = append(notes, "never drawn")
		} else if !t.TookEffect() {
			r.Never = true
			notes = append(notes, "never took effect")
		}
		if t.FirstError != "" {
			notes = append(notes, "first error: "+t.FirstError)
		}
		r.Note = strings.Join(notes, "; ")
		out = append(out, r)
	}
	return out
}
