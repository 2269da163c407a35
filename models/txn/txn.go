// Package txn checks histories of transactions for isolation anomalies, in
// the manner of Elle (Kingsbury and Alvaro, "Elle: Inferring Isolation
// Anomalies from Experimental Observations", VLDB 2020), with the anomaly
// definitions of Adya ("Weak Consistency: A Generalized Theory and Optimistic
// Implementations for Distributed Transactions", MIT PhD thesis, 1999) and
// Elle's map from anomalies to the consistency models they rule out.
//
// # Histories
//
// A transaction is a client op with F "txn" whose value is a list of
// micro-ops, each a three-element list [f key value]:
//
//   - list-append: ["append" k v] appends v to the list at k; ["r" k [v1 v2 ...]]
//     reads the whole list (nil is the empty list);
//   - rw-register: ["w" k v] writes v to k; ["r" k v] reads it (nil is the
//     initial, never-written state).
//
// These are Elle's EDN shapes (:value [[:append :x 1] [:r :x [1 2]]]) as
// history.ReadEDN imports them. Keys are integers or strings; values are
// integers and, as Elle requires, each value is written (appended) to a key
// at most once in the whole history. An ok completion carries the values
// read; fail means the transaction certainly did not commit; info (or no
// completion) means it may have committed. Its writes may therefore be
// observed, and once one of them is, the transaction counts as committed with
// all its writes; its reads are unknown and constrain nothing.
//
// # Inference
//
// The checker infers Adya's direct serialization graph over committed
// transactions:
//
//   - ww (write dependency): Ti installs a version of k and Tj the next one;
//   - wr (read dependency): Tj reads a version Ti installed;
//   - rw (anti-dependency): Ti reads a version of k and Tj installs a later
//     one.
//
// For list-append the version order of a key is its longest read: every
// other read must be a prefix of it. An append of a committed transaction
// that no read saw came after every observed one. For rw-register versions
// carry no order of their own, so the inference is conservative: nil (the
// initial state) precedes every written version, and a transaction that
// reads v1 from k and then writes v2 to k installs v2 after v1 (Elle's
// "writes follow reads", which holds under serializability and snapshot
// isolation, so cycles it yields are sound evidence against them). Blind
// writes stay unordered, and so some non-serializable rw-register histories
// pass; for strict serializability, real time orders some of them (a
// writer that completed before a reader of another version began wrote
// first: see realtimeVersions).
//
// Two optional orders are added for strict serializability: process order
// (a process's completed transaction precedes its next one) and real-time
// order (a transaction that completed before another was invoked precedes
// it), the latter transitively reduced so it costs O(n * concurrency) edges.
//
// # Anomalies
//
// Cycles are found with Tarjan's strongly connected components on
// successively larger edge sets, and one cycle per component is shown: the
// shortest (by breadth-first search) through a chosen edge. A cycle is
//
//   - G0 (write cycle): ww edges only;
//   - G1c (circular information flow): ww and wr edges, at least one wr;
//   - G-single (single anti-dependency, read skew): exactly one rw edge;
//   - G-nonadjacent: two or more rw edges, no two consecutive;
//   - G2-item (anti-dependency cycle, write skew): rw edges, some adjacent;
//   - any of these with suffix -process or -realtime when the cycle needs
//     process or real-time edges.
//
// Besides cycles: G1a (aborted read: a read sees a write of a failed
// transaction), G1b (intermediate read: a read sees a value its writer later
// overwrote in the same transaction), internal (a read contradicts the
// transaction's own earlier reads and writes, or a list shows its appends
// out of order or one skipped), future-read (a read sees the transaction's
// own later write), garbage-read (a value nobody wrote),
// lost-update (rw-register: two committed transactions read the same version
// of a key and both wrote it); for list-append also duplicate-elements (a
// value twice in one read) and incompatible-order (two reads of a key, neither
// a prefix of the other).
//
// # Models ruled out
//
// Following Elle's consistency-model graph: G0, duplicate-elements and
// garbage-read rule out read-uncommitted (PL-1); G1a, G1b, G1c,
// incompatible-order and future-read rule out read-committed (PL-2);
// G-single, G-nonadjacent, lost-update and internal rule out
// snapshot-isolation; G2-item rules out serializable (PL-3) but not snapshot
// isolation; the -process and -realtime cycles rule out strict-serializable
// only (-process ones also strong session serializability, which strict
// serializability implies). Ruling out a model rules out every stronger one
// in the chain read-uncommitted < read-committed < snapshot-isolation <
// serializable < strict-serializable. Result.Properties["violates"] lists
// them, weakest first.
//
// # Large histories
//
// Both Check (ops in memory) and CheckStream (a history.jsonl file read op
// by op, for histories too large to hold as []history.Op) build the same
// compact form: transactions, micro-ops and read lists in pointer-free
// chunked arrays, keys interned, values indexed densely per key.
package txn

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/faultline/faultline/internal/ctxio"
	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// Data models (what a transaction's micro-ops do).
