package reports

import (
	"context"
	"encoding/xml"
	"fmt"
	"html/template"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/models/txn"
)

// svgElem is one element of a parsed picture: its name, attributes, the
// classes of its ancestors and its own, and its title (tooltip).
type svgElem struct {
	Name    string
	Attr    map[string]string
	Classes []string // the element's and its ancestors', innermost first
	Title   string
	Text    string
}

func (e svgElem) in(class string) bool {
	for _, c := range e.Classes {
		if c == class {
			return true
		}
	}
	return false
}

// parseSVG parses a picture as XML (so it must be well formed) and lists
// its elements in document order.
func parseSVG(t *testing.T, s template.HTML) []svgElem {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(string(s)))
	var out []svgElem
	var stack []int // positions in out of the open elements
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("picture is not well-formed XML: %v\n%s", err, s)
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			e := svgElem{Name: tk.Name.Local, Attr: map[string]string{}}
			for _, a := range tk.Attr {
				e.Attr[a.Name.Local] = a.Value
			}
			if c := e.Attr["class"]; c != "" {
				e.Classes = append(e.Classes, c)
			}
			if len(stack) > 0 {
				e.Classes = append(e.Classes, out[stack[len(stack)-1]].Classes...)
			}
			out = append(out, e)
			stack = append(stack, len(out)-1)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				continue
			}
			e := &out[stack[len(stack)-1]]
			e.Text += string(tk)
			if e.Name == "title" && len(stack) > 1 {
				out[stack[len(stack)-2]].Title += string(tk)
			}
		}
	}
	return out
}

func count(es []svgElem, f func(svgElem) bool) int {
	n := 0
	for _, e := range es {
		if f(e) {
			n++
		}
	}
	return n
}

func attrF(t *testing.T, e svgElem, name string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(e.Attr[name], 64)
	if err != nil {
		t.Fatalf("%s %s=%q: %v", e.Name, name, e.Attr[name], err)
	}
	return f
}

// points parses a polygon's points.
func points(t *testing.T, e svgElem) []pt {
	t.Helper()
	var out []pt
	for _, p := range strings.Fields(e.Attr["points"]) {
		x, y, ok := strings.Cut(p, ",")
		fx, err1 := strconv.ParseFloat(x, 64)
		fy, err2 := strconv.ParseFloat(y, 64)
		if !ok || err1 != nil || err2 != nil {
			t.Fatalf("bad point %q", p)
		}
		out = append(out, pt{fx, fy})
	}
	return out
}

func TestLayoutCycle(t *testing.T) {
	for n := 2; n <= maxCycleTxns; n++ {
		l := layoutCycle(n)
		if len(l.Centers) != n || len(l.Edges) != n {
			t.Fatalf("n=%d: %d centers, %d edges", n, len(l.Centers), len(l.Edges))
		}
		for i, c := range l.Centers {
			if c.X-cycleNodeR < 0 || c.Y-cycleNodeR < 0 || c.X+cycleNodeR > l.W || c.Y+cycleNodeR > l.H {
				t.Errorf("n=%d: T%d at %v outside %v×%v", n, i+1, c, l.W, l.H)
			}
			for j := i + 1; j < n; j++ {
				if d := dist(c, l.Centers[j]); d < 2*cycleNodeR+cycleGap-0.01 {
					t.Errorf("n=%d: T%d and T%d %.1f apart, want at least %d", n, i+1, j+1, d, 2*cycleNodeR+cycleGap)
				}
			}
		}
		for i, e := range l.Edges {
			from, to := l.Centers[i], l.Centers[(i+1)%n]
			// Each edge starts on its first circle and ends on the next.
			if d := dist(e.From, from); math.Abs(d-cycleNodeR) > 0.01 {
				t.Errorf("n=%d: edge %d starts %.2f from T%d's center", n, i, d, i+1)
			}
			if d := dist(e.To, to); math.Abs(d-cycleNodeR-1) > 0.01 {
				t.Errorf("n=%d: edge %d ends %.2f from the next center", n, i, d)
			}
			// Its label is outside every circle and inside the picture.
			for j, c := range l.Centers {
				if dist(e.Label, c) < cycleNodeR+4 {
					t.Errorf("n=%d: edge %d's label at %v covers T%d", n, i, e.Label, j+1)
				}
			}
			if e.Label.X < 10 || e.Label.Y < 10 || e.Label.X > l.W-10 || e.Label.Y > l.H-10 {
				t.Errorf("n=%d: edge %d's label at %v outside %v×%v", n, i, e.Label, l.W, l.H)
			}
		}
	}
	// The two arcs of a two-transaction cycle bend to opposite sides.
	l := layoutCycle(2)
	if (l.Edges[0].C.X-l.W/2)*(l.Edges[1].C.X-l.W/2) >= 0 {
		t.Errorf("two-cycle arcs on one side: %v %v", l.Edges[0].C, l.Edges[1].C)
	}
	// Elle's huge-scc cycle (15) fits a page 1400 px wide.
	if l := layoutCycle(15); l.W > 900 {
		t.Errorf("15-cycle is %v px wide", l.W)
	}
}

