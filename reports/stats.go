package reports

import (
	"cmp"
	"slices"
	"sort"
	"time"

	"github.com/faultline/faultline/models/history"
)

// Summary holds the numbers of a history that a person looks at first: how
// many client operations there were, how they ended, and how fast they were,
// overall, while no fault was active, and inside each fault kind's windows.
// Only client ops count; the nuker's ops only delimit the fault windows.
type Summary struct {
	// Ops is the number of client operations (invocations).
	Ops int `json:"ops"`
	// Outcomes counts how the client operations ended.
	Outcomes Counts `json:"outcomes"`
	// ByF counts outcomes per operation function, sorted by F.
	ByF []FCounts `json:"by_f"`
	// Start and End are the times (ns since run start) of the first client
	// invocation and the last client op.
	Start int64 `json:"start_ns"`
	End   int64 `json:"end_ns"`
	// Overall covers the whole span of client ops.
	Overall Phase `json:"overall"`
	// Healthy covers the time when no fault window was active.
	Healthy Phase `json:"healthy"`
	// Faults has one phase per fault kind, in order of first appearance.
	Faults []Phase `json:"faults,omitempty"`
	// Availability is the ok share and the longest span without an ok
	// completion, overall, while healthy and per fault kind; set by
	// AvailabilityOf's callers (Stats leaves it nil).
	Availability *Availability `json:"availability,omitempty"`
}

// Counts counts operations by outcome. Pending ops were invoked but never
// completed in the history (the run ended or was interrupted first).
type Counts struct {
	OK      int `json:"ok"`
	Fail    int `json:"fail"`
	Info    int `json:"info"`
	Pending int `json:"pending,omitempty"`
	// Answered counts the fails (also in Fail) that were the system's
	// regular answer (history.Op.Answered): served, not refused.
	Answered int `json:"answered,omitempty"`
}

// Total is the sum of all outcomes.
func (c Counts) Total() int { return c.OK + c.Fail + c.Info + c.Pending }

func (c *Counts) add(o operation) {
	switch o.outcome {
	case history.OK:
		c.OK++
	case history.Fail:
		c.Fail++
		if o.answered {
			c.Answered++
		}
	case history.Info:
		c.Info++
	default:
		c.Pending++
	}
}

// FCounts counts the outcomes of one operation function.
type FCounts struct {
	F string `json:"f"`
	Counts
}

// Phase is throughput and latency during one kind of period of the run.
//
// Throughput counts completions whose completion time falls in the phase,
// divided by the phase's time. Latency (invoke to completion) counts the
// completed ops whose [invoke, completion] span overlaps the phase; for the
// healthy phase, ops that overlap no fault window at all. Latency covers ok
// and fail ops; info ops are indeterminate (often timeouts), so their
// latency is kept apart in InfoLatency.
type Phase struct {
	// Name is "overall", "healthy" or the fault kind.
	Name string `json:"name"`
	// Windows is the number of fault windows of the kind (0 otherwise).
	Windows int `json:"windows,omitempty"`
	// Time is how long the phase lasted within the client ops' span.
	Time time.Duration `json:"time_ns"`
	// Completed counts completions during the phase.
	Completed Counts `json:"completed"`
	// Throughput is completions (ok, fail and info) per second;
	// OKThroughput counts ok completions only.
	Throughput   float64 `json:"throughput"`
	OKThroughput float64 `json:"ok_throughput"`
	// Latency of ok and fail ops; InfoLatency of info ops.
	Latency     Latency `json:"latency"`
	InfoLatency Latency `json:"info_latency"`
}

// Latency holds latency percentiles by nearest rank: Pq is the smallest
// latency such that at least q% of the N ops took no longer.
type Latency struct {
	N   int           `json:"n"`
	P50 time.Duration `json:"p50_ns"`
	P95 time.Duration `json:"p95_ns"`
	P99 time.Duration `json:"p99_ns"`
	Max time.Duration `json:"max_ns"`
}

