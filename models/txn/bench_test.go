package txn

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// appendHistory simulates n list-append transactions of 1-4 micro-ops from
// procs concurrent clients against a serializable store, in the shape of
// Elle's generator: a pool of 8 active keys, each retired after 32 appends.
// A transaction takes effect when it completes; 1% fail (no effect) and 1%
// are info (effect or not), after which the client takes a new process id.
func appendHistory(n, procs int, seed uint64) []history.Op {
	ops := make([]history.Op, 0, 2*n)
	genAppend(n, procs, seed, func(op history.Op) { ops = append(ops, op) })
	return ops
}

// genAppend is appendHistory handing each op to emit, so a history larger
// than memory can be written to a file.
func genAppend(n, procs int, seed uint64, emit1 func(history.Op)) {
	rng := rand.New(rand.NewPCG(seed, seed))
	const poolSize, perKey = 8, 32
	pool := make([]int64, poolSize)
	for i := range pool {
		pool[i] = int64(i)
	}
	nextKey := int64(poolSize)
	store := map[int64][]int64{}
	count := map[int64]int64{} // appends handed out per key
	type client struct {
		proc    history.Process
		pending []any
	}
	clients := make([]client, procs)
	for i := range clients {
		clients[i].proc = history.Process(i)
	}
	nextProc := history.Process(procs)
	var index int64
	emit := func(typ history.Type, p history.Process, v any) {
		emit1(history.Op{Index: index, Time: index * 1000, Type: typ, Process: p, F: F, Value: v})
		index++
	}
	started, open := 0, 0
	for started < n || open > 0 {
		c := &clients[rng.IntN(procs)]
		if c.pending == nil {
			if started == n {
				continue
			}
			started++
			var mops []any
			for range 1 + rng.IntN(4) {
				slot := rng.IntN(poolSize)
				k := pool[slot]
				if rng.IntN(2) == 0 {
					mops = append(mops, []any{"r", k, nil})
					continue
				}
				count[k]++
				mops = append(mops, []any{"append", k, count[k]})
				if count[k] >= perKey {
					pool[slot] = nextKey
					nextKey++
				}
			}
			c.pending = mops
			open++
			emit(history.Invoke, c.proc, mops)
			continue
		}
		typ := history.OK
		switch r := rng.IntN(100); {
		case r == 0:
			typ = history.Fail
		case r == 1:
			typ = history.Info
		}
		apply := typ == history.OK || typ == history.Info && rng.IntN(2) == 0
		done := make([]any, len(c.pending))
		for i, m := range c.pending {
			m := m.([]any)
			k := m[1].(int64)
			switch m[0] {
			case "append":
				if apply {
					store[k] = append(store[k], m[2].(int64))
				}
				done[i] = m
			default:
				if typ != history.OK {
					done[i] = m
					continue
				}
				read := make([]any, len(store[k]))
				for j, v := range store[k] {
					read[j] = v
				}
				done[i] = []any{"r", k, read}
			}
		}
		emit(typ, c.proc, done)
		c.pending = nil
		open--
		if typ == history.Info {
			c.proc = nextProc
			nextProc++
		}
	}
}

func TestGeneratedHistoryValid(t *testing.T) {
	ops := appendHistory(5000, 10, 1)
	res := (&Checker{}).Check(context.Background(), ops, models.Options{})
	if res.Verdict != models.Valid {
		t.Fatalf("verdict %s: %s", res.Verdict, res.Reason)
	}
	t.Logf("stats %v in %.1f ms", res.Stats, float64(res.DurationNS)/1e6)
}

// BenchmarkListAppend checks generated strict-serializable list-append
// histories of 10k, 100k and 1M transactions from 10 clients, held in
// memory as []history.Op (Check).
func BenchmarkListAppend(b *testing.B) {
	for _, n := range benchSizes(b, 10_000, 100_000, 1_000_000) {
		b.Run(fmt.Sprintf("txns=%d", n), func(b *testing.B) {
			ops := appendHistory(n, 10, 1)
			b.ReportAllocs()
			resetPeakRSS(b)
			for b.Loop() {
				res := (&Checker{}).Check(context.Background(), ops, models.Options{})
				if res.Verdict != models.Valid {
					b.Fatalf("verdict %s: %s", res.Verdict, res.Reason)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "txns/s")
			reportPeakRSS(b)
		})
	}
}

// BenchmarkListAppendStream checks the same histories written to a
// history.jsonl file, read op by op (CheckStream), as `faultline check`
// reads a large one. peak-RSS-MB is the process's peak during the checks
// (not while the file was written). FAULTLINE_TXN_BENCH_TXNS=10000000
// adds the 10M figure (its file, about 2.4 GB, is kept in
// FAULTLINE_TXN_BENCH_DIR when set, else written to a temporary directory).
func BenchmarkListAppendStream(b *testing.B) {
	for _, n := range benchSizes(b, 100_000, 1_000_000) {
		b.Run(fmt.Sprintf("txns=%d", n), func(b *testing.B) {
			path := historyFile(b, n, 10, 1)
			fi, err := os.Stat(path)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			resetPeakRSS(b)
			for b.Loop() {
				f, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				res, _, err := (&Checker{}).CheckStream(context.Background(), f)
				f.Close()
				if err != nil || res.Verdict != models.Valid {
					b.Fatalf("verdict %s: %s (%v)", res.Verdict, res.Reason, err)
				}
				b.ReportMetric(float64(res.Stats["edges"])/float64(n), "edges/txn")
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "txns/s")
			b.ReportMetric(float64(fi.Size())/1e6, "file-MB")
			reportPeakRSS(b)
		})
	}
}

// benchSizes are the default sizes, and FAULTLINE_TXN_BENCH_TXNS if set.
func benchSizes(b *testing.B, sizes ...int) []int {
	if s := os.Getenv("FAULTLINE_TXN_BENCH_TXNS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatalf("FAULTLINE_TXN_BENCH_TXNS: %v", err)
		}
		sizes = append(sizes, n)
	}
	return sizes
}

// historyFile writes genAppend's history to a history.jsonl file, a line
// at a time, or finds it written by an earlier run in
// FAULTLINE_TXN_BENCH_DIR.
func historyFile(b *testing.B, n, procs int, seed uint64) string {
	dir := os.Getenv("FAULTLINE_TXN_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	path := filepath.Join(dir, fmt.Sprintf("list-append-%d-%d-%d.jsonl", n, procs, seed))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	enc := json.NewEncoder(w)
	must := func(err error) {
		if err != nil {
			b.Fatalf("write %s: %v", tmp, err)
		}
	}
	must(enc.Encode(map[string]any{"format": history.Format, "version": history.Version}))
	var count int64
	genAppend(n, procs, seed, func(op history.Op) {
		must(enc.Encode(op))
		count++
	})
	must(enc.Encode(map[string]any{"end": history.EndRecord{Ops: count}}))
	must(w.Flush())
	must(f.Close())
	must(os.Rename(tmp, path))
	return path
}

// resetPeakRSS starts the kernel's count of the peak resident set anew
// (Linux: /proc/self/clear_refs), so it covers only what follows.
func resetPeakRSS(b *testing.B) {
	runtime.GC()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Logf("peak RSS not reset: %v", err)
	}
}

// reportPeakRSS reports the peak resident set (VmHWM) since resetPeakRSS.
func reportPeakRSS(b *testing.B) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err == nil {
				b.ReportMetric(float64(kb)/1024, "peak-RSS-MB")
			}
		}
	}
}