func TestCycleSVG(t *testing.T) {
	rels := []string{"ww", "wr", "rw", "process", "realtime"}
	tests := []struct {
		name  string
		n     int
		edges int // edges given; a mismatch draws nothing
	}{
		{"two", 2, 2},
		{"write skew", 3, 3},
		{"huge scc", 15, 15},
		{"edges missing", 4, 3},
		{"one", 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var txns []cycleTxn
			var edges []models.CycleEdge
			for i := range tt.n {
				txns = append(txns, cycleTxn{Label: fmt.Sprintf("T%d", i+1), Sub: fmt.Sprintf("#%d", 10*i),
					Title: `<script>alert(1)</script> [[:append "x" 1]]`, Op: int64(10 * i)})
			}
			for i := range tt.edges {
				edges = append(edges, models.CycleEdge{Rel: rels[i%len(rels)], Key: "k<" + strconv.Itoa(i)})
			}
			svg := cycleSVG("G2-item", txns, edges)
			if tt.n < 2 || tt.n != tt.edges {
				if svg != "" {
					t.Fatalf("drew %d txns with %d edges", tt.n, tt.edges)
				}
				return
			}
			if strings.Contains(string(svg), "<script") {
				t.Fatalf("unescaped text in %s", svg)
			}
			es := parseSVG(t, svg)
			links := count(es, func(e svgElem) bool { return e.Name == "a" && e.in("txn") })
			circles := count(es, func(e svgElem) bool { return e.Name == "circle" && e.in("txn") })
			paths := count(es, func(e svgElem) bool { return e.Name == "path" && e.in("edge") })
			heads := count(es, func(e svgElem) bool { return e.Name == "polygon" && e.in("head") })
			if links != tt.n || circles != tt.n || paths != tt.n || heads != tt.n {
				t.Errorf("%d links, %d circles, %d edge paths, %d arrowheads; want %d each", links, circles, paths, heads, tt.n)
			}
			i := 0
			for _, e := range es {
				switch {
				case e.Name == "g" && e.in("edge"):
					want := rels[i%len(rels)]
					if e.Attr["data-rel"] != want || !strings.Contains(e.Title, want+" on key k<"+strconv.Itoa(i)) {
						t.Errorf("edge %d: rel %q title %q, want %s", i, e.Attr["data-rel"], e.Title, want)
					}
					i++
				case e.Name == "a" && e.in("txn"):
					if !strings.HasPrefix(e.Attr["href"], "history.html#op=") || !strings.Contains(e.Title, "<script>") {
						t.Errorf("txn link %q title %q", e.Attr["href"], e.Title)
					}
				}
			}
		})
	}
}

// nodePos returns the centers of a partition map's node circles by name.
func nodePos(t *testing.T, es []svgElem) map[string]pt {
	out := map[string]pt{}
	var last pt
	for _, e := range es {
		if e.Name == "circle" && e.in("node") {
			last = pt{attrF(t, e, "cx"), attrF(t, e, "cy")}
		}
		if e.Name == "text" && e.in("node") {
			out[e.Text] = last
		}
	}
	return out
}

