package nuker

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Schedule names for the common cases; the text form of a Plan (see
// ParsePlan) says everything else.
const (
	// ScheduleAlternate is today's default: one lane drawing every fault
	// of the set with equal weight, one fault at a time.
	ScheduleAlternate = "alternate"
	// ScheduleOverlap runs one lane per fault of the set, staggered, so
	// faults of different kinds overlap (a partition while a node is
	// paused).
	ScheduleOverlap = "overlap"
)

// KnownSchedules describes the lane forms of a schedule's text, for
// `faultline list`.
func KnownSchedules() []Description {
	return []Description{
		{ScheduleAlternate, "one fault at a time, drawn from the fault set with equal weights (the default)"},
		{ScheduleOverlap, "one lane per fault of the set, staggered, so faults of different kinds overlap"},
		{"mix:F[=W],...", "one fault at a time, drawn by weight W (e.g. mix:partition=3,kill=1)"},
		{"seq:F,F,...", "the faults in order, each started while the earlier still act, then all stopped (e.g. seq:partition/primaries,kill/primaries)"},
	}
}

// Plan is a fault schedule as data: lanes that run at once, each its own
// loop of quiet period, faults, stop. Faults of different lanes overlap;
// the steps of a sequence lane overlap too, by design.
type Plan struct {
	Lanes []Lane `json:"lanes"`
}

// Lane is one loop of a Plan: wait Quiet, start a fault drawn from Mix (or
// every fault of Seq, Interval apart, each while the earlier ones still
// act), wait Interval, stop them newest first, repeat.
type Lane struct {
	// Mix draws one fault per round, by weight (Jepsen's mix).
	Mix []Pick `json:"mix,omitempty"`
	// Seq starts its faults in order each round ("partition the primaries,
	// then kill the new primary"). Exactly one of Mix and Seq is set.
	Seq []Pick `json:"seq,omitempty"`
	// Interval is how long the round's faults act (and, in a sequence, the
	// time between starts); zero means the nuker's interval.
	Interval time.Duration `json:"interval,omitempty"`
	// Quiet is the time between rounds (and before the first); zero means
	// Interval.
	Quiet time.Duration `json:"quiet,omitempty"`
	// Jitter, when set, moves every wait of the lane by a uniform draw in
	// [-Jitter, +Jitter] (never below zero).
	Jitter time.Duration `json:"jitter,omitempty"`
	// After delays the lane's first quiet period (a stagger).
	After time.Duration `json:"after,omitempty"`
}

// Pick is one fault of a lane: its kind, optionally pinned to one of the
// kind's variants (kill/primaries), and its weight in a mix (0 means 1).
type Pick struct {
	Fault   string `json:"fault"`
	Variant string `json:"variant,omitempty"`
	Weight  int    `json:"weight,omitempty"`
}

// String is the pick in the text form: fault[/variant][=weight].
func (p Pick) String() string {
	s := p.Fault
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	if p.Weight > 1 {
		s += "=" + strconv.Itoa(p.Weight)
	}
	return s
}

// weight is the pick's weight in a mix.
func (p Pick) weight() int { return max(p.Weight, 1) }

// ParsePlan reads a schedule's text form for a run whose fault set is
// faults (used by alternate and overlap). Lanes are joined by "+"; each is
//
//	alternate | overlap | mix:PICK,PICK,... | seq:PICK,PICK,...
//
// optionally followed by "@" and comma-separated options interval=D,
// quiet=D, jitter=D, after=D (Go durations). A PICK is fault[/variant]
// [=weight], e.g. "mix:partition=3,kill/one" or
// "seq:partition/primaries,kill/primaries@interval=8s,quiet=20s". ""
// means alternate. interval is the nuker's default interval, for
// overlap's stagger.
func ParsePlan(text string, faults []string, interval time.Duration) (Plan, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		text = ScheduleAlternate
	}
	var p Plan
	for _, part := range strings.Split(text, "+") {
		part = strings.TrimSpace(part)
		body, opts, _ := strings.Cut(part, "@")
		var lanes []Lane
		switch name, list, _ := strings.Cut(strings.TrimSpace(body), ":"); strings.ToLower(name) {
		case ScheduleAlternate:
			if len(faults) > 0 {
				l := Lane{}
				for _, f := range faults {
					l.Mix = append(l.Mix, Pick{Fault: f})
				}
				lanes = []Lane{l}
			}
		case ScheduleOverlap:
			for i, f := range faults {
				lanes = append(lanes, Lane{Mix: []Pick{{Fault: f}}, After: time.Duration(i) * interval / time.Duration(max(len(faults), 1))})
			}
		case "mix", "seq":
			picks, err := parsePicks(list)
			if err != nil {
				return Plan{}, fmt.Errorf("schedule %q: %w", part, err)
			}
			l := Lane{Mix: picks}
			if name == "seq" {
				l = Lane{Seq: picks}
			}
			lanes = []Lane{l}
		default:
			return Plan{}, fmt.Errorf("schedule %q: unknown lane %q (want alternate, overlap, mix:... or seq:...)", part, name)
		}
		if opts != "" {
			for i := range lanes {
				if err := lanes[i].setOptions(opts); err != nil {
					return Plan{}, fmt.Errorf("schedule %q: %w", part, err)
				}
			}
		}
		p.Lanes = append(p.Lanes, lanes...)
	}
	return p, nil
}

