package reports

import (
	"fmt"
	"html/template"
	"image/color"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/faultline/faultline/models/history"
)

// roleHex is the color of the primary (leader) bar in the node timeline.
const roleHex = "#1d2430"

// nodeFacts is what the history says about each node over time.
type nodeFacts struct {
	// Nodes in display order: the run's nodes, then others by name.
	Nodes []string
	// Faults are the fault windows acting on each node.
	Faults map[string][]history.Window
	// Restarts are the times a node's process was restarted (end of a
	// kill, a move onto another release).
	Restarts map[string][]int64
	// Primary are the spans during which each node was a primary.
	Primary map[string][][2]int64
	// Leaders is the sequence of primaries answers: times and node lists.
	Leaders []leaderChange
	// Clock maps a node to its clock offset samples (time, ms).
	Clock map[string]plotter.XYs
	// End is the time of the history's last op.
	End int64
}

type leaderChange struct {
	At    int64
	Nodes []string
}

// isRestart reports whether the end of a window of this fault kind restarts
// the nodes' processes (a power failure's and a corruption's end do).
func isRestart(kind string) bool {
	return strings.Contains(kind, "kill") || strings.Contains(kind, "crash") || strings.Contains(kind, "restart") ||
		kind == "power" || kind == "corrupt"
}

func collectNodeFacts(ops []history.Op, windows []history.Window, runNodes []string) nodeFacts {
	nf := nodeFacts{Faults: map[string][]history.Window{}, Restarts: map[string][]int64{},
		Primary: map[string][][2]int64{}, Clock: map[string]plotter.XYs{}}
	seen := map[string]bool{}
	add := func(n string) {
		if n != "" && !seen[n] {
			seen[n] = true
			nf.Nodes = append(nf.Nodes, n)
		}
	}
	for _, n := range runNodes {
		add(n)
	}
	var extra []string
	note := func(n string) {
		if n != "" && !seen[n] && !slices.Contains(extra, n) {
			extra = append(extra, n)
		}
	}
	for _, w := range windows {
		for _, n := range w.Nodes {
			note(n)
			nf.Faults[n] = append(nf.Faults[n], w)
			if isRestart(w.Kind) && !w.Open {
				nf.Restarts[n] = append(nf.Restarts[n], w.End)
			}
		}
	}
	open := map[string]int64{}
	for _, op := range ops {
		nf.End = max(nf.End, op.Time)
		if prim, ok := history.PrimariesOf(op); ok {
			nf.Leaders = append(nf.Leaders, leaderChange{At: op.Time, Nodes: prim})
			for n, since := range open {
				if !slices.Contains(prim, n) {
					nf.Primary[n] = append(nf.Primary[n], [2]int64{since, op.Time})
					delete(open, n)
				}
			}
			for _, n := range prim {
				note(n)
				if _, ok := open[n]; !ok {
					open[n] = op.Time
				}
			}
		}
		if op.Process == history.Nuker && op.F == history.VersionF && op.Type == history.Info {
			// An upgrade fault restarted the node on another release.
			for _, n := range op.Nodes {
				note(n)
				nf.Restarts[n] = append(nf.Restarts[n], op.Time)
			}
		}
		if offs, ok := history.ClockOffsetsOf(op); ok {
			for n, ms := range offs {
				note(n)
				nf.Clock[n] = append(nf.Clock[n], plotter.XY{X: secs(op.Time), Y: ms})
			}
		}
	}
	for n, since := range open {
		nf.Primary[n] = append(nf.Primary[n], [2]int64{since, nf.End})
	}
	slices.SortFunc(extra, compareNodes)
	for _, n := range extra {
		add(n)
	}
	return nf
}

// nodeTimelinePlot draws one row per node: its fault windows shaded in the
// fault kind's color, a dark bar while it was primary, and a mark where its
// process was restarted.
func nodeTimelinePlot(nf nodeFacts, colors map[string]string, start, end float64) (template.HTML, error) {
	if len(nf.Nodes) == 0 {
		return "", nil
	}
	p := newPlot(start, end)
	p.Title.Text = "Nodes: faults, primaries and restarts"
	p.Y.Min, p.Y.Max = -0.6, float64(len(nf.Nodes))-0.4
	p.Y.Tick.Marker = nodeTicks(nf.Nodes)
	p.Add(nodeRows{nf: nf, colors: colors})
	h := min(1.1*vg.Inch+vg.Length(len(nf.Nodes))*0.42*vg.Inch, 8*vg.Inch)
	return renderSVGSized(p, "node timeline", h)
}