func TestPartitionMap(t *testing.T) {
	nodes := []string{"n1", "n2", "n3", "n4", "n5"}
	tests := []struct {
		name               string
		grudge             map[string][]string
		nodes              []string
		open, cut, oneway  int
		arrowFrom, arrowTo string // for one one-way cut
	}{
		{"halves", map[string][]string{"n1": {"n3", "n4", "n5"}, "n2": {"n3", "n4", "n5"}, "n3": {"n1", "n2"}, "n4": {"n1", "n2"}, "n5": {"n1", "n2"}}, nodes, 4, 6, 0, "", ""},
		{"one isolated", map[string][]string{"n1": {"n2", "n3"}, "n2": {"n1"}, "n3": {"n1"}}, nodes[:3], 1, 2, 0, "", ""},
		{"one-way", map[string][]string{"n1": {"n2"}}, nodes[:3], 2, 0, 1, "n2", "n1"},
		{"bridge", map[string][]string{"n1": {"n4", "n5"}, "n2": {"n4", "n5"}, "n4": {"n1", "n2"}, "n5": {"n1", "n2"}}, nodes, 6, 4, 0, "", ""},
		{"node the run did not name", map[string][]string{"n1": {"x9"}, "x9": {"n1"}}, nodes[:2], 2, 1, 0, "", ""},
		{"hostile node name", map[string][]string{"n1": {`<b x="1">`}}, nodes[:2], 2, 0, 1, "<b …", "n1"}, // labels keep 4 characters
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := history.Window{Kind: "partition", Value: map[string]any{}}
			for k, v := range tt.grudge {
				var vs []any
				for _, s := range v {
					vs = append(vs, s)
				}
				w.Value.(map[string]any)[k] = vs // as read back from history.jsonl
			}
			svg := partitionMapOf(w, tt.nodes)
			if strings.Contains(string(svg), "<b") {
				t.Fatalf("unescaped node name in %s", svg)
			}
			es := parseSVG(t, svg)
			open := count(es, func(e svgElem) bool { return e.Name == "line" && e.in("open") })
			cut := count(es, func(e svgElem) bool { return e.Name == "line" && e.in("cut") })
			oneway := count(es, func(e svgElem) bool { return e.Name == "g" && e.in("oneway") })
			heads := count(es, func(e svgElem) bool { return e.Name == "polygon" && e.in("head") })
			if open != tt.open || cut != tt.cut || oneway != tt.oneway || heads != tt.oneway {
				t.Errorf("open %d cut %d one-way %d arrowheads %d; want %d %d %d %d", open, cut, oneway, heads, tt.open, tt.cut, tt.oneway, tt.oneway)
			}
			pos := nodePos(t, es)
			if len(pos) != tt.open+tt.cut+tt.oneway && len(pos)*(len(pos)-1)/2 != tt.open+tt.cut+tt.oneway {
				t.Errorf("%d nodes drawn for %d links", len(pos), tt.open+tt.cut+tt.oneway)
			}
			for a, pa := range pos {
				for b, pb := range pos {
					if a < b && dist(pa, pb) < 2*pmapNodeR {
						t.Errorf("%s and %s overlap", a, b)
					}
				}
			}
			if tt.arrowTo != "" {
				// The arrow points at the node that drops the traffic.
				for _, e := range es {
					if e.Name == "polygon" && e.in("head") {
						tip := points(t, e)[0]
						if dist(tip, pos[tt.arrowTo]) > pmapNodeR+2 || dist(tip, pos[tt.arrowFrom]) < 3*pmapNodeR {
							t.Errorf("arrow tip %v; %s at %v, %s at %v", tip, tt.arrowTo, pos[tt.arrowTo], tt.arrowFrom, pos[tt.arrowFrom])
						}
					}
				}
			}
		})
	}
	for _, w := range []history.Window{
		{Kind: "kill", Value: []any{"n1"}},
		{Kind: "partition", Value: "garbage"},
		{Kind: "partition"},
	} {
		if svg := partitionMapOf(w, nodes); svg != "" {
			t.Errorf("%+v drew a map", w)
		}
	}
}

