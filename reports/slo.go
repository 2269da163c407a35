package reports

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/models/history"
)

// SLO is one service-level objective of --slo: an availability floor (the
// share of completed client ops that were served: ok, or a fail that was
// the system's answer) or a latency ceiling at a percentile
// (of ok and fail ops; info ops are indeterminate and kept apart).
type SLO struct {
	// Name is "availability" or "p<q>", e.g. "p99", "p99.9".
	Name string
	// Availability is the floor as a share (0.995), for "availability".
	Availability float64
	// Quantile is the percentile in thousandths (99.9 -> 99900) and
	// Latency the ceiling, for "p<q>".
	Quantile int
	Latency  time.Duration
}

// Target renders the objective's target as written: "99.5%" or "250ms".
func (s SLO) Target() string {
	if s.Name == "availability" {
		return trimZero(strconv.FormatFloat(100*s.Availability, 'f', 3, 64)) + "%"
	}
	return s.Latency.String()
}

// ParseSLOs parses a comma-separated list such as
// "availability=99.5%,p99=250ms,p50=20ms". An empty string is no SLO.
func ParseSLOs(s string) ([]SLO, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []SLO
	seen := map[string]bool{}
	for _, item := range strings.Split(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(item), "=")
		name, val = strings.TrimSpace(name), strings.TrimSpace(val)
		if !ok || name == "" || val == "" {
			return nil, fmt.Errorf("slo %q: want NAME=VALUE, e.g. availability=99.5%% or p99=250ms", item)
		}
		slo, err := parseSLO(name, val)
		if err != nil {
			return nil, fmt.Errorf("slo %q: %w", item, err)
		}
		if seen[slo.Name] {
			return nil, fmt.Errorf("slo %q: %s given twice", item, slo.Name)
		}
		seen[slo.Name] = true
		out = append(out, slo)
	}
	return out, nil
}

func parseSLO(name, val string) (SLO, error) {
	if name == "availability" {
		num, ok := strings.CutSuffix(val, "%")
		if !ok {
			return SLO{}, errors.New("availability is a percentage, e.g. 99.5%")
		}
		f, err := strconv.ParseFloat(num, 64)
		if err != nil || math.IsNaN(f) || f <= 0 || f > 100 {
			return SLO{}, errors.New("availability must be a percentage in (0, 100]")
		}
		return SLO{Name: name, Availability: f / 100}, nil
	}
	q, ok := strings.CutPrefix(name, "p")
	if !ok || q == "" {
		return SLO{}, fmt.Errorf("unknown SLO %s (want availability or a percentile such as p99)", name)
	}
	f, err := strconv.ParseFloat(q, 64)
	if err != nil || strings.ContainsAny(q, "eE+-") || math.IsNaN(f) || f <= 0 || f > 100 {
		return SLO{}, fmt.Errorf("unknown SLO %s (want availability or a percentile such as p99)", name)
	}
	thousandths := math.Round(f * 1000)
	if math.Abs(thousandths-f*1000) > 1e-6 {
		return SLO{}, fmt.Errorf("percentile %s has more than three decimals", name)
	}
	d, err := time.ParseDuration(val)
	if err != nil || d <= 0 {
		return SLO{}, fmt.Errorf("%s wants a positive duration such as 250ms", name)
	}
	return SLO{Name: "p" + trimZero(strconv.FormatFloat(f, 'f', 3, 64)), Quantile: int(thousandths), Latency: d}, nil
}

// SLOResult is one SLO checked over a run: overall and within each fault
// kind's windows. It is met when it is met overall and in every fault
// kind's windows that had something to measure.
type SLOResult struct {
	Name   string `json:"name"`
	Target string `json:"target"`
	// TargetValue is the target as a number: a share for availability,
	// nanoseconds for a percentile.
	TargetValue float64      `json:"target_value"`
	Met         bool         `json:"met"`
	Overall     SLOMeasure   `json:"overall"`
	Faults      []SLOMeasure `json:"faults,omitempty"`
}

// SLOMeasure is an SLO measured over one phase of the run.
type SLOMeasure struct {
	// Phase is "overall" or a fault kind.
	Phase string `json:"phase"`
	// N is the number of ops measured; with none, the measure says nothing
	// (an SLO with nothing measured overall is missed).
	N int `json:"n"`
	// Value is the measure: a share for availability, nanoseconds for a
	// percentile; Measured renders it ("99.1%", "212ms").
	Value    float64 `json:"value"`
	Measured string  `json:"measured"`
	Met      bool    `json:"met"`
}

// EvaluateSLOs checks slos against the client ops of a history. Availability
// counts completions whose time falls in the phase (as Summary's phases);
// latency counts ok and fail ops whose span overlaps it.
func EvaluateSLOs(slos []SLO, ops []history.Op) []SLOResult {
	if len(slos) == 0 {
		return nil
	}
	opers, _ := pairOps(ops)
	windows := heldWindows(history.FaultWindows(ops))
	s := summarize(opers, windows)

	type phase struct {
		name string
		iv   intervals // nil: the whole run
		ok   int
		done int
		lat  []time.Duration
	}
	phases := []*phase{{name: "overall"}}
	for _, ph := range s.Faults {
		var ws []history.Window
		for _, w := range windows {
			if w.Kind == ph.Name {
				ws = append(ws, w)
			}
		}
		phases = append(phases, &phase{name: ph.Name, iv: union(ws, s.Start, s.End)})
	}
	for _, o := range opers {
		if o.pending() {
			continue
		}
		for _, p := range phases {
			if p.iv == nil || p.iv.contains(o.end) {
				p.done++
				if o.served() {
					p.ok++
				}
			}
			if o.outcome != history.Info && (p.iv == nil || p.iv.overlaps(o.start, o.end)) {
				p.lat = append(p.lat, o.latency())
			}
		}
	}
	for _, p := range phases {
		slices.Sort(p.lat)
	}

	out := make([]SLOResult, 0, len(slos))
	for _, slo := range slos {
		r := SLOResult{Name: slo.Name, Target: slo.Target(), Met: true}
		for i, p := range phases {
			m := SLOMeasure{Phase: p.name}
			if slo.Name == "availability" {
				r.TargetValue = slo.Availability
				m.N = p.done
				if m.N > 0 {
					m.Value = float64(p.ok) / float64(p.done)
					m.Measured = trimZero(strconv.FormatFloat(100*m.Value, 'f', 2, 64)) + "%"
					m.Met = m.Value >= slo.Availability
				}
			} else {
				r.TargetValue = float64(slo.Latency)
				m.N = len(p.lat)
				if m.N > 0 {
					d := quantile(p.lat, slo.Quantile)
					m.Value, m.Measured, m.Met = float64(d), fmtDuration(d), d <= slo.Latency
				}
			}
			if m.N == 0 {
				m.Measured = "no data"
			}
			if i == 0 {
				r.Overall = m
				r.Met = m.Met
				continue
			}
			if m.N > 0 && !m.Met {
				r.Met = false
			}
			r.Faults = append(r.Faults, m)
		}
		out = append(out, r)
	}
	return out
}

// SLOsMet reports whether every result is met.
func SLOsMet(rs []SLOResult) bool {
	for _, r := range rs {
		if !r.Met {
			return false
		}
	}
	return true
}

// quantile returns the nearest-rank percentile of sorted ds, q in
// thousandths of a percent (99900 is p99.9).
func quantile(ds []time.Duration, q int) time.Duration {
	n := int64(len(ds))
	i := (int64(q)*n+99999)/100000 - 1 // ceil(q/100000 * n) - 1
	return ds[min(max(i, 0), n-1)]
}
