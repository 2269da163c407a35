package reports

import (
	"cmp"
	"fmt"
	"html/template"
	"math"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/faultline/faultline/models/history"
)

// Limits of the per-operation and per-node views.
const (
	// maxFs bounds the operation types drawn and listed; a workload has a
	// handful (read, write, cas, txn, ...), a history file could have any.
	maxFs = 9
	// quantileBins is about how many time bins the latency quantiles
	// have: fewer than the throughput plot's, so each holds enough ops
	// for a p99.
	quantileBins = 50
	// maxNodeRows bounds the per-node table.
	maxNodeRows = 64
	// maxSideCols bounds the partition windows given a column in it.
	maxSideCols = 12
)

// opsView is the report's latency and throughput per operation type, as
// Jepsen's perf graphs draw them.
type opsView struct {
	Latency    template.HTML
	Throughput template.HTML
	// Fs are the operation types with their colors; Phases their numbers.
	Fs     []kindView
	Phases []phaseRow
	// More counts the types left out beyond maxFs.
	More int
}

// fsOf returns the operation types of opers, most frequent first (at most
// maxFs), and how many were left out.
func fsOf(opers []operation) (fs []string, more int) {
	n := map[string]int{}
	for _, o := range opers {
		if n[o.f] == 0 {
			fs = append(fs, o.f)
		}
		n[o.f]++
	}
	slices.SortStableFunc(fs, func(a, b string) int { return cmp.Compare(n[b], n[a]) })
	if len(fs) > maxFs {
		return fs[:maxFs], len(fs) - maxFs
	}
	return fs, 0
}

// buildOpsView computes the per-type numbers over the client ops' span and
// draws latency quantiles and throughput per type.
func buildOpsView(opers []operation, windows []history.Window, colors map[string]string, sum Summary, start, end float64) (opsView, error) {
	fs, more := fsOf(opers)
	v := opsView{More: more}
	if len(fs) == 0 {
		return v, nil
	}
	idx := make(map[string]int, len(fs))
	accs := make([]phaseAcc, len(fs))
	for i, f := range fs {
		idx[f] = i
		hex := nodeHex(i)
		v.Fs = append(v.Fs, kindView{Kind: f, Color: hex})
		accs[i].p.Name = f
	}
	class := func(o operation) int {
		if i, ok := idx[o.f]; ok {
			return i
		}
		return -1
	}
	for _, o := range opers {
		if i := class(o); i >= 0 && !o.pending() {
			accs[i].p.Completed.add(o)
			accs[i].addLatency(o)
		}
	}
	series := make([]rateSeries, len(fs))
	for i := range accs {
		v.Phases = append(v.Phases, phaseRow{Phase: accs[i].finish(sum.End - sum.Start), Color: v.Fs[i].Color})
		series[i] = rateSeries{Hex: v.Fs[i].Color}
	}
	var err error
	if v.Throughput, err = ratePlot(opers, class, series, windows, colors, start, end, "by operation type", "throughput by type"); err != nil {
		return v, err
	}
	v.Latency, err = quantilePlot(opers, class, v.Fs, windows, colors, start, end)
	return v, err
}

// quantilePlot draws, per operation type, the median (solid) and 99th
// percentile (dashed) latency of the ok and fail ops invoked in each time
// bin; a bin without such ops breaks the line.
func quantilePlot(opers []operation, class func(operation) int, fs []kindView, windows []history.Window, colors map[string]string, start, end float64) (template.HTML, error) {
	width := max(time.Duration(math.Round(niceStep((end-start)/quantileBins)*1e3))*time.Millisecond, 100*time.Millisecond)
	nbins := max(int(math.Ceil((end-start)/width.Seconds())), 1)
	lat := make([][][]time.Duration, len(fs))
	for i := range lat {
		lat[i] = make([][]time.Duration, nbins)
	}
	startNS := int64(start * 1e9)
	minMS, maxMS := math.Inf(1), 0.0
	for _, o := range opers {
		k := class(o)
		if k < 0 || o.pending() || o.outcome == history.Info {
			continue
		}
		b := min(max(int((o.start-startNS)/int64(width)), 0), nbins-1)
		lat[k][b] = append(lat[k][b], o.latency())
	}
	type line struct {
		k      int
		dashed bool
		xys    plotter.XYs
	}
	var lines []line
	for k := range fs {
		var segs [2]plotter.XYs // p50, p99 of the current run of bins
		flush := func() {
			for q, xys := range segs {
				if len(xys) > 0 {
					lines = append(lines, line{k, q == 1, xys})
				}
			}
			segs = [2]plotter.XYs{}
		}
		for b, ds := range lat[k] {
			if len(ds) == 0 {
				flush()
				continue
			}
			p := percentiles(ds)
			x := start + (float64(b)+0.5)*width.Seconds()
			for q, d := range []time.Duration{p.P50, p.P99} {
				ms := math.Max(float64(d)/1e6, 1e-3)
				minMS, maxMS = math.Min(minMS, ms), math.Max(maxMS, ms)
				segs[q] = append(segs[q], plotter.XY{X: x, Y: ms})
			}
		}
		flush()
	}
	p := newPlot(start, end)
	p.Title.Text = fmt.Sprintf("Latency by operation type: median (solid) and p99 (dashed) of ok and fail ops, %s bins", width)
	p.Y.Label.Text = "latency"
	p.Add(faultShading{windows: windows, colors: colors})
	switch {
	case len(lines) == 0:
		p.Y.Min, p.Y.Max = 0, 1
	case maxMS/minMS > 50:
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = durationTicks{log: true}
		p.Y.Min = math.Pow10(int(math.Floor(math.Log10(minMS))))
		p.Y.Max = math.Pow10(int(math.Ceil(math.Log10(maxMS))) + 1) // head room for the labels
	default:
		p.Y.Tick.Marker = durationTicks{}
		p.Y.Min, p.Y.Max = 0, maxMS*1.3
	}
	for _, l := range lines {
		pl, err := plotter.NewLine(l.xys)
		if err != nil {
			return "", fmt.Errorf("latency by type: %w", err)
		}
		pl.Color = rgb(fs[l.k].Color, 255)
		pl.Width = vg.Points(1.3)
		if l.dashed {
			pl.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
		}
		p.Add(pl)
	}
	p.Add(faultShading{windows: windows, colors: colors, labels: true})
	return renderSVG(p, "latency by type")
}