func TestFaultTimeline(t *testing.T) {
	ops := withNodeInfo(synth(3, 600, true))
	windows := history.FaultWindows(ops)
	opers, _ := pairOps(ops)
	colors := map[string]string{"partition": faultHex(0), "kill": faultHex(1)}
	var end int64
	for _, op := range ops {
		end = max(end, op.Time)
	}
	_, _, ax, err := latencyPlot(opers, windows, colors, secs(opers[0].start), secs(end))
	if err != nil {
		t.Fatal(err)
	}
	if ax.X0 <= 20 || ax.X1 >= ax.W || ax.X1-ax.X0 < ax.W/2 || ax.End != secs(end) {
		t.Fatalf("latency plot's axis %+v", ax)
	}
	nf := collectNodeFacts(ops, windows, []string{"n1", "n2", "n3"})
	svg := faultTimeline(nf, windows, colors, ax)
	es := parseSVG(t, svg)
	want := 0
	for _, w := range windows {
		want += len(w.Nodes)
	}
	bands := 0
	for _, e := range es {
		if e.Name != "a" || !e.in("band") {
			continue
		}
		bands++
		op, err := strconv.ParseInt(strings.TrimPrefix(e.Attr["href"], "history.html#op="), 10, 64)
		if err != nil {
			t.Fatalf("band link %q", e.Attr["href"])
		}
		i := len(windows)
		for j, w := range windows {
			if w.StartOp == op {
				i = j
			}
		}
		if i == len(windows) || windows[i].Kind != e.Attr["data-kind"] || !strings.Contains(e.Title, windows[i].Kind+" on n") {
			t.Errorf("band %q (%s) names no window", e.Attr["href"], e.Title)
		}
	}
	if bands != want {
		t.Errorf("%d bands, want %d", bands, want)
	}
	// Bands sit on the latency plot's axis: a window's rectangle starts
	// where the plot draws its start.
	for i, e := range es {
		if e.Name == "rect" && e.in("band") {
			x := attrF(t, e, "x")
			if x < ax.X0-0.05 || x > ax.X1+0.05 {
				t.Errorf("band %d at x=%v, outside the axis %v–%v", i, x, ax.X0, ax.X1)
			}
		}
	}
	if w := windows[0]; w.Kind == "partition" {
		var got float64
		for _, e := range es {
			if e.Name == "rect" && e.in("band") {
				got = attrF(t, e, "x")
				break
			}
		}
		if math.Abs(got-ax.x(w.Start)) > 0.06 {
			t.Errorf("first band at %v, want %v", got, ax.x(w.Start))
		}
	}
	primaries := count(es, func(e svgElem) bool { return e.Name == "rect" && e.Attr["class"] == "primary" })
	if primaries == 0 {
		t.Errorf("no primary bars")
	}
	if faultTimeline(nf, nil, colors, ax) != "" {
		t.Errorf("timeline without faults")
	}
}

func TestPartitionSide(t *testing.T) {
	g := map[string][]string{"n1": {"n2", "n3"}, "n2": {"n1"}, "n3": {"n1"}, "n4": {"n5"}}
	tests := map[string]string{
		"n1": "cut from n2, n3",
		"n2": "cut from n1",
		"n4": "hears nothing from n5",
		"n5": "not heard by n4",
		"n6": "not cut",
	}
	for n, want := range tests {
		if got := partitionSide(g, n); got != want {
			t.Errorf("%s: %q, want %q", n, got, want)
		}
	}
}