// Stats summarises the client ops of a history. Invocations are paired with
// the next completion of the same process.
func Stats(ops []history.Op) Summary {
	opers, _ := pairOps(ops)
	return summarize(opers, heldWindows(history.FaultWindows(ops)))
}

// operation is a client invocation paired with its completion.
type operation struct {
	inv, comp  int // positions in the history; comp is -1 while pending
	f          string
	start, end int64 // end equals start while pending
	outcome    history.Type
	answered   bool   // a fail that was the system's answer
	node       string // the node the client sent it to
}

func (o operation) pending() bool { return o.comp < 0 }

func (o operation) latency() time.Duration { return time.Duration(o.end - o.start) }

// pairOps pairs each client invocation with the next completion of its
// process, in invocation order. at maps a history position to its operation
// (or -1 for nuker ops and unpaired completions).
func pairOps(ops []history.Op) (out []operation, at []int) {
	calls, at32, _ := history.Pair(ops)
	out = make([]operation, len(calls))
	for i, c := range calls {
		inv := ops[c.Inv]
		o := operation{inv: c.Inv, comp: c.Done, f: inv.F, start: inv.Time, end: inv.Time, node: inv.Node}
		if c.Done >= 0 {
			o.end, o.outcome, o.answered = max(ops[c.Done].Time, o.start), c.Type, ops[c.Done].Answered
		}
		out[i] = o
	}
	at = make([]int, len(at32))
	for i, a := range at32 {
		at[i] = int(a)
	}
	return out, at
}

// intervals is a sorted list of disjoint closed time intervals.
type intervals [][2]int64

// union merges windows into sorted disjoint intervals clipped to [lo, hi].
func union(ws []history.Window, lo, hi int64) intervals {
	var iv intervals
	for _, w := range ws {
		s, e := max(w.Start, lo), min(w.End, hi)
		if s <= e {
			iv = append(iv, [2]int64{s, e})
		}
	}
	sort.Slice(iv, func(i, j int) bool { return iv[i][0] < iv[j][0] })
	var out intervals
	for _, x := range iv {
		if n := len(out); n > 0 && x[0] <= out[n-1][1] {
			out[n-1][1] = max(out[n-1][1], x[1])
			continue
		}
		out = append(out, x)
	}
	return out
}

// overlaps reports whether [s, e] meets any interval.
func (iv intervals) overlaps(s, e int64) bool {
	i := sort.Search(len(iv), func(i int) bool { return iv[i][1] >= s })
	return i < len(iv) && iv[i][0] <= e
}

func (iv intervals) contains(t int64) bool { return iv.overlaps(t, t) }

func (iv intervals) length() int64 {
	var n int64
	for _, x := range iv {
		n += x[1] - x[0]
	}
	return n
}

// phaseAcc accumulates one phase.
type phaseAcc struct {
	p         Phase
	lat, info []time.Duration
}

func (a *phaseAcc) addLatency(o operation) {
	if o.outcome == history.Info {
		a.info = append(a.info, o.latency())
	} else {
		a.lat = append(a.lat, o.latency())
	}
}

func (a *phaseAcc) finish(span int64) Phase {
	a.p.Time = time.Duration(span)
	if span > 0 {
		secs := float64(span) / 1e9
		a.p.Throughput = float64(a.p.Completed.Total()) / secs
		a.p.OKThroughput = float64(a.p.Completed.OK) / secs
	}
	a.p.Latency = percentiles(a.lat)
	a.p.InfoLatency = percentiles(a.info)
	return a.p
}

