package reports

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// capAvailableRatio is the share of its healthy ok share a system must keep
// under partition to count as available (A) rather than consistent (C).
const capAvailableRatio = 0.5

// Consistency verdicts of a CAP profile.
const (
	CAPConsistent   = "consistent"
	CAPInconsistent = "inconsistent"
	CAPUnknown      = "unknown"
)

// CAPProfile is a measured CAP/PACELC profile: under partition, did the
// system keep answering (A) or refuse and time out (C), and did what it
// answered stay consistent; else (no partition), how fast was it and did it
// stay consistent (EL: gave up consistency, EC: kept it).
type CAPProfile struct {
	// Class is "PA/EC", "PC/EC", "PA/EL", ... ("E?" when the healthy
	// consistency is unknown); without a partition only the E part.
	Class string `json:"class"`
	// Line is the profile in one sentence.
	Line string `json:"line"`
	// Partition is nil when no partition ran.
	Partition *CAPPartition `json:"partition,omitempty"`
	// Healthy is the latency of ok and fail ops overlapping no fault
	// window, and the consistency outside partition windows.
	Healthy CAPHealthy `json:"healthy"`
}

// CAPPartition is how the system behaved while a partition was active.
type CAPPartition struct {
	// Windows is the number of partition windows, Time their union's length.
	Windows int           `json:"windows"`
	Time    time.Duration `json:"time_ns"`
	// Cut lists, per partition window, the nodes cut off from a majority
	// (a node reaches a majority counting itself when neither side drops
	// the other's traffic). Only their clients can show whether the system
	// stays available or refuses: a majority's clients are served either way.
	Cut [][]string `json:"cut"`
	// Completed counts the completions of ops sent to cut-off nodes while
	// they were cut off: OK answered, Fail refused (Answered fails count as
	// served), Info timed out or otherwise indeterminate.
	Completed Counts `json:"completed"`
	// OKShare is the served share of those completions; HealthyOKShare the
	// served share of all completions while healthy.
	OKShare        float64 `json:"ok_share"`
	HealthyOKShare float64 `json:"healthy_ok_share"`
	// Available is OKShare >= 50% of HealthyOKShare (with something completed).
	Available bool `json:"available"`
	// Consistency is what the checkers say about the partition windows:
	// CAPConsistent, CAPInconsistent or CAPUnknown; Anomalies counts the
	// anomalies whose time falls in a partition window.
	Consistency string `json:"consistency"`
	Anomalies   int    `json:"anomalies"`
	// Basis says how Consistency was decided: "anomaly times" or
	// "overall verdict" (a checker found the history invalid without
	// timed anomalies).
	Basis string `json:"basis"`
}

// CAPHealthy is the system's behaviour outside partitions.
type CAPHealthy struct {
	N   int           `json:"n"`
	P50 time.Duration `json:"p50_ns"`
	P99 time.Duration `json:"p99_ns"`
	// Consistency covers anomalies outside partition windows.
	Consistency string `json:"consistency"`
	Anomalies   int    `json:"anomalies"`
}

// isPartition reports whether a fault kind is a network partition.
func isPartition(kind string) bool { return strings.HasPrefix(kind, "partition") }

// CAP measures the CAP/PACELC profile of a history from its client ops,
// its partition windows and the checkers' results.
// StatsAndCAP is Stats with its Availability set (AvailabilityOf) and
// CAP, from one pairing and one summary of the history: the three apart
// pair and summarize it three times, a second of `faultline check` at a
// million entries.
func StatsAndCAP(ops []history.Op, results []models.Result) (Summary, CAPProfile) {
	opers, _ := pairOps(ops)
	windows := heldWindows(history.FaultWindows(ops))
	s := summarize(opers, windows)
	avail := availability(opers, windows, s)
	p := capProfile(opers, windows, s, results)
	s.Availability = &avail
	return s, p
}

func CAP(ops []history.Op, results []models.Result) CAPProfile {
	opers, _ := pairOps(ops)
	windows := heldWindows(history.FaultWindows(ops))
	return capProfile(opers, windows, summarize(opers, windows), results)
}

