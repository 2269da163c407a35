package reports

import (
	"fmt"
	"html/template"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/models/resources"
)

// Geometry and limits of the node resource charts.
const (
	// resRowHeight is one node's row of four charts, in the latency plot's
	// width: on a 1400 px page a row is 1130×237 px.
	resRowHeight = 2.1 * vg.Inch
	// maxResPoints bounds the points of one line, about one per px of a
	// chart at 1400 px; longer runs are thinned evenly (an hour sampled
	// every second keeps one point in 12; 5 nodes for an hour draw
	// charts at 197 KB).
	maxResPoints = 300
	// maxResNodes bounds the nodes charted; the samples file has the rest.
	maxResNodes = 32
)

// Colors of the resource lines: the first series of a chart (CPU used,
// received, read) and the second (throttled, sent, written).
const (
	resHex1 = "#1f5fa8"
	resHex2 = "#e07b00"
)

// resourceChart is one node's row of charts in the report.
type resourceChart struct {
	Node string
	SVG  template.HTML
	// Peak says the row's highest values in words.
	Peak string
}

// resourceCharts draws, per node, its CPU, memory, network and block I/O
// over the run from start (the first client op, as every plot), the fault
// windows acting on that node (or on all) shaded as in the latency plot.
// It returns nil without samples.
func resourceCharts(samples []resources.Sample, windows []history.Window, colors map[string]string, start, end float64) ([]resourceChart, error) {
	var out []resourceChart
	for i, sr := range resources.Rates(samples) {
		sr.Points = slices.DeleteFunc(sr.Points, func(p resources.Point) bool { return float64(p.Time)/1e9 < start })
		if i == maxResNodes || len(sr.Points) == 0 {
			continue
		}
		var mine []history.Window
		for _, w := range windows {
			if len(w.Nodes) == 0 || slices.Contains(w.Nodes, sr.Node) {
				mine = append(mine, w)
			}
		}
		rc, err := nodeResourceChart(sr, mine, colors, start, end)
		if err != nil {
			return nil, err
		}
		out = append(out, rc)
	}
	return out, nil
}

// resMetric is one line of a chart.
type resMetric struct {
	name string
	hex  string
	dash bool
	of   func(resources.Point) float64
}

