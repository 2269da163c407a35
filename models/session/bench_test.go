//go:build unix

package session

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

// benchHistory simulates 10 clients of a linearizable store writing unique
// elements to and reading sets (or lists) of about 100 elements each, with
// failed and indeterminate writes. Keys rotate as in Jepsen's independent
// workloads: 4 live at a time, a new one every 400 entries, so each gets
// about 400 entries. With spread, each key's entries are spread over the
// whole history instead (n/400 keys chosen at random), the worst layout
// for memory locality.
func benchHistory(n int, list, spread bool) ([]history.Op, int) {
	cfg := simConfig{n: n, procs: 10, keys: 4, window: 400, list: list, replicas: 1}
	if spread {
		cfg.keys, cfg.window = n/400, 0
	}
	ops := simulate(rand.New(rand.NewPCG(13, uint64(n))), cfg)
	var elems int
	for _, op := range ops {
		if v, ok := op.Value.([]any); ok {
			elems += len(v)
		}
	}
	return ops, elems
}

// BenchmarkCheck checks all four guarantees on generated histories of
// 10k, 100k and 1M history entries; ops/s counts history entries.
func BenchmarkCheck(b *testing.B) {
	for _, data := range []string{"sets", "lists"} {
		for _, n := range []int{10_000, 100_000, 1_000_000} {
			b.Run(fmt.Sprintf("%s/ops=%d", data, n), func(b *testing.B) {
				ops, elems := benchHistory(n, data == "lists", false)
				b.Logf("%d ops, %d elements in reads", len(ops), elems)
				benchCheck(b, NewSession(), ops)
			})
		}
	}
}

// BenchmarkSpread is BenchmarkCheck at 1M entries with every key's ops
// spread over the whole history.
func BenchmarkSpread(b *testing.B) {
	for _, data := range []string{"sets", "lists"} {
		b.Run(fmt.Sprintf("%s/ops=%d", data, 1_000_000), func(b *testing.B) {
			ops, elems := benchHistory(1_000_000, data == "lists", true)
			b.Logf("%d ops, %d elements in reads", len(ops), elems)
			benchCheck(b, NewSession(), ops)
		})
	}
}

// BenchmarkGuarantee checks each guarantee alone on 100k history entries.
func BenchmarkGuarantee(b *testing.B) {
	for _, data := range []string{"sets", "lists"} {
		ops, _ := benchHistory(100_000, data == "lists", false)
		for _, g := range order() {
			b.Run(fmt.Sprintf("%s/%s", data, g.name()), func(b *testing.B) {
				benchCheck(b, &Checker{Model: g.name()}, ops)
			})
		}
	}
}

func benchCheck(b *testing.B, c *Checker, ops []history.Op) {
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
