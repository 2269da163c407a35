// Package harness is faultline's controller: it runs one test from a Spec
// (images, cluster, workers, nuker, heal, final reads, teardown), records
// the history as it happens, stores the run and checks it.
package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docker/docker/client"
	"golang.org/x/time/rate"

	"github.com/faultline/faultline/harness/docker"
	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/nuker"
	"github.com/faultline/faultline/reports"
	"github.com/faultline/faultline/targets"
	"github.com/faultline/faultline/workloads"
)

// ErrHarness wraps every error that stopped the harness from running a test
// (setup failure, Docker unreachable, interrupted): exit code 3.
var ErrHarness = errors.New("the harness could not run the test")

// Options carries how to report progress; the zero value is quiet.
type Options struct {
	// Progress receives human-readable progress lines.
	Progress node.Progress
	// ProgressEvery is the period of the status line during the run phase
	// (default 5 s).
	ProgressEvery time.Duration
	// Log receives the controller's own log lines (besides faultline.log).
	Log io.Writer
}

// Outcome is what a run produced.
type Outcome struct {
	// Dir is the run directory.
	Dir string
	// Results is what was written to results.json.
	Results Results
}

// recorder stamps ops with their time and appends them to the history.
type recorder struct {
	mu    sync.Mutex
	w     *history.Writer
	start time.Time
	first atomic.Int64 // time of the first client op, 0 until then
}

func (r *recorder) record(op history.Op) history.Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	op.Time = time.Since(r.start).Nanoseconds()
	if op.IsClient() {
		r.first.CompareAndSwap(0, op.Time)
	}
	out, _ := r.w.Append(op) // the first write error is reported at the end
	return out
}

// Run runs the test described by spec and stores it. The returned error is
// non-nil only when the harness could not run the test or store its
// results; even then Outcome.Dir holds whatever was recorded (its history
// can be checked with Check). Cancelling ctx (Ctrl-C) stops the run phase,
// heals every fault and tears the cluster down before returning.
func Run(ctx context.Context, spec Spec, opt Options) (*Outcome, error) {
	started := time.Now()
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	tentry, err := targets.Default().Lookup(spec.Target)
	if err != nil {
		return nil, err
	}
	target, err := tentry.New(spec.TargetVersion, spec.TargetOpts)
	if err != nil {
		return nil, err
	}
	wl, err := workloads.Default().Lookup(spec.Workload)
	if err != nil {
		return nil, err
	}
	if err := fitTarget(target, wl.Name(), &spec); err != nil {
		return nil, err
	}
	if spec.Seed == 0 {
		spec.Seed = time.Now().UnixNano() % 1_000_000_000
	}
	spec.TargetVersion = target.Version()

	// No engine, no run: fail before anything is stored.
	cli, err := docker.Connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHarness, err)
	}
	defer cli.Close()
	if err := checkClockInjector(ctx, spec, opt.Progress); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHarness, err)
	}

	dir, err := newRunDir(spec.Store, spec.Test, started)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHarness, err)
	}
	logf, err := os.Create(filepath.Join(dir, LogFile))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHarness, err)
	}
	defer logf.Close()
	var lw io.Writer = logf
	if opt.Log != nil {
		lw = io.MultiWriter(logf, opt.Log)
	}
	log := slog.New(slog.NewTextHandler(lw, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if err := writeJSON(filepath.Join(dir, SpecFile), spec); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHarness, err)
	}
	hf, err := os.Create(filepath.Join(dir, HistoryFile))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHarness, err)
	}
	defer hf.Close()
	hw, err := history.NewWriter(hf)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHarness, err)
	}
	rec := &recorder{w: hw, start: started}
	// The stamp is per second and a process may run several tests at once
	// (parallel Go tests): a random part keeps container names apart. The
	// pid stays last, for tests that look for their own leftovers.
	runID := fmt.Sprintf("%s-%06x-%d", filepath.Base(dir), rand.Uint32()&0xffffff, os.Getpid())
	log.Info("run starting", "dir", dir, "run_id", runID, "seed", spec.Seed, "target", target.Name(), "version", target.Version())
	opt.Progress.Printf("run %s (seed %d) -> %s", spec.Test, spec.Seed, dir)

	info := RunInfo{ID: runID, Started: started, TargetVersion: target.Version(), TargetSettings: target.Settings(),
		Seed: spec.Seed, ReplayOf: spec.ReplayOf, Provenance: newProvenance(target.Name(), target.Version())}
	runErr := execute(ctx, cli, spec, target, wl, rec, dir, runID, log, opt, &info)
	if runErr != nil {
		log.Error("run failed", "err", runErr)
	}
	if ctx.Err() != nil {
		info.Interrupted = true
	}
	info.Duration = Duration(time.Since(started))
	if f := rec.first.Load(); f > 0 {
		info.FirstOpAfter = Duration(f)
	}
	// The end record tells a re-check that the run finished; a write error
	// is kept by hw and joined below.
	end := history.EndRecord{Interrupted: info.Interrupted}
	if runErr != nil {
		end.HarnessError = runErr.Error()
	}
	_ = hw.End(end)
	if err := hw.Err(); err != nil {
		runErr = errors.Join(runErr, err)
	}
	if runErr != nil {
		info.HarnessError = runErr.Error()
	}
	if err := hf.Sync(); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("sync history: %w", err))
	}

	// Check what was recorded, even after an error: the partial history is
	// still worth judging and the report shows how far the run got.
	cctx, stopCheck := checkContext(ctx)
	defer stopCheck()
	res, cerr := checkRun(cctx, dir, spec, hw.Ops(), info, log, opt.Progress)
	if cerr != nil {
		runErr = errors.Join(runErr, cerr)
	}
	// The store's index lists this run too; a stale index is no reason to
	// fail the run.
	if err := reports.WriteIndex(spec.Store); err != nil {
		log.Warn("store index not written", "err", err)
	}
	out := &Outcome{Dir: dir, Results: res}
	if runErr != nil {
		return out, fmt.Errorf("%w: %w", ErrHarness, runErr)
	}
	if info.Interrupted {
		return out, fmt.Errorf("%w: interrupted", ErrHarness)
	}
	return out, nil
}

