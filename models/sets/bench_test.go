//go:build unix

package sets

import (
	"context"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// BenchmarkCheck checks generated histories of 10k, 100k and 1M history
// entries: 10 clients adding unique elements to and reading sets of about
// 100 elements each, from replicas up to 3 adds behind, with failed and
// indeterminate adds, ending with an up-to-date read of each set. Keys
// rotate as Jepsen's independent keys do: 4 live at once, a new one every
// 400 entries. ops/s counts history entries.
func BenchmarkCheck(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("ops=%d", n), func(b *testing.B) {
			benchCheck(b, simulate(rand.New(rand.NewPCG(7, uint64(n))), n, 10, 4, 400, 3, false, true))
		})
	}
}

// BenchmarkSpread is BenchmarkCheck at 1M entries with n/400 keys chosen
// at random for every op, so that each key's ops are spread over the whole
// history: the worst layout for memory locality.
func BenchmarkSpread(b *testing.B) {
	n := 1_000_000
	benchCheck(b, simulate(rand.New(rand.NewPCG(7, uint64(n))), n, 10, n/400, 0, 3, false, true))
}

func benchCheck(b *testing.B, ops []history.Op) {
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
		if res := c.Check(context.Background(), ops, models.Options{}); res.Verdict != models.Valid {
			b.Fatalf("%s: %s", res.Verdict, res.Reason)
		}
	}
	reportRates(b, len(ops), cpu0)
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
