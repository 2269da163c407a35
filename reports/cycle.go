package reports

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"

	"github.com/faultline/faultline/models"
)

// Geometry of a cycle diagram, in px.
const (
	cycleNodeR   = 21 // radius of a transaction's circle
	cycleGap     = 58 // least distance between two circles' edges (room for an edge and its label)
	cycleMargin  = 46 // around the ring, for the outward bends and their labels
	cycleMinRing = 62 // least ring radius, so a two-transaction cycle still has room for two arcs
)

// cycleTxn is one transaction of a cycle diagram.
type cycleTxn struct {
	// Label names it briefly ("T1"), Sub says which op it is ("#42").
	Label, Sub string
	// Title is the whole transaction, shown as the tooltip.
	Title string
	// Op is its history index, linked into the history view; -1 for none.
	Op int64
}

// cycleLayout places a cycle of n transactions: the transactions evenly on
// a ring (clockwise from the top, so T1 is on top and the cycle reads like
// a clock), each edge an arc between neighbours bent away from the centre.
// A cycle's edges only join neighbours, so no two edges cross, and the ring
// grows with n so that neighbours keep cycleGap between them.
type cycleLayout struct {
	W, H    float64
	Centers []pt
	Edges   []arc
}

// arc is a quadratic Bézier edge from From to To through control point C,
// already cut back to the circles' edges; Label is where its label goes.
type arc struct {
	From, To, C, Label pt
}

func layoutCycle(n int) cycleLayout {
	if n <= 0 {
		return cycleLayout{}
	}
	// Neighbours are a chord 2R·sin(π/n) apart.
	chord := 2*cycleNodeR + cycleGap
	r := float64(cycleMinRing)
	if n > 2 {
		r = math.Max(r, float64(chord)/(2*math.Sin(math.Pi/float64(n))))
	}
	side := 2 * (r + cycleNodeR + cycleMargin)
	l := cycleLayout{W: side, H: side}
	c := pt{side / 2, side / 2}
	for i := range n {
		a := -math.Pi/2 + 2*math.Pi*float64(i)/float64(n)
		l.Centers = append(l.Centers, c.add(pt{math.Cos(a), math.Sin(a)}.scale(r)))
	}
	if n == 1 {
		return l
	}
	for i := range n {
		p0, p2 := l.Centers[i], l.Centers[(i+1)%n]
		d := p2.sub(p0)
		// Going clockwise, a quarter turn of the direction points away from
		// the centre; for n = 2 it sends the two arcs to opposite sides.
		out := d.perp().unit()
		bend := math.Max(0.22*d.len(), 18)
		ctl := mid(p0, p2).add(out.scale(bend))
		from := p0.add(ctl.sub(p0).unit().scale(cycleNodeR))
		to := p2.add(ctl.sub(p2).unit().scale(cycleNodeR + 1))
		top := lerp(lerp(from, ctl, 0.5), lerp(ctl, to, 0.5), 0.5) // the arc's middle
		l.Edges = append(l.Edges, arc{From: from, To: to, C: ctl, Label: top.add(out.scale(13))})
	}
	return l
}

// relStyle is how an edge of each relation is drawn: its color and dashes.
func relStyle(rel string) (color, dash string) {
	switch rel {
	case "ww":
		return "#1f5fa8", ""
	case "wr":
		return "#2e7d32", ""
	case "rw":
		return "#c62828", "6 3"
	case "process":
		return "#5f6b7a", "2 3"
	}
	return "#8e6bbf", "8 3 2 3" // realtime
}

// cycleSVG draws a dependency cycle: txns[i] precedes txns[(i+1)%n] by
// edges[i]. It returns "" when the two do not match.
func cycleSVG(kind string, txns []cycleTxn, edges []models.CycleEdge) template.HTML {
	n := len(txns)
	if n < 2 || len(edges) != n {
		return ""
	}
	l := layoutCycle(n)
	var d svgDoc
	d.open("cycle", fmt.Sprintf("%s cycle of %d transactions", kind, n), l.W, l.H)
	d.raw(`<g font-family="'Liberation Sans',Arial,Helvetica,sans-serif" text-anchor="middle">`)
	for i, e := range edges {
		a := l.Edges[i]
		col, dash := relStyle(e.Rel)
		tip := fmt.Sprintf("%s precedes %s: %s", txns[i].Label, txns[(i+1)%n].Label, e.Rel)
		if e.Key != "" {
			tip += " on key " + e.Key
		}
		d.raw(`<g class="edge" data-rel="` + esc(e.Rel) + `">`)
		d.title(tip)
		end := a.To.sub(a.C).unit().scale(7) // the path stops where the arrowhead begins
		dashAttr := ""
		if dash != "" {
			dashAttr = ` stroke-dasharray="` + dash + `"`
		}
		d.raw(fmt.Sprintf(`<path d="M%s Q%s %s" fill="none" stroke="%s" stroke-width="1.6"%s/>`, a.From, a.C, a.To.sub(end), col, dashAttr))
		d.arrowHead(a.To, a.To.sub(a.C), 8, col, "head")
		label := e.Rel
		if e.Key != "" && len([]rune(e.Key)) <= 6 {
			label += " " + e.Key
		}
		d.text(a.Label.add(pt{0, 4}), label, `font-size="11" font-weight="600" fill="`+col+`" stroke="#fff" stroke-width="3" paint-order="stroke"`)
		d.raw(`</g>`)
	}
	for i, t := range txns {
		c := l.Centers[i]
		if t.Op >= 0 {
			d.raw(`<a class="txn" href="history.html#op=` + strconv.FormatInt(t.Op, 10) + `">`)
		} else {
			d.raw(`<g class="txn">`)
		}
		d.title(t.Title)
		d.raw(fmt.Sprintf(`<circle cx="%s" cy="%s" r="%d" fill="#fff" stroke="#1d2430" stroke-width="1.4"/>`, num(c.X), num(c.Y), cycleNodeR))
		d.text(c.add(pt{0, -1}), t.Label, `font-size="12" font-weight="700" fill="#1d2430"`)
		d.text(c.add(pt{0, 11}), shorten(t.Sub, 8), `font-size="9" fill="#5f6b7a"`)
		if t.Op >= 0 {
			d.raw(`</a>`)
		} else {
			d.raw(`</g>`)
		}
	}
	d.raw(`</g>`)
	d.close()
	return d.html()
}

// cycleTxns names the transactions of a cycle for its diagram, from the
// anomaly's op rows (in the anomaly's order, which the explanation's T1,
// T2, … follow).
func cycleTxns(a models.Anomaly, rows map[int64]opRow) []cycleTxn {
	out := make([]cycleTxn, 0, len(a.Ops))
	for i, idx := range a.Ops {
		t := cycleTxn{Label: "T" + strconv.Itoa(i+1), Sub: "#" + strconv.FormatInt(idx, 10), Op: idx}
		r, ok := rows[idx]
		if !ok {
			t.Title = t.Label + ": op #" + strconv.FormatInt(idx, 10) + " (not in the history)"
			t.Op = -1
			out = append(out, t)
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%s: op #%d, process %s, %s", t.Label, r.Index, r.Process, r.Outcome)
		if r.Node != "" {
			b.WriteString(", node " + r.Node)
		}
		fmt.Fprintf(&b, ", invoked %s", r.Invoked)
		if r.Completed != "" {
			fmt.Fprintf(&b, ", completed %s", r.Completed)
		}
		b.WriteString("\n" + r.Value)
		t.Title = b.String()
		out = append(out, t)
	}
	return out
}
