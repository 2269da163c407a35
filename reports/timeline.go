package reports

import (
	"fmt"
	"html/template"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/faultline/faultline/models/history"
)

// timeAxis is where a plot draws its time axis, in the units of its
// viewBox (points, plotWidth wide): X0 is second Start and X1 second End. The
// fault timeline copies the latency plot's, so that, both drawn at the
// page's width, a second falls at the same place in each.
type timeAxis struct {
	X0, X1, W, Start, End float64
}

// x returns where the time ns falls, clamped to the axis.
func (a timeAxis) x(ns int64) float64 {
	if a.End <= a.Start {
		return a.X0
	}
	f := min(max((secs(ns)-a.Start)/(a.End-a.Start), 0), 1)
	return a.X0 + f*(a.X1-a.X0)
}

// axisOf returns the time axis p draws when rendered w×h.
func axisOf(p *plot.Plot, w, h float64) timeAxis {
	// DataCanvas lays the plot out exactly as Draw does.
	dc := p.DataCanvas(draw.New(vgsvg.New(vg.Length(w), vg.Length(h))))
	return timeAxis{X0: float64(dc.Min.X), X1: float64(dc.Max.X), W: w, Start: p.X.Min, End: p.X.Max}
}

// Geometry of the fault timeline, in viewBox units.
const (
	tlLaneH   = 15 // one band's lane
	tlRowPad  = 4  // above and below a row's lanes
	tlRoleH   = 3  // the primary bar under a row's lanes
	tlTop     = 6
	tlAxisH   = 26 // tick labels under the rows
	tlCharW   = 5  // a 9-unit character's width, about, to decide whether a label fits
	tlMaxRows = 64 // nodes drawn; more would not fit a page
)

// band is one fault window on one node's row.
type band struct {
	w    history.Window
	lane int
	// labels, longest first: the first that fits the band is written in it.
	labels []string
	tip    string
}

// faultTimeline draws one row per node, each fault window acting on it as a
// band in its kind's color (grey and outlined when it never took effect)
// that links to the history view at the fault's start, and a dark bar
// while the node was a primary. Windows that name no node get a row "all".
func faultTimeline(nf nodeFacts, windows []history.Window, colors map[string]string, ax timeAxis) template.HTML {
	rows := slices.Clone(nf.Nodes)
	perNode := map[string][]history.Window{}
	for n, ws := range nf.Faults {
		perNode[n] = ws
	}
	for _, w := range windows {
		if len(w.Nodes) == 0 {
			perNode["all"] = append(perNode["all"], w)
		}
	}
	if len(perNode["all"]) > 0 && !slices.Contains(rows, "all") {
		rows = append([]string{"all"}, rows...)
	}
	if len(rows) == 0 || len(windows) == 0 {
		return ""
	}
	rows = rows[:min(len(rows), tlMaxRows)]

	// Lanes: a band goes in the first lane free at its start.
	bands := map[string][]band{}
	lanes := map[string]int{}
	for _, n := range rows {
		var laneEnd []int64
		for _, w := range perNode[n] {
			l := slices.IndexFunc(laneEnd, func(e int64) bool { return e < w.Start })
			if l < 0 {
				laneEnd = append(laneEnd, 0)
				l = len(laneEnd) - 1
			}
			laneEnd[l] = w.End
			labels, tip := bandText(w, n)
			bands[n] = append(bands[n], band{w: w, lane: l, labels: labels, tip: tip})
		}
		lanes[n] = max(1, len(laneEnd))
	}
	h := float64(tlTop + tlAxisH)
	for _, n := range rows {
		h += float64(lanes[n]*tlLaneH + 2*tlRowPad + tlRoleH)
	}

	var d svgDoc
	d.open("timeline", "fault timeline: one row per node", ax.W, h)
	d.raw(`<g font-family="'Liberation Sans',Arial,Helvetica,sans-serif" font-size="9">`)
	// Row backgrounds, then the time grid over them, then the bands.
	y := float64(tlTop)
	for i, n := range rows {
		rh := float64(lanes[n]*tlLaneH + 2*tlRowPad + tlRoleH)
		if i%2 == 0 {
			d.raw(fmt.Sprintf(`<rect x="%s" y="%s" width="%s" height="%s" fill="#f3f5f8"/>`, num(ax.X0), num(y), num(ax.X1-ax.X0), num(rh)))
		}
		y += rh
	}
	// Time grid and labels, as the latency plot's.
	for _, tk := range (niceTicks{}).Ticks(ax.Start, ax.End) {
		if tk.Label == "" {
			continue
		}
		x := ax.x(int64(tk.Value * 1e9))
		d.raw(fmt.Sprintf(`<line x1="%s" y1="%d" x2="%s" y2="%s" stroke="#e3e7ec" stroke-width="0.6"/>`, num(x), tlTop, num(x), num(h-tlAxisH+3)))
		d.text(pt{x, h - tlAxisH + 13}, tk.Label, `text-anchor="middle" fill="#5f6b7a"`)
	}
	d.text(pt{(ax.X0 + ax.X1) / 2, h - 3}, "seconds since start", `text-anchor="middle" fill="#5f6b7a" font-size="10"`)
	y = float64(tlTop)
	for _, n := range rows {
		rh := float64(lanes[n]*tlLaneH + 2*tlRowPad + tlRoleH)
		d.text(pt{ax.X0 - 6, y + rh/2 + 3}, shorten(n, 12), `text-anchor="end" fill="#1d2430"`)
		d.raw(`<g class="row" data-node="` + esc(n) + `">`)
		for _, b := range bands[n] {
			x0, x1 := ax.x(b.w.Start), ax.x(b.w.End)
			x1 = max(x1, x0+2) // an instant still shows
			by := y + tlRowPad + float64(b.lane*tlLaneH) + 1
			fill, stroke := colors[b.w.Kind], ""
			if fill == "" {
				fill = failedHex
			}
			op := `0.75`
			if b.w.Failed() {
				fill, op, stroke = failedHex, `0.25`, ` stroke="`+failedHex+`" stroke-dasharray="3 2"`
			}
			d.raw(`<a class="band" data-kind="` + esc(b.w.Kind) + `" href="history.html#op=` + strconv.FormatInt(b.w.StartOp, 10) + `">`)
			d.title(b.tip)
			d.raw(fmt.Sprintf(`<rect x="%s" y="%s" width="%s" height="%d" rx="2" fill="%s" fill-opacity="%s"%s/>`,
				num(x0), num(by), num(x1-x0), tlLaneH-2, fill, op, stroke))
			for _, l := range b.labels {
				if float64(len([]rune(l))*tlCharW+6) <= x1-x0 {
					d.text(pt{x0 + 3, by + tlLaneH - 5.5}, l, `fill="#fff" font-weight="600"`)
					break
				}
			}
			d.raw(`</a>`)
		}
		ry := y + rh - tlRowPad - tlRoleH + 1
		for _, s := range nf.Primary[n] {
			x0, x1 := ax.x(s[0]), ax.x(s[1])
			d.raw(fmt.Sprintf(`<rect class="primary" x="%s" y="%s" width="%s" height="%d" fill="%s"><title>%s</title></rect>`,
				num(x0), num(ry), num(max(x1-x0, 1)), tlRoleH, roleHex, esc(n+" primary "+fmtSecs(s[0])+"–"+fmtSecs(s[1]))))
		}
		d.raw(`</g>`)
		y += rh
	}
	d.raw(`</g>`)
	d.close()
	return d.html()
}

