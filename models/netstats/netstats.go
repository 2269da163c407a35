// Package netstats is the record of the messages a cluster's nodes
// exchanged during a run, sampled over time, and its summary per client
// operation, healthy and under faults: Maelstrom's network statistics
// ("msgs-per-op"), measured on a real network. A target that counts its
// messages (targets.MessageCounter) hands samples to the harness, which
// keeps them in the run directory (network.json) and summarizes them in
// results.json and the report.
package netstats

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"time"

	"github.com/faultline/faultline/models/history"
)

// Format and Version identify network.json.
const (
	Format  = "faultline-network"
	Version = 1
)

// Sample is what one node's counters added over one interval ending at
// its time: deltas, so samples add up across a node's restarts.
type Sample struct {
	// At is when the sample was taken, on the controller's clock; the
	// harness turns it into Time.
	At time.Time `json:"-"`
	// Time is nanoseconds since the run started, the history's axis.
	Time int64 `json:"time"`
	// Node is the node whose counters these are.
	Node string `json:"node"`
	// NodeSent are messages the node's program sent to other nodes;
	// NodeDelivered those it was handed from other nodes (fewer when a
	// partition or a full queue lost some).
	NodeSent      int64 `json:"node_sent"`
	NodeDelivered int64 `json:"node_delivered"`
	// ClientIn are client requests handed to the node, ClientOut its
	// replies to clients.
	ClientIn  int64 `json:"client_in"`
	ClientOut int64 `json:"client_out"`
	// Service are messages between the node and services it called
	// (requests and replies), when the target provides services.
	Service int64 `json:"service,omitempty"`
}

// File is the content of network.json.
type File struct {
	Format  string   `json:"format"`
	Version int      `json:"version"`
	Samples []Sample `json:"samples"`
	// Note says how the counts were taken and what they miss.
	Note string `json:"note,omitempty"`
}

// Read decodes network.json.
func Read(r io.Reader) (File, error) {
	var f File
	if err := json.NewDecoder(r).Decode(&f); err != nil {
		return f, fmt.Errorf("read network statistics: %w", err)
	}
	if f.Format != Format || f.Version != Version {
		return f, fmt.Errorf("read network statistics: format %q version %d, want %s version %d", f.Format, f.Version, Format, Version)
	}
	return f, nil
}

// Phase is the traffic of the part of a run that was healthy, or under a
// fault.
type Phase struct {
	// Seconds is how long the phase lasted, summed over its stretches.
	Seconds float64 `json:"seconds"`
	// Ops are the client operations invoked in it.
	Ops int `json:"ops"`
	// Messages are the node-to-node and service messages sent in it.
	Messages int64 `json:"messages"`
	// MsgsPerOp is Messages / Ops (0 without ops).
	MsgsPerOp float64 `json:"msgs_per_op"`
}

// Summary is the run's network statistics, as results.json carries them.
type Summary struct {
	// Ops are the client operations invoked (final reads included).
	Ops int `json:"client_ops"`
	// Totals over the run, over every node.
	NodeSent      int64 `json:"node_sent"`
	NodeDelivered int64 `json:"node_delivered"`
	ClientIn      int64 `json:"client_in"`
	ClientOut     int64 `json:"client_out"`
	Service       int64 `json:"service"`
	// MsgsPerOp is (NodeSent + Service) / Ops: Maelstrom's servers
	// msgs-per-op.
	MsgsPerOp float64 `json:"msgs_per_op"`
	// Healthy and Faulty split the run by whether a fault was in effect
	// (nil when the run had no such stretch).
	Healthy *Phase `json:"healthy,omitempty"`
	Faulty  *Phase `json:"faulty,omitempty"`
	// ByNode are each node's totals.
	ByNode []NodeTotal `json:"by_node"`
	// Note says how the counts were taken.
	Note string `json:"note,omitempty"`
}