// nodeRow is one node's line in the per-node table.
type nodeRow struct {
	Node     string
	Ops      int
	Outcomes Counts
	Latency  Latency
	// Sides says, per partition column, which side the node was on.
	Sides []sideCell
}

// sideCell is a node's place in one partition window.
type sideCell struct {
	// Side is "majority", "minority" or "" (the partition left it whole
	// with every node); Class styles the cell.
	Side, Class string
	// Detail is what the partition did to the node (partitionSide).
	Detail string
}

// sideCol heads a partition window's column.
type sideCol struct {
	Kind, Color, Start, End string
	StartOp                 int64
}

// perNodeView is the per-node table.
type perNodeView struct {
	Rows []nodeRow
	Cols []sideCol
	// MoreRows and MoreCols count what was left out.
	MoreRows, MoreCols int
}

// buildPerNode tallies client ops by the node they were sent to, and for
// each partition window the side each node was on.
func buildPerNode(opers []operation, windows []history.Window, colors map[string]string, nodes []string) perNodeView {
	var v perNodeView
	acc := map[string]*nodeRow{}
	lats := map[string][]time.Duration{}
	order := slices.Clone(nodes)
	for _, o := range opers {
		r := acc[o.node]
		if r == nil {
			r = &nodeRow{Node: o.node}
			acc[o.node] = r
			if !slices.Contains(order, o.node) {
				order = append(order, o.node)
			}
		}
		r.Ops++
		r.Outcomes.add(o)
		if !o.pending() && o.outcome != history.Info {
			lats[o.node] = append(lats[o.node], o.latency())
		}
	}
	slices.SortStableFunc(order[len(nodes):], compareNodes)
	var grudges []map[string][]string
	for _, w := range windows {
		g, ok := windowGrudge(w)
		if !ok {
			continue
		}
		if len(grudges) == maxSideCols {
			v.MoreCols++
			continue
		}
		grudges = append(grudges, g)
		v.Cols = append(v.Cols, sideCol{Kind: w.Kind, Color: colors[w.Kind], Start: fmtSecs(w.Start), End: fmtSecs(w.End), StartOp: w.StartOp})
	}
	all := slices.DeleteFunc(slices.Clone(order), func(n string) bool { return n == "" })
	for _, n := range order {
		r := acc[n]
		if r == nil {
			r = &nodeRow{Node: n}
		}
		if len(v.Rows) == maxNodeRows {
			v.MoreRows++
			continue
		}
		r.Latency = percentiles(lats[n])
		for _, g := range grudges {
			r.Sides = append(r.Sides, sideOf(g, all, n))
		}
		if r.Node == "" {
			r.Node = "(none)"
		}
		v.Rows = append(v.Rows, *r)
	}
	return v
}

// sideOf places node n in a partition: the nodes it reaches both ways,
// itself included, are its side, a majority when more than half of all.
func sideOf(g map[string][]string, all []string, n string) sideCell {
	if n == "" {
		return sideCell{}
	}
	cut := func(a, b string) bool { return slices.Contains(g[a], b) || slices.Contains(g[b], a) }
	side := []string{n}
	for i := 0; i < len(side); i++ { // the component of n over uncut links
		for _, m := range all {
			if !slices.Contains(side, m) && !cut(side[i], m) {
				side = append(side, m)
			}
		}
	}
	c := sideCell{Detail: partitionSide(g, n)}
	switch {
	case len(side) == len(all):
		c.Side, c.Class = "whole", "side-whole"
	case 2*len(side) > len(all):
		c.Side, c.Class = "majority", "side-major"
	default:
		c.Side, c.Class = "minority", "side-minor"
	}
	slices.SortFunc(side, compareNodes)
	if len(side) < len(all) {
		c.Side += " {" + strings.Join(side, " ") + "}"
	}
	return c
}

// faultAlpha is how strongly node's row of the node timeline is shaded for
// w: a partition shades the majority side faintly, so the side cut off
// stands out (a primaries partition would otherwise shade every node
// alike).
func faultAlpha(w history.Window, nodes []string, node string) uint8 {
	if g, ok := windowGrudge(w); ok && sideOf(g, nodes, node).Class == "side-major" {
		return 50
	}
	return 150
}