// bandText returns a window's labels on node n's row (longest first) and
// its tooltip.
func bandText(w history.Window, n string) (labels []string, tip string) {
	detail := ""
	if g, ok := windowGrudge(w); ok {
		detail = partitionSide(g, n)
	} else if isClock(w.Kind) {
		if m, ok := w.Value.(map[string]any); ok {
			if ms, ok := m[n].(float64); ok {
				detail = fmt.Sprintf("offset %+gms", ms)
			}
		}
	}
	if detail != "" {
		labels = append(labels, w.Kind+": "+detail, detail) // the band's color says the kind
	}
	if o := outcomeNote(w); o != "" {
		labels = append(labels, w.Kind+" ("+o+")")
	}
	labels = append(labels, w.Kind)
	var b strings.Builder
	b.WriteString(w.Kind)
	if n != "all" {
		b.WriteString(" on " + n)
	}
	if detail != "" {
		b.WriteString(": " + detail)
	}
	fmt.Fprintf(&b, "\n%s–%s", fmtSecs(w.Start), fmtSecs(w.End))
	if w.Open {
		b.WriteString(" (not healed)")
	}
	fmt.Fprintf(&b, ", ops #%d", w.StartOp)
	if !w.Open {
		fmt.Fprintf(&b, "–#%d", w.EndOp)
	}
	if o := outcomeNote(w); o != "" {
		b.WriteString("\n" + o)
		if w.Error != "" {
			b.WriteString(": " + shorten(w.Error, maxValueLength))
		}
	}
	if v := fmtValue(w.Value); v != "" && detail == "" {
		b.WriteString("\n" + v)
	}
	b.WriteString("\nclick: the history view at its start")
	return labels, b.String()
}

func isClock(kind string) bool { return strings.Contains(kind, "clock") }

// partitionSide says what a partition did to node n: whom it could not hear
// from and who could not hear it.
func partitionSide(g map[string][]string, n string) string {
	drops := slices.Clone(g[n])
	var droppedBy []string
	for a, from := range g {
		if slices.Contains(from, n) {
			droppedBy = append(droppedBy, a)
		}
	}
	slices.SortFunc(drops, compareNodes)
	slices.SortFunc(droppedBy, compareNodes)
	switch {
	case len(drops) == 0 && len(droppedBy) == 0:
		return "not cut"
	case slices.Equal(drops, droppedBy):
		return "cut from " + strings.Join(drops, ", ")
	}
	var parts []string
	if len(drops) > 0 {
		parts = append(parts, "hears nothing from "+strings.Join(drops, ", "))
	}
	if len(droppedBy) > 0 {
		parts = append(parts, "not heard by "+strings.Join(droppedBy, ", "))
	}
	return strings.Join(parts, "; ")
}