const (
	// ListAppend is Elle's list-append: append to and read whole lists.
	ListAppend = "list-append"
	// RWRegister is Elle's read-write register.
	RWRegister = "rw-register"
	// Elle picks ListAppend when any micro-op appends, else RWRegister.
	Elle = "elle"
)

// F is the op function of a transaction.
const F = "txn"

// Consistency models, weakest first. Each one's anomalies are a subset of
// the next one's, as the package comment explains.
const (
	ReadUncommitted    = "read-uncommitted"
	ReadCommitted      = "read-committed"
	SnapshotIsolation  = "snapshot-isolation"
	Serializable       = "serializable"
	StrictSerializable = "strict-serializable"
)

// Consistencies returns the consistency models the checker judges, weakest
// first.
func Consistencies() []string {
	return []string{ReadUncommitted, ReadCommitted, SnapshotIsolation, Serializable, StrictSerializable}
}

// DefaultMaxAnomalies is how many anomalies of each kind a result lists
// when Checker.MaxAnomalies is zero; Stats counts them all.
const DefaultMaxAnomalies = 8

// Checker checks a transactional history. The zero value detects the data
// model and judges strict serializability.
type Checker struct {
	// Model is ListAppend, RWRegister, or Elle (also when empty) to choose
	// by the micro-ops present.
	Model string
	// Consistency is the model the verdict is about (StrictSerializable
	// when empty): invalid when the history violates it. Anomalies it
	// allows are counted in Stats but not listed.
	Consistency string
	// NoProcessOrder and NoRealTime leave out the process and real-time
	// edges; without both, strict serializability is judged as
	// serializability.
	NoProcessOrder, NoRealTime bool
	// MaxAnomalies bounds the anomalies listed per kind
	// (DefaultMaxAnomalies when zero).
	MaxAnomalies int
}

var _ models.Checker = (*Checker)(nil)

// Models returns the registry entries of this package: list-append,
// rw-register and elle (either, detected from the history), each judging
// strict serializability.
func Models() models.Registry {
	return models.Registry{
		ListAppend: {
			Summary: "Elle list-append transactions ([append k v], [r k [v...]]): G0, G1a-c, G-single, G2-item, internal; strict serializable (Adya, Elle)",
			New:     func() models.Checker { return &Checker{Model: ListAppend} },
		},
		RWRegister: {
			Summary: "Elle read-write register transactions ([w k v], [r k v]): G0, G1a-c, G-single, G2-item, lost update; strict serializable (Adya, Elle)",
			New:     func() models.Checker { return &Checker{Model: RWRegister} },
		},
		Elle: {
			Summary: "Elle transactions, list-append or rw-register as the micro-ops show; strict serializable (Adya, Elle)",
			New:     func() models.Checker { return &Checker{Model: Elle} },
		},
	}
}

