//go:build unix

package counter

import (
	"context"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/models"
)

// BenchmarkCheck checks generated histories of a real counter (10
// clients, adds and reads, some failed and indeterminate adds) of 10k, 100k
// and 1M history entries; ops/s counts history entries.
func BenchmarkCheck(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("ops=%d", n), func(b *testing.B) {
			ops := simulate(rand.New(rand.NewPCG(7, uint64(n))), n, 10, false, false)
			c := New()
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				if res := c.Check(context.Background(), ops, models.Options{}); res.Verdict != models.Valid {
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
