package reports

import (
	"fmt"
	"html/template"
	"math"
	"slices"
	"strings"

	"github.com/faultline/faultline/models/history"
)

// Geometry of a partition map, in px.
const (
	pmapNodeR  = 14 // radius of a node's circle
	pmapGap    = 34 // least distance between two circles' edges
	pmapMargin = 8  // around the ring
	pmapMinR   = 44 // least ring radius
	maxMapNode = 24 // larger clusters get no map: it would not be read at a glance
	cutHex     = "#c62828"
	linkHex    = "#9aa5b1"
)

// windowGrudge reads a partition window's value as a grudge (see
// grudgeOf); ok is false for any other window.
func windowGrudge(w history.Window) (map[string][]string, bool) {
	if !isPartition(w.Kind) {
		return nil, false
	}
	return grudgeOf(w.Value)
}

// link is a pair of nodes and which ways their traffic is cut: AB when B
// drops what A sends, BA when A drops what B sends.
type link struct {
	A, B   int
	AB, BA bool
}

// partitionLinks returns the map's nodes (the run's nodes, then any other
// the grudge names, sorted) and every pair between them.
func partitionLinks(g map[string][]string, runNodes []string) ([]string, []link) {
	nodes := slices.Clone(runNodes)
	var extra []string
	for a, from := range g {
		for _, n := range append([]string{a}, from...) {
			if n != "" && !slices.Contains(nodes, n) && !slices.Contains(extra, n) {
				extra = append(extra, n)
			}
		}
	}
	slices.SortFunc(extra, compareNodes)
	nodes = append(nodes, extra...)
	var out []link
	for i := range nodes {
		for j := i + 1; j < len(nodes); j++ {
			a, b := nodes[i], nodes[j]
			out = append(out, link{A: i, B: j, AB: slices.Contains(g[b], a), BA: slices.Contains(g[a], b)})
		}
	}
	return nodes, out
}

// ringLayout places n circles of radius r evenly on a ring, clockwise from
// the top, leaving gap between neighbours; it returns the centers and the
// picture's side.
func ringLayout(n int, r, gap, minRing, margin float64) ([]pt, float64) {
	ring := minRing
	if n > 2 {
		ring = math.Max(ring, (2*r+gap)/(2*math.Sin(math.Pi/float64(n))))
	}
	if n == 1 {
		ring = 0
	}
	side := 2 * (ring + r + margin)
	c := pt{side / 2, side / 2}
	out := make([]pt, 0, n)
	for i := range n {
		a := -math.Pi/2 + 2*math.Pi*float64(i)/float64(n)
		out = append(out, c.add(pt{math.Cos(a), math.Sin(a)}.scale(ring)))
	}
	return out, side
}

// partitionMapOf draws the map of a partition window, or "" for any other
// window.
func partitionMapOf(w history.Window, runNodes []string) template.HTML {
	g, ok := windowGrudge(w)
	if !ok {
		return ""
	}
	return partitionMap(g, runNodes)
}

// partitionMap draws the nodes on a ring and every pair of them: a thin
// grey line where traffic flows both ways, a red dashed line where it is
// cut both ways, and a red arrow where it is cut one way only (pointing to
// the node that drops it).
func partitionMap(g map[string][]string, runNodes []string) template.HTML {
	nodes, links := partitionLinks(g, runNodes)
	if len(nodes) < 2 || len(nodes) > maxMapNode {
		return ""
	}
	centers, side := ringLayout(len(nodes), pmapNodeR, pmapGap, pmapMinR, pmapMargin)
	cut := 0
	for _, l := range links {
		if l.AB || l.BA {
			cut++
		}
	}
	var d svgDoc
	d.open("pmap", fmt.Sprintf("partition map: %d of %d links cut", cut, len(links)), side, side)
	// Open links first, so cuts are drawn over them.
	for _, l := range links {
		if l.AB || l.BA {
			continue
		}
		a, b := centers[l.A], centers[l.B]
		u := b.sub(a).unit().scale(pmapNodeR)
		d.raw(fmt.Sprintf(`<line class="open" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1"><title>%s</title></line>`,
			num(a.add(u).X), num(a.add(u).Y), num(b.sub(u).X), num(b.sub(u).Y), linkHex, esc(nodes[l.A]+" ↔ "+nodes[l.B]+": connected")))
	}
	for _, l := range links {
		if !l.AB && !l.BA {
			continue
		}
		a, b, na, nb := centers[l.A], centers[l.B], nodes[l.A], nodes[l.B]
		if l.BA && !l.AB { // draw every one-way cut from sender to dropper
			a, b, na, nb = b, a, nb, na
		}
		u := b.sub(a).unit()
		from, to := a.add(u.scale(pmapNodeR+1)), b.sub(u.scale(pmapNodeR+1))
		if l.AB && l.BA {
			d.raw(fmt.Sprintf(`<line class="cut" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2" stroke-dasharray="5 3"><title>%s</title></line>`,
				num(from.X), num(from.Y), num(to.X), num(to.Y), cutHex, esc(na+" ✕ "+nb+": cut both ways")))
			continue
		}
		line := to.sub(u.scale(7))
		d.raw(`<g class="oneway">`)
		d.title(na + " → " + nb + ": cut one way (" + nb + " drops what " + na + " sends; " + nb + " → " + na + " flows)")
		d.raw(fmt.Sprintf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2"/>`, num(from.X), num(from.Y), num(line.X), num(line.Y), cutHex))
		d.arrowHead(to, u, 8, cutHex, "head")
		d.raw(`</g>`)
	}
	for i, n := range nodes {
		c := centers[i]
		d.raw(`<g class="node">`)
		drops := g[n]
		tip := n + ": drops nothing"
		if len(drops) > 0 {
			tip = n + " drops traffic from " + strings.Join(drops, ", ")
		}
		d.title(tip)
		fill := "#fff"
		if len(drops) > 0 {
			fill = "#fdecea"
		}
		d.raw(fmt.Sprintf(`<circle cx="%s" cy="%s" r="%d" fill="%s" stroke="#1d2430" stroke-width="1.2"/>`, num(c.X), num(c.Y), pmapNodeR, fill))
		d.text(c.add(pt{0, 3.5}), shorten(n, 4), `font-size="10" text-anchor="middle" font-family="'Liberation Sans',Arial,Helvetica,sans-serif" fill="#1d2430"`)
		d.raw(`</g>`)
	}
	d.close()
	return d.html()
}
