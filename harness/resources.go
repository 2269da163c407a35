package harness

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/internal/rundir"
	"github.com/faultline/faultline/models/resources"
)

// ResourcesFile holds the nodes' resource samples (resources.jsonl), when
// the runtime can read them and sampling was not turned off.
const ResourcesFile = "resources.jsonl"

// maxResourcesBytes bounds what a re-check reads of resources.jsonl: about
// 400 bytes a sample, so 5 nodes sampled every second for 10 hours.
const maxResourcesBytes = 80 << 20

// sampleResources starts sampling the cluster's nodes into the run
// directory every spec.ResourceInterval and returns the function that stops
// it (and waits for the last write). Sampling is best effort: a runtime
// that cannot read resources, or a file that cannot be written, costs the
// charts, never the run.
func (l *lifecycle) sampleResources(ctx context.Context, cluster node.RunningCluster) (stop func()) {
	rr, ok := cluster.(node.ResourceReader)
	if l.spec.NoResources || !ok {
		return func() {}
	}
	every := l.spec.ResourceInterval.D()
	if every == 0 {
		every = time.Second
	}
	f, err := os.Create(filepath.Join(l.dir, ResourcesFile))
	if err != nil {
		l.log.Warn("resource sampling off", "err", err)
		return func() {}
	}
	w, err := resources.NewWriter(f, every, rr.ResourceSource())
	if err != nil {
		f.Close()
		l.log.Warn("resource sampling off", "err", err)
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		n, failed := 0, 0
		var reading time.Duration // spent waiting for the runtime
		t := time.NewTicker(every)
		defer t.Stop()
		for ctx.Err() == nil {
			// A busy engine can take seconds to answer (measured: over 1 s
			// on 2 cores with image builds beside the run); a slow read
			// thins the samples (the ticker drops the ticks it missed)
			// rather than failing them.
			rctx, rcancel := context.WithTimeout(ctx, max(5*every, 5*time.Second))
			t0 := time.Now()
			ss := rr.ReadResources(rctx)
			reading += time.Since(t0)
			rcancel()
			if ctx.Err() != nil {
				break // a read cut short by the stop is no sample
			}
			for i := range ss {
				ss[i].Time = ss[i].At.Sub(l.rec.start).Nanoseconds()
				if ss[i].Error != "" {
					failed++
				}
			}
			if err := w.Write(ss); err != nil {
				l.log.Warn("resource sampling stopped", "err", err)
				break
			}
			n++
			select {
			case <-ctx.Done():
			case <-t.C:
			}
		}
		l.log.Info("resource sampling done", "rounds", n, "failed_reads", failed, "every", every,
			"mean_round", (reading / time.Duration(max(n, 1))).Round(time.Millisecond))
	}()
	return func() {
		cancel()
		wg.Wait()
		if err := f.Close(); err != nil {
			l.log.Warn("closing "+ResourcesFile, "err", err)
		}
	}
}

// resourcesOf reads the run directory's resource samples, or nil when
// there are none; damage costs only the charts, so it is logged.
func resourcesOf(rd *rundir.Dir, log *slog.Logger) []resources.Sample {
	b, err := rd.ReadFile(ResourcesFile, maxResourcesBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var ss []resources.Sample
	if err == nil {
		ss, err = resources.Read(bytes.NewReader(b))
	}
	if err != nil {
		log.Warn("resource charts left out", "err", err)
		return nil
	}
	return ss
}
