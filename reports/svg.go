package reports

import (
	"fmt"
	"html/template"
	"math"
	"strings"
)

// svgDoc builds the report's own inline SVG pictures (cycle diagrams,
// partition maps, the fault timeline): plain elements, every text escaped,
// no ids (many pictures share the page) and no external references.
type svgDoc struct {
	b strings.Builder
}

// pt is a point in a picture's coordinates (px, y down).
type pt struct{ X, Y float64 }

func (p pt) add(q pt) pt              { return pt{p.X + q.X, p.Y + q.Y} }
func (p pt) sub(q pt) pt              { return pt{p.X - q.X, p.Y - q.Y} }
func (p pt) scale(f float64) pt       { return pt{p.X * f, p.Y * f} }
func (p pt) len() float64             { return math.Hypot(p.X, p.Y) }
func (p pt) unit() pt                 { return p.scale(1 / math.Max(p.len(), 1e-9)) }
func (p pt) perp() pt                 { return pt{p.Y, -p.X} } // a quarter turn
func (p pt) String() string           { return num(p.X) + "," + num(p.Y) }
func lerp(a, b pt, t float64) pt      { return a.add(b.sub(a).scale(t)) }
func mid(a, b pt) pt                  { return lerp(a, b, 0.5) }
func dist(a, b pt) float64            { return b.sub(a).len() }
func esc(s string) string             { return template.HTMLEscapeString(s) }
func (d *svgDoc) raw(s string)        { d.b.WriteString(s) }
func (d *svgDoc) html() template.HTML { return template.HTML(d.b.String()) }

// num formats a coordinate with at most one decimal: the pictures are a
// few hundred px, so tenths are plenty and keep the markup short.
func num(f float64) string {
	s := fmt.Sprintf("%.1f", f)
	s = strings.TrimSuffix(s, ".0")
	if s == "-0" {
		return "0"
	}
	return s
}

// open starts a picture of w×h px, inline in HTML, so without a namespace
// declaration (which would be the page's only http:// string). class and
// label name it for styles, tests and screen readers.
func (d *svgDoc) open(class, label string, w, h float64) {
	fmt.Fprintf(&d.b, `<svg class="%s" role="img" aria-label="%s" viewBox="0 0 %s %s" width="%s" height="%s">`,
		esc(class), esc(label), num(w), num(h), num(w), num(h))
}

func (d *svgDoc) close() { d.b.WriteString("</svg>") }

// title adds a tooltip to the element being written (it must come first
// inside that element).
func (d *svgDoc) title(s string) {
	if s != "" {
		d.b.WriteString("<title>" + esc(s) + "</title>")
	}
}

// text writes s at p; attrs are extra attributes (trusted, ours).
func (d *svgDoc) text(p pt, s, attrs string) {
	fmt.Fprintf(&d.b, `<text x="%s" y="%s" %s>%s</text>`, num(p.X), num(p.Y), attrs, esc(s))
}

// arrowHead draws a filled triangle with its tip at tip, pointing along dir.
func (d *svgDoc) arrowHead(tip, dir pt, size float64, fill, class string) {
	u := dir.unit()
	back := tip.sub(u.scale(size))
	n := u.perp().scale(size * 0.45)
	fmt.Fprintf(&d.b, `<polygon class="%s" points="%s %s %s" fill="%s"/>`, class, tip, back.add(n), back.sub(n), fill)
}

// shorten returns s cut to n runes with an ellipsis.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