// cycleHistory is a list-append history with a G2-item cycle of n
// transactions: each reads the key the next appends to (before that append)
// and appends to its own key, so each anti-depends on the next.
func cycleHistory(n int) []history.Op {
	var ops []history.Op
	for i := range n {
		key := func(j int) string { return strconv.Itoa(j % n) }
		inv := history.Op{Time: int64(i) * ms, Type: history.Invoke, Process: history.Process(i), F: "txn", Node: "n1",
			Value: []any{[]any{"r", key(i + 1), nil}, []any{"append", key(i), 1}}}
		ops = append(ops, inv)
	}
	for i := range n {
		key := func(j int) string { return strconv.Itoa(j % n) }
		comp := history.Op{Time: int64(n+i) * ms, Type: history.OK, Process: history.Process(i), F: "txn", Node: "n1",
			Value: []any{[]any{"r", key(i + 1), []any{}}, []any{"append", key(i), 1}}}
		ops = append(ops, comp)
	}
	for i := range ops {
		ops[i].Index = int64(i)
	}
	return ops
}

// TestCycleFromChecker draws the cycle models/txn finds in cycleHistory:
// fifteen transactions joined by rw edges.
func TestCycleFromChecker(t *testing.T) {
	ops := cycleHistory(15)
	res := (&txn.Checker{}).Check(context.Background(), ops, models.Options{})
	if len(res.Anomalies) != 1 || res.Anomalies[0].Kind != "G2-item" {
		t.Fatalf("anomalies %+v (%s)", res.Anomalies, res.Reason)
	}
	a := res.Anomalies[0]
	opers, at := pairOps(ops)
	av := anomalyRows(a, ops, opers, at, indexLookup(ops), nil, 0, []string{"n1"})
	es := parseSVG(t, av.Cycle)
	if got := count(es, func(e svgElem) bool { return e.Name == "g" && e.Attr["data-rel"] == "rw" }); got != 15 {
		t.Errorf("%d rw edges drawn, want 15", got)
	}
	for _, e := range es {
		// Each transaction's tooltip holds its micro-ops in full.
		if e.Name == "a" && e.in("txn") && !strings.Contains(e.Title, `["append",`) {
			t.Errorf("txn tooltip %q", e.Title)
		}
	}
}

// TestReportPictures renders a report with a 15-transaction cycle and a
// partition and finds each picture where it belongs. With
// FAULTLINE_PICTURES_DIR set, the run directory is written there (for
// a look in a browser).
func TestReportPictures(t *testing.T) {
	dir := runDir(t)
	if d := os.Getenv("FAULTLINE_PICTURES_DIR"); d != "" {
		dir = d
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ops := synth(3, 300, false)
	const n = 15
	a := models.Anomaly{Kind: "G2-item", Explanation: "A cycle of 15.", Time: 1200 * ms}
	// Transactions completed within the partition (1s–2s).
	for _, op := range ops {
		if len(a.Ops) < n && op.Type == history.OK && op.Time > 1100*ms && op.Time < 1900*ms {
			a.Ops = append(a.Ops, op.Index)
		}
	}
	for i := range n {
		a.Cycle = append(a.Cycle, models.CycleEdge{Rel: []string{"rw", "wr", "ww"}[i%3], Key: strconv.Itoa(i)})
	}
	in := Input{Run: Run{Test: "pictures", Nodes: []string{"n1", "n2", "n3"}}, Ops: withNodeInfo(ops),
		Results: []models.Result{{Checker: "txn", Model: "list-append", Verdict: models.Invalid, Anomalies: []models.Anomaly{a}}}}
	path := filepath.Join(dir, "report.html")
	if err := Write(path, in); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for _, want := range []string{
		`<svg class="cycle" role="img" aria-label="G2-item cycle of 15 transactions"`,
		`<svg class="timeline"`,
		`Faults active then: <strong>partition n1 n2 n3 1.000s–2.000s</strong><span class="pmap"><svg class="pmap"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if got := strings.Count(page, `<svg class="pmap"`); got != 2 {
		t.Errorf("%d partition maps, want 2 (fault table and anomaly)", got)
	}
	if got := strings.Count(page, `class="txn" href="history.html#op=`); got != n {
		t.Errorf("%d linked transactions, want %d", got, n)
	}
}