func summarize(opers []operation, windows []history.Window) Summary {
	var s Summary
	if len(opers) == 0 {
		s.Overall.Name, s.Healthy.Name = "overall", "healthy"
		return s
	}
	s.Ops = len(opers)
	s.Start, s.End = opers[0].start, opers[0].end
	byF := map[string]*FCounts{}
	for _, o := range opers {
		s.Start, s.End = min(s.Start, o.start), max(s.End, o.end)
		s.Outcomes.add(o)
		fc := byF[o.f]
		if fc == nil {
			fc = &FCounts{F: o.f}
			byF[o.f] = fc
		}
		fc.add(o)
	}
	for _, fc := range byF {
		s.ByF = append(s.ByF, *fc)
	}
	slices.SortFunc(s.ByF, func(a, b FCounts) int { return cmp.Compare(a.F, b.F) })

	// Fault kinds in order of first appearance.
	var kinds []string
	byKind := map[string][]history.Window{}
	for _, w := range windows {
		if _, ok := byKind[w.Kind]; !ok {
			kinds = append(kinds, w.Kind)
		}
		byKind[w.Kind] = append(byKind[w.Kind], w)
	}
	all := union(windows, s.Start, s.End)
	kindIv := make([]intervals, len(kinds))
	faults := make([]phaseAcc, len(kinds))
	for i, k := range kinds {
		kindIv[i] = union(byKind[k], s.Start, s.End)
		faults[i].p = Phase{Name: k, Windows: len(byKind[k])}
	}
	overall := phaseAcc{p: Phase{Name: "overall"}}
	healthy := phaseAcc{p: Phase{Name: "healthy"}}
	for _, o := range opers {
		if o.pending() {
			continue
		}
		overall.p.Completed.add(o)
		overall.addLatency(o)
		if !all.contains(o.end) {
			healthy.p.Completed.add(o)
		}
		if !all.overlaps(o.start, o.end) {
			healthy.addLatency(o)
		}
		for i, iv := range kindIv {
			if iv.contains(o.end) {
				faults[i].p.Completed.add(o)
			}
			if iv.overlaps(o.start, o.end) {
				faults[i].addLatency(o)
			}
		}
	}
	span := s.End - s.Start
	s.Overall = overall.finish(span)
	s.Healthy = healthy.finish(span - all.length())
	for i := range faults {
		s.Faults = append(s.Faults, faults[i].finish(kindIv[i].length()))
	}
	return s
}

// percentiles returns ds's nearest-rank percentiles, reordering ds. It
// selects the four ranks rather than sorting: at a million latencies a
// sort took half a second of `faultline check`.
func percentiles(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	rank := func(q int) int {
		i := (q*len(ds)+99)/100 - 1 // ceil(q/100 * n) - 1
		return min(max(i, 0), len(ds)-1)
	}
	// Each selection leaves everything at or above its rank to its right,
	// so the next, higher rank is searched there only.
	lo, out := 0, Latency{N: len(ds)}
	for _, r := range []struct {
		q int
		d *time.Duration
	}{{50, &out.P50}, {95, &out.P95}, {99, &out.P99}, {100, &out.Max}} {
		k := rank(r.q)
		nthElement(ds[lo:], k-lo)
		*r.d, lo = ds[k], k
	}
	return out
}

// nthElement reorders ds so that ds[k] is the value a sort would put
// there, with nothing greater before it and nothing smaller after it
// (quickselect with three-way partitions, so equal values cost nothing).
func nthElement(ds []time.Duration, k int) {
	lo, hi := 0, len(ds) // the answer lies in ds[lo:hi]
	for hi-lo > 1 {
		a, b, c := ds[lo], ds[lo+(hi-lo)/2], ds[hi-1]
		pivot := max(min(a, b), min(max(a, b), c)) // median of three
		// ds[lo:lt] < pivot, ds[lt:i] == pivot, ds[gt:hi] > pivot.
		lt, i, gt := lo, lo, hi
		for i < gt {
			switch d := ds[i]; {
			case d < pivot:
				ds[lt], ds[i] = ds[i], ds[lt]
				lt++
				i++
			case d > pivot:
				gt--
				ds[gt], ds[i] = ds[i], ds[gt]
			default:
				i++
			}
		}
		switch {
		case k < lt:
			hi = lt
		case k >= gt:
			lo = gt
		default:
			return
		}
	}
}