// execute runs the cluster phases; teardown always runs.
func execute(ctx context.Context, cli *client.Client, spec Spec, target targets.Target, wl workloads.Workload,
	rec *recorder, dir, runID string, log *slog.Logger, opt Options, info *RunInfo) (err error) {
	// Cleanup must run even when ctx is cancelled by Ctrl-C.
	cleanupCtx := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	}

	sw, err := target.Software()
	if err != nil {
		return err
	}
	t0 := time.Now()
	image, err := docker.EnsureImage(ctx, cli, sw, opt.Progress)
	if err != nil {
		return fmt.Errorf("image for %s: %w", target.Name(), err)
	}
	log.Info("image ready", "image", image, "took", time.Since(t0).Round(time.Millisecond))
	info.Provenance.addImage("node", image)
	if err := preflight(ctx, cli, runID, image, spec.Nemesis, log, opt.Progress); err != nil {
		return err
	}

	t0 = time.Now()
	cluster, err := docker.StartCluster(ctx, cli, docker.ClusterSpec{RunID: runID, Image: image, Nodes: spec.Nodes})
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := cleanupCtx()
		defer cancel()
		if rerr := cluster.Remove(cctx); rerr != nil {
			err = errors.Join(err, fmt.Errorf("teardown: %w (run `faultline clean`)", rerr))
		} else {
			log.Info("cluster removed")
		}
	}()
	// A target holding the controller's own connections lets them go when
	// the run ends (runs of a suite share one process).
	if c, ok := target.(io.Closer); ok {
		defer func() {
			if cerr := c.Close(); cerr != nil {
				log.Warn("closing the target's connections", "err", cerr)
			}
		}()
	}
	nodes := cluster.Nodes()
	for _, n := range nodes {
		info.Nodes = append(info.Nodes, n.Name())
	}
	opt.Progress.Printf("cluster: %d containers on %s", len(nodes), cluster.Gateway())

	// Node logs are copied out before teardown (deferred after it, so run
	// first), whatever happened.
	defer func() {
		cctx, cancel := cleanupCtx()
		defer cancel()
		collectLogs(cctx, nodes, target.LogFiles(), filepath.Join(dir, NodesDir), log)
	}()

	if err := target.Setup(ctx, nodes, log); err != nil {
		return fmt.Errorf("set up %s: %w", target.Name(), err)
	}
	leaders := "no leader: leaderless"
	pl, hasPrimaries := target.(nuker.PrimaryLister)
	if hasPrimaries {
		prim, _ := pl.Primaries(ctx)
		leaders = fmt.Sprintf("leader %v", prim)
	}
	log.Info("target healthy", "took", time.Since(t0).Round(time.Millisecond), "roles", leaders)
	opt.Progress.Printf("%s %s healthy on %d nodes in %s (%s)", target.Name(), target.Version(), len(nodes), time.Since(t0).Round(100*time.Millisecond), leaders)

	faults, err := nuker.ParseFaults(strings.Join(spec.Nemesis, ","))
	if err != nil {
		return err
	}
	nk, err := nuker.New(nuker.Config{
		Faults:     faults,
		Partitions: spec.Partitions,
		Interval:   spec.NemesisInterval.D(),
		Seed:       uint64(spec.Seed),
		Nodes:      nodes,
		Target:     target,
		Record:     rec.record,
		Logger:     log,
		Schedule:   spec.Schedule,
	})
	if err != nil {
		return err
	}
	// Heal at the end whatever happens, with a context Ctrl-C cannot cancel.
	defer func() {
		cctx, cancel := cleanupCtx()
		defer cancel()
		if herr := nk.HealAll(cctx); herr != nil {
			err = errors.Join(err, fmt.Errorf("heal: %w", herr))
		}
	}()

	gen := wl.NewGenerator(workloads.Config{Concurrency: spec.Concurrency, Seed: spec.Seed, OpsPerKey: spec.OpsPerKey})
	clients := make([]workloads.Client, spec.Concurrency)
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
	}()
	for w := range clients {
		c, err := target.NewClient(ctx, nodes[w%len(nodes)])
		if err != nil {
			return fmt.Errorf("client %d: %w", w, err)
		}
		if err := wl.CheckClient(c); err != nil {
			c.Close()
			return err
		}
		clients[w] = c
	}
	if p, ok := wl.(workloads.Preparer); ok {
		if err := prepare(ctx, p, clients[0], prepareLimit, log); err != nil {
			return err
		}
	}

	// The run phase: workers and the nuker until the time limit or Ctrl-C.
	runCtx, stopRun := context.WithTimeout(ctx, spec.TimeLimit.D())
	defer stopRun()
	var limiter *rate.Limiter
	if spec.Rate > 0 {
		limiter = rate.NewLimiter(rate.Limit(spec.Rate), 1)
	}
	var (
		wg       sync.WaitGroup
		counts   [4]atomic.Int64 // ok, fail, info, invoked
		maxProc  atomic.Int64
		nukerErr error
	)
	opt.Progress.Printf("running %s for %s: %d workers, faults %v every %s", wl.Name(), spec.TimeLimit.D(), spec.Concurrency, spec.Nemesis, spec.NemesisInterval.D())
	phaseStart := time.Now()
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(spec.Seed), uint64(w)))
			proc := history.Process(w)
			n := nodes[w%len(nodes)]
			for runCtx.Err() == nil {
				if limiter != nil && limiter.Wait(runCtx) != nil {
					return
				}
				op := gen.Next(w, rng)
				op.Type, op.Process, op.Node = history.Invoke, proc, n.Name()
				inv := rec.record(op)
				counts[3].Add(1)
				// In-flight ops finish after the time limit; only Ctrl-C
				// cuts them short (and then they are info).
				octx, cancel := context.WithTimeout(ctx, spec.OpTimeout.D())
				done := wl.Invoke(octx, clients[w], inv)
				cancel()
				done.Process, done.Node = proc, n.Name()
				done = rec.record(done)
				gen.Complete(done)
				switch done.Type {
				case history.OK:
					counts[0].Add(1)
				case history.Fail:
					counts[1].Add(1)
				default:
					counts[2].Add(1)
					// The old process may still have its op in flight.
					proc += history.Process(spec.Concurrency)
				}
			}
			for {
				m := maxProc.Load()
				if int64(proc) <= m || maxProc.CompareAndSwap(m, int64(proc)) {
					break
				}
			}
		}()
	}
	nukerDone := make(chan struct{})
	go func() {
		defer close(nukerDone)
		if len(faults) > 0 {
			nukerErr = nk.Run(runCtx)
		}
	}()
	rolesDone := make(chan struct{})
	go func() {
		defer close(rolesDone)
		if hasPrimaries {
			pollPrimaries(runCtx, pl, rec, time.Second, log)
		}
	}()
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		every := opt.ProgressEvery
		if every <= 0 {
			every = 5 * time.Second
		}
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-tick.C:
				el := time.Since(phaseStart)
				opt.Progress.Printf("  %3.0fs/%s  %d ops (%.0f/s)  ok %d  fail %d  info %d",
					el.Seconds(), spec.TimeLimit.D(), counts[3].Load(), float64(counts[3].Load())/el.Seconds(),
					counts[0].Load(), counts[1].Load(), counts[2].Load())
			}
		}
	}()
	wg.Wait()
	<-nukerDone
	<-rolesDone
	<-progressDone
	el := time.Since(phaseStart)
	log.Info("run phase done", "ops", counts[3].Load(), "ok", counts[0].Load(), "fail", counts[1].Load(), "info", counts[2].Load(), "took", el.Round(time.Millisecond))
	opt.Progress.Printf("run phase done: %d ops in %s (%.0f/s): ok %d, fail %d, info %d",
		counts[3].Load(), el.Round(100*time.Millisecond), float64(counts[3].Load())/el.Seconds(), counts[0].Load(), counts[1].Load(), counts[2].Load())
	if nukerErr != nil && ctx.Err() == nil {
		log.Warn("nuker reported an error", "err", nukerErr)
	}

	// Heal now (the deferred heal is the safety net), then recover and
	// read every key from every node.
	hctx, hcancel := cleanupCtx()
	herr := nk.HealAll(hctx)
	hcancel()
	if herr != nil {
		return fmt.Errorf("heal: %w", herr)
	}
	if ctx.Err() != nil {
		opt.Progress.Printf("interrupted: faults healed; skipping final reads")
		return nil
	}
	opt.Progress.Printf("healed; waiting %s for recovery, then final reads", spec.RecoveryWait.D())
	select {
	case <-ctx.Done():
		return nil
	case <-time.After(spec.RecoveryWait.D()):
	}
	if err := target.WaitHealthy(ctx, 30*time.Second); err != nil {
		log.Warn("target not healthy after recovery wait", "err", err)
	}
	finalReads(ctx, target, wl, gen, nodes, rec, history.Process(maxProc.Load()+1), spec.OpTimeout.D(), log)
	return nil
}