// nodeTicks labels the rows of the node timeline, first node on top.
type nodeTicks []string

// Ticks implements plot.Ticker.
func (t nodeTicks) Ticks(lo, hi float64) []plot.Tick {
	out := make([]plot.Tick, 0, len(t))
	for i, n := range t {
		out = append(out, plot.Tick{Value: float64(len(t) - 1 - i), Label: n})
	}
	return out
}

type nodeRows struct {
	nf     nodeFacts
	colors map[string]string
}

// Plot implements plot.Plotter.
func (r nodeRows) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	clipX := func(ns int64) vg.Length { return min(max(trX(secs(ns)), c.Min.X), c.Max.X) }
	rect := func(x0, x1, y0, y1 vg.Length, col color.Color) {
		if x1 < x0+1 {
			x1 = x0 + 1
		}
		c.FillPolygon(col, []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}})
	}
	n := len(r.nf.Nodes)
	for i, node := range r.nf.Nodes {
		y := float64(n - 1 - i)
		top, bottom := trY(y+0.38), trY(y-0.38)
		// A faint band per row keeps the rows apart.
		rect(c.Min.X, c.Max.X, bottom, top, color.NRGBA{R: 0xee, G: 0xf1, B: 0xf5, A: 255})
		for _, w := range r.nf.Faults[node] {
			if w.Failed() {
				hatch(c, clipX(w.Start), clipX(w.End), trY(y-0.2), top)
				continue
			}
			rect(clipX(w.Start), clipX(w.End), trY(y-0.2), top, rgb(r.colors[w.Kind], faultAlpha(w, r.nf.Nodes, node)))
		}
		for _, s := range r.nf.Primary[node] {
			rect(clipX(s[0]), clipX(s[1]), bottom, trY(y-0.26), rgb(roleHex, 255))
		}
		for _, t := range r.nf.Restarts[node] {
			x := clipX(t)
			c.DrawGlyph(draw.GlyphStyle{Color: rgb(roleHex, 255), Radius: 3, Shape: draw.TriangleGlyph{}},
				vg.Point{X: x, Y: trY(y + 0.1)})
		}
	}
}

// nodeHex returns the color of the i-th node's line in the clock offset
// plot.
func nodeHex(i int) string {
	palette := [...]string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#e377c2", "#7f7f7f", "#bcbd22"}
	return palette[i%len(palette)]
}

// clockPlot draws each node's clock offset over time as a step line.
func clockPlot(nf nodeFacts, windows []history.Window, colors map[string]string, start, end float64) (template.HTML, []kindView, error) {
	if len(nf.Clock) == 0 {
		return "", nil, nil
	}
	p := newPlot(start, end)
	p.Title.Text = "Clock offset of each node (ms)"
	p.Y.Label.Text = "offset ms"
	p.Y.Tick.Marker = niceTicks{n: 6}
	p.Add(faultShading{windows: windows, colors: colors})
	lo, hi := 0.0, 0.0
	var legend []kindView
	k := 0
	for _, node := range nf.Nodes {
		xys := nf.Clock[node]
		if len(xys) == 0 {
			continue
		}
		pts := append(slices.Clone(xys), plotter.XY{X: math.Max(end, xys[len(xys)-1].X), Y: xys[len(xys)-1].Y})
		for _, pt := range pts {
			lo, hi = math.Min(lo, pt.Y), math.Max(hi, pt.Y)
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return "", nil, fmt.Errorf("clock plot: %w", err)
		}
		hex := nodeHex(k)
		k++
		l.StepStyle = plotter.PostStep
		l.Color = rgb(hex, 255)
		l.Width = vg.Points(1.4)
		p.Add(l)
		legend = append(legend, kindView{Kind: node, Color: hex})
	}
	pad := math.Max((hi-lo)*0.1, 1)
	p.Y.Min, p.Y.Max = lo-pad, hi+pad*2
	p.Add(faultShading{windows: windows, colors: colors, labels: true})
	svg, err := renderSVGSized(p, "clock offsets", plotHeight)
	return svg, legend, err
}
