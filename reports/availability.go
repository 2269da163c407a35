package reports

import (
	"sort"
	"time"

	"github.com/faultline/faultline/models/history"
)

// Availability is how much of the client traffic succeeded overall, while
// healthy and while each fault kind was active, and the longest spans in
// which no client op succeeded.
//
// A phase's share counts the client ops whose completion falls in it: ok
// completions over all completions (ok, fail and info; pending ops have no
// completion and do not count). The longest gap of a phase is its longest
// span with no ok completion, clipped to the phase's time: for a fault kind
// the union of its windows, for "healthy" the time outside every window,
// for "overall" the span of the client ops.
type Availability struct {
	Overall AvailabilityPhase `json:"overall"`
	Healthy AvailabilityPhase `json:"healthy"`
	// Faults has one entry per fault kind, in order of first appearance.
	Faults []AvailabilityPhase `json:"faults,omitempty"`
}

// AvailabilityPhase is the availability of one phase of the run.
type AvailabilityPhase struct {
	// Name is "overall", "healthy" or the fault kind.
	Name string `json:"name"`
	// Completed counts completions in the phase, OK the served ones: ok,
	// and fails that were the system's answer (history.Op.Answered).
	Completed int `json:"completed"`
	OK        int `json:"ok"`
	// OKShare is OK / Completed (0 when nothing completed).
	OKShare float64 `json:"ok_share"`
	// VsHealthy is OKShare over the healthy OKShare, for fault kinds (0
	// when either share is unknown).
	VsHealthy float64 `json:"vs_healthy,omitempty"`
	// LongestGap is the longest span of the phase with no ok completion.
	LongestGap Gap `json:"longest_gap"`
}

// Gap is a span of the run (ns since run start).
type Gap struct {
	Start    int64         `json:"start_ns"`
	End      int64         `json:"end_ns"`
	Duration time.Duration `json:"duration_ns"`
}

// AvailabilityOf computes the availability of the client ops of a history.
func AvailabilityOf(ops []history.Op) Availability {
	opers, _ := pairOps(ops)
	windows := heldWindows(history.FaultWindows(ops))
	return availability(opers, windows, summarize(opers, windows))
}

// availability derives the availability from the operations, the fault
// windows and their summary s (which has counted completions per phase).
func availability(opers []operation, windows []history.Window, s Summary) Availability {
	var okAt []int64
	for _, o := range opers {
		if o.served() {
			okAt = append(okAt, o.end)
		}
	}
	sort.Slice(okAt, func(i, j int) bool { return okAt[i] < okAt[j] })

	span := intervals{}
	if s.Ops > 0 {
		span = intervals{{s.Start, s.End}}
	}
	all := union(windows, s.Start, s.End)
	a := Availability{
		Overall: availPhase(s.Overall, okAt, span),
		Healthy: availPhase(s.Healthy, okAt, complement(all, s.Start, s.End)),
	}
	for _, ph := range s.Faults {
		var ws []history.Window
		for _, w := range windows {
			if w.Kind == ph.Name {
				ws = append(ws, w)
			}
		}
		ap := availPhase(ph, okAt, union(ws, s.Start, s.End))
		if a.Healthy.OKShare > 0 && ap.Completed > 0 {
			ap.VsHealthy = ap.OKShare / a.Healthy.OKShare
		}
		a.Faults = append(a.Faults, ap)
	}
	return a
}

func availPhase(ph Phase, okAt []int64, iv intervals) AvailabilityPhase {
	ap := AvailabilityPhase{Name: ph.Name, Completed: ph.Completed.Total(), OK: ph.Completed.served()}
	if ap.Completed > 0 {
		ap.OKShare = float64(ap.OK) / float64(ap.Completed)
	}
	ap.LongestGap = longestGap(okAt, iv)
	return ap
}

// complement returns the parts of [lo, hi] outside iv (sorted, disjoint).
func complement(iv intervals, lo, hi int64) intervals {
	if hi < lo {
		return nil
	}
	var out intervals
	at := lo
	for _, x := range iv {
		if x[0] > at {
			out = append(out, [2]int64{at, x[0]})
		}
		at = max(at, x[1])
	}
	if at < hi {
		out = append(out, [2]int64{at, hi})
	}
	return out
}

// longestGap returns the longest span inside the intervals iv that holds no
// time of okAt (sorted), the earliest of equals. Spans are cut at the
// intervals' bounds and at each ok time.
func longestGap(okAt []int64, iv intervals) Gap {
	var best Gap
	consider := func(s, e int64) {
		if d := time.Duration(e - s); d > best.Duration {
			best = Gap{Start: s, End: e, Duration: d}
		}
	}
	for _, x := range iv {
		prev := x[0]
		i := sort.Search(len(okAt), func(i int) bool { return okAt[i] >= x[0] })
		for ; i < len(okAt) && okAt[i] <= x[1]; i++ {
			consider(prev, okAt[i])
			prev = okAt[i]
		}
		consider(prev, x[1])
	}
	return best
}

// served reports whether o completed and the system served it: ok, or a
// fail that was its answer (a failed comparison is service, a refusal not).
func (o operation) served() bool {
	return !o.pending() && (o.outcome == history.OK || o.answered)
}

// served counts the ok completions and the answered fails.
func (c Counts) served() int { return c.OK + c.Answered }