// finalReads reads every key the run used from every node, each node with
// a fresh client and process.
func finalReads(ctx context.Context, target targets.Target, wl workloads.Workload, gen workloads.Generator,
	nodes []node.Node, rec *recorder, firstProc history.Process, timeout time.Duration, log *slog.Logger) {
	ops := gen.Final()
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := target.NewClient(ctx, n)
			if err != nil {
				log.Warn("final reads: no client", "node", n.Name(), "err", err)
				return
			}
			defer c.Close()
			proc := firstProc + history.Process(i)
			for _, op := range ops {
				if ctx.Err() != nil {
					return
				}
				op.Process, op.Node = proc, n.Name()
				inv := rec.record(op)
				octx, cancel := context.WithTimeout(ctx, timeout)
				done := wl.Invoke(octx, c, inv)
				cancel()
				done.Process, done.Node = proc, n.Name()
				rec.record(done)
				if done.Type == history.Info {
					proc += history.Process(len(nodes))
				}
			}
		}()
	}
	wg.Wait()
}

// collectLogs copies each node's log files into dir/<node>/.
func collectLogs(ctx context.Context, nodes []node.Node, files []string, dir string, log *slog.Logger) {
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, f := range files {
				if err := n.CopyOut(ctx, f, filepath.Join(dir, n.Name())); err != nil {
					log.Warn("copy node log", "node", n.Name(), "file", f, "err", err)
				}
			}
		}()
	}
	wg.Wait()
}