// parsePicks reads "fault[/variant][=weight],...".
func parsePicks(list string) ([]Pick, error) {
	var out []Pick
	for _, item := range strings.Split(list, ",") {
		item = strings.ToLower(strings.TrimSpace(item))
		if item == "" {
			continue
		}
		spec, w, hasW := strings.Cut(item, "=")
		p := Pick{}
		p.Fault, p.Variant, _ = strings.Cut(spec, "/")
		if hasW {
			n, err := strconv.Atoi(w)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("weight of %s must be a whole number >= 1, got %q", spec, w)
			}
			p.Weight = n
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, errors.New("no faults listed")
	}
	return out, nil
}

// setOptions reads "interval=D,quiet=D,jitter=D,after=D".
func (l *Lane) setOptions(opts string) error {
	for _, kv := range strings.Split(opts, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return fmt.Errorf("option %q: want name=duration", kv)
		}
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d < 0 {
			return fmt.Errorf("option %s: want a duration >= 0, got %q", k, v)
		}
		switch strings.TrimSpace(k) {
		case "interval":
			l.Interval = d
		case "quiet":
			l.Quiet = d
		case "jitter":
			l.Jitter = d
		case "after":
			l.After = d
		default:
			return fmt.Errorf("unknown option %q (want interval, quiet, jitter or after)", k)
		}
	}
	return nil
}

// String is the plan's text form: ParsePlan reads it back to an equal
// plan (alternate and overlap come back as the lanes they stand for).
func (p Plan) String() string {
	lanes := make([]string, len(p.Lanes))
	for i, l := range p.Lanes {
		picks, name := l.Mix, "mix"
		if len(l.Seq) > 0 {
			picks, name = l.Seq, "seq"
		}
		items := make([]string, len(picks))
		for j, pk := range picks {
			items[j] = pk.String()
		}
		s := name + ":" + strings.Join(items, ",")
		var opts []string
		for _, o := range []struct {
			name string
			d    time.Duration
		}{{"interval", l.Interval}, {"quiet", l.Quiet}, {"jitter", l.Jitter}, {"after", l.After}} {
			if o.d > 0 {
				opts = append(opts, o.name+"="+o.d.String())
			}
		}
		if len(opts) > 0 {
			s += "@" + strings.Join(opts, ",")
		}
		lanes[i] = s
	}
	return strings.Join(lanes, " + ")
}

// Faults lists the fault kinds the plan uses, in the order of Kinds.
func (p Plan) Faults() []string {
	used := map[string]bool{}
	for _, l := range p.Lanes {
		for _, pk := range append(slices.Clone(l.Mix), l.Seq...) {
			used[pk.Fault] = true
		}
	}
	var out []string
	for _, k := range Kinds() {
		if used[k.Name()] {
			out = append(out, k.Name())
		}
	}
	return out
}

// Validate checks the plan's own shape: known faults and variants, one of
// mix and seq per lane. What the cluster can do is checked by New.
func (p Plan) Validate() error {
	var errs []error
	for i, l := range p.Lanes {
		if (len(l.Mix) == 0) == (len(l.Seq) == 0) {
			errs = append(errs, fmt.Errorf("lane %d: give exactly one of mix and seq", i+1))
		}
		for _, pk := range append(slices.Clone(l.Mix), l.Seq...) {
			kind, ok := KindOf(pk.Fault)
			if !ok {
				errs = append(errs, fmt.Errorf("lane %d: unknown fault %q (known: %s)", i+1, pk.Fault, names(KnownFaults())))
				continue
			}
			if err := checkVariant(kind, pk.Variant); err != nil {
				errs = append(errs, fmt.Errorf("lane %d: %w", i+1, err))
			}
			if pk.Weight < 0 {
				errs = append(errs, fmt.Errorf("lane %d: weight of %s must be >= 0", i+1, pk))
			}
		}
		if l.Interval < 0 || l.Quiet < 0 || l.Jitter < 0 || l.After < 0 {
			errs = append(errs, fmt.Errorf("lane %d: negative duration", i+1))
		}
	}
	return errors.Join(errs...)
}
