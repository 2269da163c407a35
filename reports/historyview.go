package reports

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"slices"
	"strconv"
	"strings"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// The history view: history.html next to report.html, a small page whose
// embedded script shows the run's history a page of rows at a time, and
// history/ops-NNNN.js, the rows in chunks it loads as it needs them (script
// elements, so it works from file:// without a server). Everything is in the
// run directory; nothing is fetched from elsewhere.
const (
	HistoryViewFile = "history.html"
	historyDataDir  = "history"
	// chunkRows is the number of rows per data file.
	chunkRows = 5000
	// maxHighlighted bounds the anomaly ops the view highlights.
	maxHighlighted = 20000
)

// historyRow is one row of the view: an operation (invocation and
// completion) or a lone op. Its JSON form is an array, see rowJSON.
type historyRow struct {
	inv, comp int64 // history indexes; comp -1 when there is none
	t0, t1    int64 // µs since start; t1 -1 when pending
	process   string
	f         string
	key       string
	value     string
	outcome   string // ok, fail, info, pending, nuker
	node      string
	err       string
}

// historyRows pairs the ops into rows in the order of their first op:
// client ops as history.Pair does, nuker ops by F (a start or stop
// invocation with its completion), everything else alone.
func historyRows(ops []history.Op) []historyRow {
	calls, at, _ := history.Pair(ops)
	done := make([]bool, len(ops))
	pendingNuker := map[string]int{} // F -> row of its open invocation
	rows := make([]historyRow, 0, len(ops)/2+1)
	for pos, op := range ops {
		if done[pos] {
			continue
		}
		if c := at[pos]; c >= 0 {
			call := calls[c]
			inv := ops[call.Inv]
			r := historyRow{inv: inv.Index, comp: -1, t0: inv.Time / 1e3, t1: -1, process: inv.Process.String(),
				f: inv.F, key: inv.Key, value: fmtValue(inv.Value), outcome: "pending", node: inv.Node}
			if call.Done >= 0 {
				cp := ops[call.Done]
				done[call.Done] = true
				r.comp, r.t1, r.outcome, r.err = cp.Index, max(cp.Time, inv.Time)/1e3, string(cp.Type), cp.Error
				if cv := fmtValue(cp.Value); cv != "" && cv != r.value {
					if r.value == "" {
						r.value = "→ " + cv
					} else {
						r.value += " → " + cv
					}
				}
				if r.node == "" {
					r.node = cp.Node
				}
			}
			rows = append(rows, r)
			continue
		}
		r := historyRow{inv: op.Index, comp: -1, t0: op.Time / 1e3, t1: -1, process: op.Process.String(), f: op.F,
			key: op.Key, value: fmtValue(op.Value), outcome: string(op.Type), node: op.Node, err: op.Error}
		if !op.IsClient() {
			r.outcome = "nuker"
			if len(op.Nodes) > 0 {
				r.node = strings.Join(op.Nodes, ",")
			}
			if op.Type == history.Invoke {
				pendingNuker[op.F] = len(rows)
			} else if i, ok := pendingNuker[op.F]; ok {
				// The completion of an open fault invocation joins its row.
				delete(pendingNuker, op.F)
				pr := &rows[i]
				pr.comp, pr.t1 = op.Index, op.Time/1e3
				if pr.err == "" {
					pr.err = op.Error
				}
				if len(op.Nodes) > 0 {
					pr.node = strings.Join(op.Nodes, ",")
				}
				if cv := fmtValue(op.Value); cv != "" && cv != pr.value {
					if pr.value == "" {
						pr.value = "→ " + cv
					} else {
						pr.value += " → " + cv
					}
				}
				continue
			}
		}
		rows = append(rows, r)
	}
	return rows
}

// historyMeta is what history.html embeds about the rows.
type historyMeta struct {
	Title     string   `json:"title"`
	Rows      int      `json:"rows"`
	ChunkRows int      `json:"chunkRows"`
	Chunks    int      `json:"chunks"`
	FirstInv  []int64  `json:"firstInv"` // invocation index of each chunk's first row
	FirstT    []int64  `json:"firstT"`   // time (µs) of each chunk's first row, for the timeline view
	Fs        []string `json:"fs"`
	Nodes     []string `json:"nodes"`
	// Anomalies maps a history index to the anomalies naming it.
	Anomalies map[string][]string `json:"anomalies"`
	// Truncated says whether anomaly ops were left out (over maxHighlighted).
	Truncated bool `json:"truncated,omitempty"`
}

type historyPage struct {
	// Up is the link to the run directory from the page's.
	Up      string
	Title   string
	Verdict string
	Meta    historyMeta
}