func nodeResourceChart(sr resources.Series, windows []history.Window, colors map[string]string, start, end float64) (resourceChart, error) {
	pts := thinPoints(sr, maxResPoints)
	peak := func(f func(resources.Point) float64) float64 {
		m := 0.0
		for _, p := range pts {
			m = math.Max(m, f(p.Point))
		}
		return m
	}
	cpu := func(p resources.Point) float64 { return p.CPU }
	thr := func(p resources.Point) float64 { return p.Throttled }
	mem := func(p resources.Point) float64 { return p.Mem }
	netB := func(p resources.Point) float64 { return math.Max(p.RxBytes, p.TxBytes) }
	blkB := func(p resources.Point) float64 { return math.Max(p.BlkRead, p.BlkWrite) }
	memDiv, memUnit := byteUnit(peak(mem))
	netDiv, netUnit := byteUnit(peak(netB))
	blkDiv, blkUnit := byteUnit(peak(blkB))
	scaled := func(f func(resources.Point) float64, div float64) func(resources.Point) float64 {
		return func(p resources.Point) float64 { return f(p) / div }
	}
	cpuLines := []resMetric{{hex: resHex1, of: cpu}}
	if peak(thr) > 0 {
		cpuLines = []resMetric{{name: "used", hex: resHex1, of: cpu}, {name: "throttled", hex: resHex2, dash: true, of: thr}}
	}
	// floor is the least top of the y axis, so an idle node's axis
	// does not zoom into noise (or nothing).
	charts := []struct {
		title string
		floor float64
		lines []resMetric
	}{
		{sr.Node + " CPU (cores)", 0.05, cpuLines},
		{"memory in use (" + memUnit + ")", 1, []resMetric{{name: "", hex: resHex1, of: scaled(mem, memDiv)}}},
		{"network (" + netUnit + "/s)", 1, []resMetric{
			{name: "received", hex: resHex1, of: scaled(func(p resources.Point) float64 { return p.RxBytes }, netDiv)},
			{name: "sent", hex: resHex2, dash: true, of: scaled(func(p resources.Point) float64 { return p.TxBytes }, netDiv)},
		}},
		{"block I/O (" + blkUnit + "/s)", 1, []resMetric{
			{name: "read", hex: resHex1, of: scaled(func(p resources.Point) float64 { return p.BlkRead }, blkDiv)},
			{name: "written", hex: resHex2, dash: true, of: scaled(func(p resources.Point) float64 { return p.BlkWrite }, blkDiv)},
		}},
	}
	row := make([]*plot.Plot, len(charts))
	for i, ch := range charts {
		p := newPlot(start, end)
		p.Title.Text = ch.title
		p.Title.TextStyle.Font = sansFont(10)
		p.X.Label.Text = ""
		p.X.Tick.Marker = niceTicks{n: 5}
		p.Y.Tick.Marker = niceTicks{n: 4}
		p.Y.Min = 0
		p.Legend.Top = true
		p.Legend.TextStyle.Font = sansFont(8)
		p.Add(faultShading{windows: windows, colors: colors})
		ymax := 0.0
		for _, m := range ch.lines {
			ymax = math.Max(ymax, peak(m.of))
			for j, seg := range segments(pts, m.of) {
				l, err := plotter.NewLine(seg)
				if err != nil {
					return resourceChart{}, fmt.Errorf("resource chart of %s: %w", sr.Node, err)
				}
				l.Color = rgb(m.hex, 255)
				l.Width = vg.Points(1.2)
				if m.dash {
					l.Dashes = []vg.Length{vg.Points(3), vg.Points(2)}
				}
				p.Add(l)
				if m.name != "" && j == 0 {
					p.Legend.Add(m.name, l)
				}
			}
		}
		// Head room for the legend and the fault labels.
		p.Y.Max = math.Max(ymax, ch.floor) * 1.35
		if i == 0 {
			p.Add(faultShading{windows: windows, colors: colors, labels: true})
		}
		row[i] = p
	}

	c := vgsvg.New(plotWidth, resRowHeight)
	dc := draw.New(c)
	tiles := draw.Tiles{Rows: 1, Cols: len(row), PadX: vg.Points(6), PadTop: vg.Points(2), PadBottom: vg.Points(2)}
	cells := plot.Align([][]*plot.Plot{row}, tiles, dc)
	for i, p := range row {
		p.Draw(cells[0][i])
	}
	svg, err := inlineSVG(c, "resources of "+sr.Node)
	if err != nil {
		return resourceChart{}, err
	}
	rc := resourceChart{Node: sr.Node, SVG: svg}
	rc.Peak = fmt.Sprintf("peak CPU %.2f cores, memory %s, network %s/s, block I/O %s/s",
		peak(cpu), fmtBytes(peak(mem)), fmtBytes(peak(netB)), fmtBytes(peak(blkB)))
	if peak(thr) > 0 {
		rc.Peak += fmt.Sprintf(", throttled up to %.0f%%", 100*peak(thr))
	}
	if n := netErrorCount(sr); n > 0 {
		rc.Peak += fmt.Sprintf("; %d network errors or drops", n)
	}
	return rc, nil
}

// thinned is a point and whether it starts a new line.
type thinned struct {
	resources.Point
	gap bool
}

// thinPoints keeps at most n of a series' points, evenly spaced, keeping
// every break in the line.
func thinPoints(sr resources.Series, n int) []thinned {
	step := max(1, (len(sr.Points)+n-1)/n)
	var out []thinned
	gap := false
	for i, p := range sr.Points {
		gap = gap || sr.Gap[i]
		if i%step == 0 || i == len(sr.Points)-1 {
			out = append(out, thinned{p, gap})
			gap = false
		}
	}
	return out
}

// segments splits the points into unbroken lines of f's values.
func segments(pts []thinned, f func(resources.Point) float64) []plotter.XYs {
	var out []plotter.XYs
	for i, p := range pts {
		if i == 0 || p.gap {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], plotter.XY{X: secs(p.Time), Y: f(p.Point)})
	}
	return out
}

// netErrorCount is how many network errors and drops the node counted.
func netErrorCount(sr resources.Series) int64 {
	var total float64
	for i, p := range sr.Points {
		if i == 0 {
			continue
		}
		total += p.NetErrors * secs(p.Time-sr.Points[i-1].Time)
	}
	return int64(math.Round(total))
}

// byteUnit is the binary unit that shows v (bytes) as a number below 1024.
func byteUnit(v float64) (float64, string) {
	div := 1.0
	for _, u := range []string{"B", "KiB", "MiB", "GiB"} {
		if v < 1024*div || u == "GiB" {
			return div, u
		}
		div *= 1024
	}
	return div, "GiB"
}

// fmtBytes writes v bytes in a binary unit.
func fmtBytes(v float64) string {
	div, u := byteUnit(v)
	return fmt.Sprintf("%.3g %s", v/div, u)
}
