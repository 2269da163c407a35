// Package resources is the record of what each node of a run used over
// time (the USE method's utilization, saturation and errors): CPU, memory,
// network and block I/O counters sampled from the node runtime every
// second or so, kept in the run directory as resources.jsonl, and the rates
// the report draws from them. Samples carry the runtime's cumulative
// counters, not rates, so a reader can pick its own intervals and a lost
// sample costs nothing but resolution.
package resources

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Format and Version identify resources.jsonl (its first line).
const (
	Format  = "faultline-resources"
	Version = 1
)

// Sample is one node's counters at one moment. Counters (the fields named
// ...NS, Net..., Blk...) only grow while the node's processes live; a
// smaller value than the previous sample's means they were reset.
type Sample struct {
	// At is when the sample was taken, on the controller's clock; the
	// harness turns it into Time.
	At time.Time `json:"-"`
	// Time is nanoseconds since the run started, the history's axis.
	Time int64 `json:"time"`
	// Node is the node the counters are of.
	Node string `json:"node"`
	// Error says why the node's counters could not be read (the other
	// fields are then zero).
	Error string `json:"error,omitempty"`
	// CPUNS is the CPU time the node's processes used, all cores together.
	CPUNS uint64 `json:"cpu_ns"`
	// CPUs is how many cores the node may use (online CPUs, or its quota).
	CPUs float64 `json:"cpus,omitempty"`
	// ThrottledNS is the time the node's processes were held back by their
	// CPU quota (saturation), when the runtime enforces one.
	ThrottledNS uint64 `json:"throttled_ns,omitempty"`
	// Mem is the memory the node uses, without page cache the kernel may
	// reclaim; MemLimit its limit (the machine's memory when unlimited).
	Mem      uint64 `json:"mem"`
	MemLimit uint64 `json:"mem_limit,omitempty"`
	// Procs is the number of processes (or threads) on the node.
	Procs uint64 `json:"procs,omitempty"`
	// Network counters of all the node's interfaces.
	NetRxBytes   uint64 `json:"net_rx_bytes"`
	NetTxBytes   uint64 `json:"net_tx_bytes"`
	NetRxPackets uint64 `json:"net_rx_packets"`
	NetTxPackets uint64 `json:"net_tx_packets"`
	NetErrors    uint64 `json:"net_errors,omitempty"`  // rx and tx
	NetDropped   uint64 `json:"net_dropped,omitempty"` // rx and tx
	// Block device bytes read and written.
	BlkRead  uint64 `json:"blk_read"`
	BlkWrite uint64 `json:"blk_write"`
}

type header struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	// Interval is the sampling period asked for.
	Interval string `json:"interval,omitempty"`
	// Source says where the counters come from ("docker stats").
	Source string `json:"source,omitempty"`
}

// Writer appends samples to resources.jsonl, one line each, as they are
// taken, so a crash of the controller keeps what was sampled.
type Writer struct {
	w *bufio.Writer
}

// NewWriter writes the header line and returns a writer for the samples.
func NewWriter(w io.Writer, interval time.Duration, source string) (*Writer, error) {
	b, err := json.Marshal(header{Format, Version, interval.String(), source})
	if err != nil {
		return nil, err
	}
	bw := bufio.NewWriter(w)
	bw.Write(append(b, '\n'))
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("write resources header: %w", err)
	}
	return &Writer{w: bw}, nil
}

// Write appends one round of samples and flushes them.
func (w *Writer) Write(samples []Sample) error {
	for _, s := range samples {
		b, err := json.Marshal(s)
		if err != nil {
			return fmt.Errorf("encode resource sample: %w", err)
		}
		w.w.Write(append(b, '\n'))
	}
	if err := w.w.Flush(); err != nil {
		return fmt.Errorf("write resource samples: %w", err)
	}
	return nil
}