// Name returns the consistency model judged, e.g. "strict-serializable".
func (c *Checker) Name() string { return c.consistency() }

func (c *Checker) consistency() string { return cmp.Or(c.Consistency, StrictSerializable) }

func (c *Checker) maxAnomalies() int { return cmp.Or(c.MaxAnomalies, DefaultMaxAnomalies) }

// Check judges ops, given in history order. It never fails: malformed
// transactions or an exhausted context make the verdict unknown with a
// reason (unless an anomaly already makes it invalid). Stats: txns, ok,
// info, failed, committed (graph nodes), edges, one count per anomaly kind
// found, and malformed, unmatched_completions, other_ops when nonzero.
// Properties: "violates" (the models ruled out, weakest first) and
// "anomalies" (every kind found, also those the judged model allows).
func (c *Checker) Check(ctx context.Context, ops []history.Op, _ models.Options) models.Result {
	start := time.Now()
	res := c.check(ctx, ops)
	res.DurationNS = time.Since(start).Nanoseconds()
	return res
}

func (c *Checker) check(ctx context.Context, ops []history.Op) models.Result {
	res, ok := c.newResult()
	if !ok {
		return res
	}
	return c.checkParsed(ctx, parse(ops), res)
}

// newResult starts a result, false (with the verdict unknown) when the
// checker is configured for a model or data model it does not know.
func (c *Checker) newResult() (models.Result, bool) {
	res := models.Result{Checker: c.consistency(), Model: cmp.Or(c.Model, Elle)}
	if !slices.Contains(Consistencies(), c.consistency()) {
		res.Verdict = models.Unknown
		res.Reason = fmt.Sprintf("unknown consistency model %q (known: %s)", c.consistency(), strings.Join(Consistencies(), ", "))
		return res, false
	}
	switch res.Model {
	case ListAppend, RWRegister, Elle:
	default:
		res.Verdict = models.Unknown
		res.Reason = fmt.Sprintf("unknown model %q (known: %s, %s, %s)", res.Model, ListAppend, RWRegister, Elle)
		return res, false
	}
	return res, true
}

// batch is a run of ops read, their raw values copied into buf.
type batch struct {
	ops  []history.Op
	vals [][2]int32 // each op's value: buf[v[0]:v[1]], nil when v[0] < 0
	buf  []byte
}

func (bt *batch) value(i int) []byte {
	v := bt.vals[i]
	if v[0] < 0 {
		return nil
	}
	return bt.buf[v[0]:v[1]]
}

// batchOps is how many ops a batch holds.
const batchOps = 4096

// readBatches reads a history file with history.ReadEach in a goroutine of
// its own and hands the ops to each in batches, so decoding lines and
// building the compact form run side by side on two cores.
func readBatches(ctx context.Context, r io.Reader, each func(*batch)) (history.ReadInfo, error) {
	full := make(chan *batch, 4)
	free := make(chan *batch, 8)
	var info history.ReadInfo
	var err error
	go func() {
		defer close(full)
		cur := &batch{}
		info, err = history.ReadEach(ctxio.NewReader(ctx, r), func(op history.Op, value []byte) error {
			v := [2]int32{-1, -1}
			if value != nil {
				v = [2]int32{int32(len(cur.buf)), int32(len(cur.buf) + len(value))}
				cur.buf = append(cur.buf, value...)
			}
			cur.ops = append(cur.ops, op)
			cur.vals = append(cur.vals, v)
			if len(cur.ops) == batchOps || len(cur.buf) > 1<<30 {
				full <- cur
				select {
				case cur = <-free:
					cur.ops, cur.vals, cur.buf = cur.ops[:0], cur.vals[:0], cur.buf[:0]
				default:
					cur = &batch{}
				}
			}
			return nil
		})
		if len(cur.ops) > 0 {
			full <- cur
		}
	}()
	for bt := range full {
		each(bt)
		select {
		case free <- bt:
		default:
		}
	}
	return info, err
}