// writeHistoryView writes history.html and its data files into dir's
// outputs; committed, the new data directory replaces the old one whole.
func writeHistoryView(dir runFiles, title, verdict string, ops []history.Op, results []models.Result) error {
	rows := historyRows(ops)
	meta := historyMeta{Title: title, Rows: len(rows), ChunkRows: chunkRows, Anomalies: map[string][]string{},
		FirstInv: []int64{}, FirstT: []int64{}, Fs: []string{}, Nodes: []string{}}
	meta.Chunks = (len(rows) + chunkRows - 1) / chunkRows
	fs, nodes := map[string]bool{}, map[string]bool{}
	for _, r := range rows {
		fs[r.f] = true
		for n := range strings.SplitSeq(r.node, ",") {
			if n != "" {
				nodes[n] = true
			}
		}
	}
	for f := range fs {
		meta.Fs = append(meta.Fs, f)
	}
	for n := range nodes {
		meta.Nodes = append(meta.Nodes, n)
	}
	slices.Sort(meta.Fs)
	slices.SortFunc(meta.Nodes, compareNodes)
	n := 0
	for _, res := range results {
		for i, a := range res.Anomalies {
			label := fmt.Sprintf("%s #%d: %s", checkerName(res), i+1, a.Kind)
			if a.Key != "" {
				label += " on " + a.Key
			}
			for _, idx := range a.Ops {
				if n == maxHighlighted {
					meta.Truncated = true
					break
				}
				k := strconv.FormatInt(idx, 10)
				if ls := meta.Anomalies[k]; len(ls) < 3 {
					meta.Anomalies[k] = append(ls, label)
				}
				n++
			}
		}
	}

	for c := range meta.Chunks {
		lo, hi := c*chunkRows, min((c+1)*chunkRows, len(rows))
		meta.FirstInv = append(meta.FirstInv, rows[lo].inv)
		meta.FirstT = append(meta.FirstT, rows[lo].t0)
		b, err := chunkJS(c, rows[lo:hi])
		if err != nil {
			return err
		}
		if err := dir.out.WriteFile(historyDataDir+"/"+chunkName(c), b); err != nil {
			return fmt.Errorf("history view: %w", err)
		}
	}

	t, err := template.New("history.html.tmpl").ParseFS(templates, "templates/history.html.tmpl")
	if err != nil {
		return fmt.Errorf("parse history template: %w", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, historyPage{Up: dir.up, Title: title, Verdict: verdict, Meta: meta}); err != nil {
		return fmt.Errorf("render history view: %w", err)
	}
	if err := dir.out.WriteFile(HistoryViewFile, b.Bytes()); err != nil {
		return err
	}
	return writeTimelineView(dir, title, verdict, meta)
}

func chunkName(c int) string { return fmt.Sprintf("ops-%04d.js", c) }

// chunkJS is one data file: a call of the view's loader with the chunk's
// number, a table of repeated strings and the rows, each
// [inv, comp, t0µs, t1µs, process, f, key, value, outcome, node, error] with
// process, f, outcome, node and error as positions in the table. The JSON
// encoder escapes <, > and & (and U+2028/9), so no value can end the script
// or be read as markup.
func chunkJS(c int, rows []historyRow) ([]byte, error) {
	strs := []string{}
	pos := map[string]int{}
	intern := func(s string) int64 {
		if i, ok := pos[s]; ok {
			return int64(i)
		}
		pos[s] = len(strs)
		strs = append(strs, s)
		return int64(len(strs) - 1)
	}
	// Written directly rather than by json.Marshal of [][]any, which took
	// a second at a million rows; the bytes are the same (the map's keys
	// in order, strings escaped as encoding/json escapes them).
	b := make([]byte, 0, 64+len(rows)*80)
	b = fmt.Appendf(b, "faultlineHistory.chunk(%d,", c)
	b = append(b, `{"r":[`...)
	for i, r := range rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		for j, n := range []int64{r.inv, r.comp, r.t0, r.t1, intern(r.process), intern(r.f)} {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, n, 10)
		}
		for _, s := range []string{r.key, r.value} {
			b = append(b, ',')
			var err error
			if b, err = appendJSONString(b, s); err != nil {
				return nil, fmt.Errorf("history view chunk %d: %w", c, err)
			}
		}
		for _, s := range []string{r.outcome, r.node, r.err} {
			b = append(b, ',')
			b = strconv.AppendInt(b, intern(s), 10)
		}
		b = append(b, ']')
	}
	b = append(b, `],"s":[`...)
	for i, s := range strs {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendJSONString(b, s); err != nil {
			return nil, fmt.Errorf("history view chunk %d: %w", c, err)
		}
	}
	b = append(b, "]});\n"...)
	return b, nil
}

// appendJSONString appends s as encoding/json writes it: plain printable
// ASCII as it is, anything else through json.Marshal.
func appendJSONString(b []byte, s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&':
			q, err := json.Marshal(s)
			return append(b, q...), err
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"'), nil
}

// compareNodes orders node names naturally: n2 before n10.
func compareNodes(a, b string) int {
	ta, na := splitNum(a)
	tb, nb := splitNum(b)
	if c := strings.Compare(ta, tb); c != 0 {
		return c
	}
	if na != nb {
		if na < nb {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

func splitNum(s string) (string, int) {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	n, err := strconv.Atoi(s[i:])
	if err != nil {
		return s, -1
	}
	return s[:i], n
}
