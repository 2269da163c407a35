//go:build unix

package convergence

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// benchHistory concatenates simulated runs of 3 nodes and 6 clients, one
// key each (about 300 steps of adds and reads, then 300 of reads only), up
// to n history entries, after one healed partition at the start.
func benchHistory(n int) []history.Op {
	rng := rand.New(rand.NewPCG(9, uint64(n)))
	ops := []history.Op{
		{Process: history.Nuker, Type: history.Invoke, F: "start-partition"},
		{Process: history.Nuker, Type: history.Info, F: "start-partition"},
		{Process: history.Nuker, Type: history.Invoke, F: "stop-partition"},
		{Process: history.Nuker, Type: history.Info, F: "stop-partition"},
	}
	for k := 0; len(ops) < n; k++ {
		for _, op := range simulate(rng, 300, 3, 6, 300, false) {
			if op.Process == history.Nuker {
				continue
			}
			op.Process += history.Process(1000 * k)
			op.Key = strconv.Itoa(k)
			ops = append(ops, op)
		}
	}
	ops = ops[:n]
	for i := range ops {
		ops[i].Index, ops[i].Time = int64(i), int64(i)
	}
	return ops
}

// BenchmarkCheck checks generated histories of 10k, 100k and 1M history
// entries; ops/s counts history entries.
func BenchmarkCheck(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("ops=%d", n), func(b *testing.B) {
			ops := benchHistory(n)
			var elems int
			for _, op := range ops {
				if v, ok := op.Value.([]any); ok {
					elems += len(v)
				}
			}
			b.Logf("%d ops, %d elements in reads", len(ops), elems)
			c := New()
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				// The last key is cut short; only it may be unknown.
				if res := c.Check(context.Background(), ops, models.Options{}); res.Verdict == models.Invalid {
					b.Fatalf("%s: %s", res.Verdict, res.Reason)
				}
			}
			reportRates(b, len(ops), cpu0)
		})
	}
}

// cpuTime is the CPU time (user and system, every thread) the process has
// used: on a shared machine, wall time says more about the neighbours.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportRates adds ops/s (wall) and cpu-ops/s metrics for n history
// entries checked per iteration since cpu0.
func reportRates(b *testing.B, n int, cpu0 time.Duration) {
	cpu := cpuTime() - cpu0
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	if cpu > 0 {
		b.ReportMetric(float64(n)*float64(b.N)/cpu.Seconds(), "cpu-ops/s")
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}