// txnsHint guesses the transactions in a history file from its size: a
// transaction is two lines of at least 64 bytes each.
func txnsHint(r io.Reader) int {
	f, ok := r.(interface{ Stat() (fs.FileInfo, error) })
	if !ok {
		return 0
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return 0
	}
	return int(min(fi.Size()/128, 1<<31-1))
}

// StreamInfo is what CheckStream found about the history besides the
// verdict.
type StreamInfo struct {
	// Read is what the reader found (version, end record, torn line).
	Read history.ReadInfo
	// Report is history.Validate's report, made op by op.
	Report history.Report
	// Ops counts the ops read.
	Ops int64
}

// CheckStream judges a faultline history file (history.jsonl) read from r
// op by op straight into the checker's compact form: no history.Op is
// kept, so memory goes to the transactions and the graph only, and a
// history larger than []history.Op would fit in can be judged. Ops are
// filtered as history.Validate filters them for every checker, so the
// result is Check's on the validated ops. The error is the reader's (a
// malformed file, ctx done while reading).
func (c *Checker) CheckStream(ctx context.Context, r io.Reader) (models.Result, StreamInfo, error) {
	start := time.Now()
	var si StreamInfo
	res, ok := c.newResult()
	if !ok {
		return res, si, nil
	}
	b := newBuilder(txnsHint(r))
	v := history.NewValidator()
	info, err := readBatches(ctx, r, func(bt *batch) {
		for i := range bt.ops {
			si.Ops++
			if v.Keep(bt.ops[i]) {
				b.add(&bt.ops[i], bt.value(i))
			}
		}
	})
	si.Read, si.Report = info, v.Report()
	if ctx.Err() != nil {
		return res, si, fmt.Errorf("reading stopped: %w", context.Cause(ctx))
	}
	if err != nil {
		return res, si, err
	}
	res = c.checkParsed(ctx, b.finish(), res)
	res.DurationNS = time.Since(start).Nanoseconds()
	return res, si, nil
}

// checkParsed judges a history read into the compact form.
func (c *Checker) checkParsed(ctx context.Context, p *parsed, res models.Result) models.Result {
	model := res.Model
	if model == Elle {
		model = RWRegister
		if p.appends > 0 {
			model = ListAppend
		}
		res.Model = model
	}
	p.validate(model)
	a := newAnalysis(p, c, model)
	a.g.edges = make([]edge, 0, 8*len(p.txns))
	a.g.whys = make([]why, 0, 4*len(p.txns))
	if len(p.txns) > 0 {
		if model == ListAppend {
			a.listAppend()
		} else {
			a.rwRegister()
		}
		a.orders(!c.NoProcessOrder, !c.NoRealTime)
		a.g.n = len(a.nodes)
		a.g.build()
		if err := a.cycles(ctx); err != nil {
			a.note(err.Error())
		}
	}
	a.result(&res)
	return res
}

// kindModel returns the weakest model an anomaly kind rules out.
func kindModel(kind string) string {
	if strings.HasSuffix(kind, "-process") || strings.HasSuffix(kind, "-realtime") {
		return StrictSerializable
	}
	switch kind {
	case "G1a", "G1b", "G1c", "incompatible-order", "future-read":
		return ReadCommitted
	case "G-single", "G-nonadjacent", "lost-update", "internal":
		return SnapshotIsolation
	case "G2-item":
		return Serializable
	}
	// G0, duplicate-elements, garbage-read: no model allows them.
	return ReadUncommitted
}

// rank is a model's place in Consistencies.
func rank(model string) int { return slices.Index(Consistencies(), model) }

// kindOrder sorts anomaly kinds for display: worst (weakest model ruled
// out) first, then by name.
func kindOrder(a, b string) int {
	return cmp.Or(cmp.Compare(rank(kindModel(a)), rank(kindModel(b))), strings.Compare(a, b))
}