// NodeTotal is one node's share.
type NodeTotal struct {
	Node          string `json:"node"`
	NodeSent      int64  `json:"node_sent"`
	NodeDelivered int64  `json:"node_delivered"`
	ClientIn      int64  `json:"client_in"`
	Service       int64  `json:"service,omitempty"`
}

// interval is how far apart one node's samples are expected to be; a
// sample stands for the interval before it.
const interval = time.Second

// Summarize totals f's samples and splits them, with the client ops of
// ops, into healthy and faulty stretches by the fault windows of ops.
func Summarize(f File, ops []history.Op) Summary {
	var s Summary
	s.Note = f.Note
	var windows [][2]int64
	for _, w := range history.FaultWindows(ops) {
		if !w.Failed() {
			windows = append(windows, [2]int64{w.Start, w.End})
		}
	}
	faulty := func(t int64) bool {
		for _, w := range windows {
			if t >= w[0] && t <= w[1] {
				return true
			}
		}
		return false
	}
	var healthy, underFault Phase
	var first, last int64 = -1, 0
	for _, op := range ops {
		if !op.IsClient() || op.Type != history.Invoke {
			continue
		}
		s.Ops++
		if faulty(op.Time) {
			underFault.Ops++
		} else {
			healthy.Ops++
		}
		if first < 0 {
			first = op.Time
		}
		last = max(last, op.Time)
	}
	by := map[string]*NodeTotal{}
	for _, x := range f.Samples {
		s.NodeSent += x.NodeSent
		s.NodeDelivered += x.NodeDelivered
		s.ClientIn += x.ClientIn
		s.ClientOut += x.ClientOut
		s.Service += x.Service
		n := by[x.Node]
		if n == nil {
			n = &NodeTotal{Node: x.Node}
			by[x.Node] = n
		}
		n.NodeSent += x.NodeSent
		n.NodeDelivered += x.NodeDelivered
		n.ClientIn += x.ClientIn
		n.Service += x.Service
		// The sample covers the interval before it: judge by its middle.
		if faulty(x.Time - int64(interval)/2) {
			underFault.Messages += x.NodeSent + x.Service
		} else {
			healthy.Messages += x.NodeSent + x.Service
		}
	}
	if s.Ops > 0 {
		s.MsgsPerOp = float64(s.NodeSent+s.Service) / float64(s.Ops)
	}
	// How long each stretch lasted, over the span the clients ran.
	if first >= 0 {
		var inFault int64
		for _, w := range mergeWindows(windows) {
			lo, hi := max(w[0], first), min(w[1], last)
			if hi > lo {
				inFault += hi - lo
			}
		}
		healthy.Seconds = time.Duration(last - first - inFault).Seconds()
		underFault.Seconds = time.Duration(inFault).Seconds()
	}
	for _, p := range []*Phase{&healthy, &underFault} {
		if p.Ops > 0 {
			p.MsgsPerOp = float64(p.Messages) / float64(p.Ops)
		}
	}
	if healthy.Ops > 0 || healthy.Messages > 0 {
		s.Healthy = &healthy
	}
	if underFault.Ops > 0 || underFault.Messages > 0 {
		s.Faulty = &underFault
	}
	for _, n := range by {
		s.ByNode = append(s.ByNode, *n)
	}
	sort.Slice(s.ByNode, func(i, j int) bool { return nodeLess(s.ByNode[i].Node, s.ByNode[j].Node) })
	return s
}

// mergeWindows joins overlapping windows, so overlapping faults count once.
func mergeWindows(ws [][2]int64) [][2]int64 {
	ws = slices.Clone(ws)
	sort.Slice(ws, func(i, j int) bool { return ws[i][0] < ws[j][0] })
	var out [][2]int64
	for _, w := range ws {
		if n := len(out); n > 0 && w[0] <= out[n-1][1] {
			out[n-1][1] = max(out[n-1][1], w[1])
			continue
		}
		out = append(out, w)
	}
	return out
}

// nodeLess orders n2 before n10.
func nodeLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}