func capProfile(opers []operation, windows []history.Window, s Summary, results []models.Result) CAPProfile {
	var parts []history.Window
	for _, w := range windows {
		if isPartition(w.Kind) {
			parts = append(parts, w)
		}
	}
	// Partition windows are taken whole for anomalies (which may precede the
	// first client op) and clipped to the client ops for the counts.
	anomIv := union(parts, minInt64, maxInt64)
	var in, out int
	overall, unlocalized := CAPConsistent, false
	for _, r := range results {
		switch r.Verdict {
		case models.Valid:
			continue
		case models.Invalid:
			if len(r.Anomalies) == 0 {
				unlocalized = true
			}
			for _, a := range r.Anomalies {
				if anomIv.contains(a.Time) {
					in++
				} else {
					out++
				}
			}
		default:
			if overall == CAPConsistent {
				overall = CAPUnknown
			}
		}
	}
	if len(results) == 0 {
		overall = CAPUnknown
	}
	judge := func(n int) string {
		switch {
		case n > 0 || unlocalized:
			return CAPInconsistent
		default:
			return overall
		}
	}

	p := CAPProfile{Healthy: CAPHealthy{
		N: s.Healthy.Latency.N, P50: s.Healthy.Latency.P50, P99: s.Healthy.Latency.P99,
		Consistency: judge(out), Anomalies: out,
	}}
	e := map[string]string{CAPConsistent: "EC", CAPInconsistent: "EL", CAPUnknown: "E?"}[p.Healthy.Consistency]
	lat := "no healthy latency measured"
	if p.Healthy.N > 0 {
		lat = fmt.Sprintf("healthy p50 %s, p99 %s", fmtDuration(p.Healthy.P50), fmtDuration(p.Healthy.P99))
	}
	if len(parts) == 0 && p.Healthy.P99 == 0 {
		// Nothing to measure (an imported history without timing or
		// faults): no profile rather than a line of zeros.
		return p
	}
	if len(parts) == 0 {
		p.Class = e
		p.Line = fmt.Sprintf("%s: no partition ran; %s (%s)", e, lat, p.Healthy.Consistency)
		return p
	}

	iv := union(parts, s.Start, s.End)
	cp := &CAPPartition{Windows: len(parts), Time: time.Duration(iv.length()), Anomalies: in, Basis: "anomaly times"}
	if unlocalized {
		cp.Basis = "overall verdict"
	}
	cp.Consistency = judge(in)
	nodes := opNodes(opers)
	for _, w := range parts {
		cut := cutOff(w, nodes)
		cp.Cut = append(cp.Cut, cut)
		// Count only while the partition certainly held: from its start's
		// completion to its stop's invocation (applying and healing take a
		// while, and ops then reach a majority).
		from, to := w.Start, w.End
		if w.Effective > 0 && w.Healing >= w.Effective {
			from, to = w.Effective, w.Healing
		}
		for _, o := range opers {
			if !o.pending() && o.end >= from && o.end <= to && contains(cut, o.node) {
				cp.Completed.add(o)
			}
		}
	}
	if n := cp.Completed.Total(); n > 0 {
		cp.OKShare = float64(cp.Completed.served()) / float64(n)
	}
	if n := s.Healthy.Completed.Total(); n > 0 {
		cp.HealthyOKShare = float64(s.Healthy.Completed.served()) / float64(n)
	}
	cp.Available = cp.Completed.Total() > 0 && cp.OKShare >= capAvailableRatio*cp.HealthyOKShare
	p.Partition = cp

	letter := "PC"
	what := fmt.Sprintf("refused %s of the ops sent to cut-off nodes", pct(1-cp.OKShare))
	if cp.Completed.Total() == 0 {
		letter, what = "P?", "no op reached a node cut off from a majority"
	}
	if cp.Available {
		letter = "PA"
		what = fmt.Sprintf("answered %s of the ops sent to cut-off nodes", pct(cp.OKShare))
	}
	cons := cp.Consistency
	if in > 0 {
		cons += fmt.Sprintf(": %d %s", in, plural(in, "anomaly", "anomalies"))
	}
	p.Class = letter + "/" + e
	p.Line = fmt.Sprintf("%s: under partition %s (%s); %s", p.Class, what, cons, lat)
	return p
}

// opNodes returns the nodes the client ops were sent to, once each. It is
// computed once for every partition window: a pass over a million ops per
// window cost a second of `faultline check`.
func opNodes(opers []operation) []string {
	seen := map[string]bool{}
	var out []string
	last := ""
	for _, o := range opers {
		if o.node == "" || o.node == last {
			continue
		}
		last = o.node
		if !seen[o.node] {
			seen[o.node] = true
			out = append(out, o.node)
		}
	}
	return out
}

const (
	minInt64 = -1 << 63
	maxInt64 = 1<<63 - 1
)

// pct renders a share as a whole percentage (one decimal below 1% and
// above 99%, where it matters).
func pct(f float64) string {
	if f > 0 && f < 0.01 || f > 0.99 && f < 1 {
		return trimZero(fmt.Sprintf("%.1f", 100*f)) + "%"
	}
	return fmt.Sprintf("%.0f%%", 100*f)
}

// cutOff returns the nodes that a partition window's grudge (its Value:
// node -> nodes whose traffic it drops) leaves unable to reach a majority
// of the cluster, itself included. The cluster is every node the grudge or
// the client ops name (nodes, see opNodes). A window without a readable
// grudge cuts off nothing.
func cutOff(w history.Window, nodes []string) []string {
	g, ok := grudgeOf(w.Value)
	if !ok {
		return nil
	}
	all := map[string]bool{}
	for a, bs := range g {
		all[a] = true
		for _, b := range bs {
			all[b] = true
		}
	}
	for _, n := range nodes {
		all[n] = true
	}
	drops := func(a, b string) bool { return contains(g[a], b) }
	majority := len(all)/2 + 1
	var out []string
	for a := range all {
		reach := 0
		for b := range all {
			if a == b || !drops(a, b) && !drops(b, a) {
				reach++
			}
		}
		if reach < majority {
			out = append(out, a)
		}
	}
	sort.Strings(out)
	return out
}

// grudgeOf reads a grudge recorded in a history: a map of node to the
// nodes whose traffic it drops, whatever its Go type (decoded JSON, or the
// nuker's own type during a run), through a JSON round trip.
func grudgeOf(v any) (map[string][]string, bool) {
	if v == nil {
		return nil, false
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, false
	}
	var g map[string][]string
	if err := json.Unmarshal(b, &g); err != nil || len(g) == 0 {
		return nil, false
	}
	return g, true
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