// Read decodes resources.jsonl. A torn last line (the controller died
// while writing it) is dropped; any other damage is an error.
func Read(r io.Reader) ([]Sample, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var out []Sample
	var pending error // a bad line is fatal only if another follows it
	first := true
	for line := 1; sc.Scan(); line++ {
		if pending != nil {
			return nil, pending
		}
		b := sc.Bytes()
		if len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		if first {
			first = false
			var h header
			if err := json.Unmarshal(b, &h); err != nil || h.Format != Format {
				return nil, fmt.Errorf("read resources: line 1 is not a %s header", Format)
			}
			if h.Version != Version {
				return nil, fmt.Errorf("read resources: version %d, want %d", h.Version, Version)
			}
			continue
		}
		var s Sample
		if err := json.Unmarshal(b, &s); err != nil {
			pending = fmt.Errorf("read resources: line %d: %w", line, err)
			continue
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read resources: %w", err)
	}
	if first {
		return nil, errors.New("read resources: empty file")
	}
	return out, nil
}

// Point is what one node did over one interval between two samples,
// placed at the interval's end.
type Point struct {
	// Time is the interval's end, ns since the run started.
	Time int64
	// CPU is the cores in use on average (1.5 = one and a half cores);
	// Throttled the share of the interval the node was held back by its
	// CPU quota, per core (0 without a quota).
	CPU, Throttled float64
	// Mem is the memory in use at the end, bytes.
	Mem float64
	// Network bytes and packets per second received and sent, and errors
	// and drops per second.
	RxBytes, TxBytes, RxPackets, TxPackets, NetErrors float64
	// Block device bytes per second read and written.
	BlkRead, BlkWrite float64
}

// Series is one node's points in time order; a run of points is broken
// (Gap set on the point after the break) where a sample is missing, failed
// or its counters were reset.
type Series struct {
	Node   string
	Points []Point
	// Gap[i] is set when Points[i] does not continue Points[i-1].
	Gap []bool
}

// Rates turns samples into per-node rates, nodes in order of first
// appearance.
func Rates(samples []Sample) []Series {
	byNode := map[string][]Sample{}
	var order []string
	for _, s := range samples {
		if _, ok := byNode[s.Node]; !ok {
			order = append(order, s.Node)
		}
		byNode[s.Node] = append(byNode[s.Node], s)
	}
	out := make([]Series, 0, len(order))
	for _, n := range order {
		ss := byNode[n]
		slices.SortStableFunc(ss, func(a, b Sample) int { return cmp.Compare(a.Time, b.Time) })
		sr := Series{Node: n}
		gap := false
		for i := 1; i < len(ss); i++ {
			a, b := ss[i-1], ss[i]
			p, ok := rate(a, b)
			if !ok {
				gap = true
				continue
			}
			sr.Points = append(sr.Points, p)
			sr.Gap = append(sr.Gap, gap && len(sr.Points) > 1)
			gap = false
		}
		out = append(out, sr)
	}
	return out
}

// rate is what happened between a and b; ok is false when it cannot be
// told (a failed read, no time between them, a counter reset).
func rate(a, b Sample) (Point, bool) {
	dt := float64(b.Time-a.Time) / 1e9
	if a.Error != "" || b.Error != "" || dt <= 0 {
		return Point{}, false
	}
	grew := func(x, y uint64) bool { return y >= x }
	if !grew(a.CPUNS, b.CPUNS) || !grew(a.NetRxBytes, b.NetRxBytes) || !grew(a.NetTxBytes, b.NetTxBytes) ||
		!grew(a.BlkRead, b.BlkRead) || !grew(a.BlkWrite, b.BlkWrite) {
		return Point{}, false
	}
	per := func(x, y uint64) float64 {
		if y < x {
			return 0
		}
		return float64(y-x) / dt
	}
	return Point{
		Time:      b.Time,
		CPU:       per(a.CPUNS, b.CPUNS) / 1e9,
		Throttled: per(a.ThrottledNS, b.ThrottledNS) / 1e9,
		Mem:       float64(b.Mem),
		RxBytes:   per(a.NetRxBytes, b.NetRxBytes), TxBytes: per(a.NetTxBytes, b.NetTxBytes),
		RxPackets: per(a.NetRxPackets, b.NetRxPackets), TxPackets: per(a.NetTxPackets, b.NetTxPackets),
		NetErrors: per(a.NetErrors+a.NetDropped, b.NetErrors+b.NetDropped),
		BlkRead:   per(a.BlkRead, b.BlkRead), BlkWrite: per(a.BlkWrite, b.BlkWrite),
	}, true
}
