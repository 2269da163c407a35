// Package harness is faultline's controller: it runs one test given as
// values (a Target, a Workload and a Spec of parameters) through its
// lifecycle (install, cluster, setup, run phase, heal, final reads,
// teardown) on a node runtime, records the history as it happens, stores
// the run and checks it. Names are resolved at the edge (Run with a
// targets.Resolver, suites, the CLI).
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

	"golang.org/x/time/rate"

	"github.com/faultline/faultline/harness/docker"
	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/models/netstats"
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
	// Targets resolves Spec.Target names for Run and suites
	// (catalog.Default() for the shipped systems). RunTest does not need it.
	Targets targets.Resolver
	// Runtime is where the nodes live; nil means the Docker engine
	// (harness/docker), connected for the run and closed after it.
	Runtime node.Runtime
	// LeaveRunning keeps the cluster up after the run (Jepsen's
	// --leave-db-running), for a person to look at; faults are still
	// healed and logs copied. `faultline clean` removes it later.
	LeaveRunning bool
}

// Test is one test given as values: the system under test, the traffic,
// and the parameters stored with the run (Spec.Target and Spec.Workload
// default to the values' names). A user's own Target type runs exactly
// like a shipped one.
type Test struct {
	Spec     Spec
	Target   targets.Target
	Workload workloads.Workload
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

// Run resolves spec's names (the target through opt.Targets, the workload
// in workloads.Default()) and runs it as RunTest does.
func Run(ctx context.Context, spec Spec, opt Options) (*Outcome, error) {
	t, err := Resolve(spec, opt.Targets)
	if err != nil {
		return nil, err
	}
	return RunTest(ctx, t, opt)
}

// Resolve turns a spec's names into a Test.
func Resolve(spec Spec, r targets.Resolver) (Test, error) {
	if err := spec.Validate(); err != nil {
		return Test{}, err
	}
	if r == nil {
		return Test{}, fmt.Errorf("%w: no target resolver to find target %q (set harness.Options.Targets, e.g. to catalog.Default())", ErrHarness, spec.Target)
	}
	target, err := r.NewTarget(spec.Target, spec.TargetVersion, spec.TargetOpts)
	if err != nil {
		return Test{}, err
	}
	wl, err := workloads.Default().Lookup(spec.Workload)
	if err != nil {
		return Test{}, err
	}
	return Test{Spec: spec, Target: target, Workload: wl}, nil
}

// RunTest runs t and stores it. The returned error is non-nil only when
// the test is malformed, or the harness could not run the test or store
// its results; even then Outcome.Dir holds whatever was recorded (its
// history can be checked with Check). Cancelling ctx (Ctrl-C) stops the
// run phase, heals every fault and tears the cluster down before
// returning.
func RunTest(ctx context.Context, t Test, opt Options) (*Outcome, error) {
	started := time.Now()
	if t.Target == nil || t.Workload == nil {
		return nil, errors.New("a test needs a target and a workload")
	}
	spec := t.Spec
	if spec.Target == "" {
		spec.Target = t.Target.Name()
	}
	if spec.Workload == "" {
		spec.Workload = t.Workload.Name()
	}
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	target, wl := t.Target, t.Workload
	if err := fitTarget(target, wl.Name(), &spec); err != nil {
		return nil, err
	}
	if spec.Seed == 0 {
		spec.Seed = time.Now().UnixNano() % 1_000_000_000
	}
	spec.TargetVersion = target.Version()

	// No runtime, no run: fail before anything is stored.
	rt := opt.Runtime
	if rt == nil {
		drt, err := docker.NewRuntime(ctx)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrHarness, err)
		}
		defer drt.Close()
		rt = drt
	}
	if err := rt.CheckHost(ctx, spec.needs(), opt.Progress); err != nil {
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
	lc := &lifecycle{spec: spec, target: target, wl: wl, rt: rt, rec: rec, dir: dir, runID: runID, log: log, progress: opt.Progress,
		progressEvery: opt.ProgressEvery, info: &info, leaveRunning: opt.LeaveRunning}
	runErr := lc.run(ctx)
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
	res, cerr := checkRun(cctx, dir, spec, wl, hw.Ops(), info, log, opt.Progress)
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

// lifecycle is one run's cluster phases, each a method, in the order run
// calls them: install, cluster, setup, faults, clients, run phase, heal,
// final reads; teardown (logs, the target's connections, the cluster)
// always runs. It knows nodes only through the runtime interface, so it
// is tested without Docker against a fake runtime.
type lifecycle struct {
	spec          Spec
	target        targets.Target
	wl            workloads.Workload
	rt            node.Runtime
	rec           *recorder
	dir, runID    string
	log           *slog.Logger
	progress      node.Progress
	progressEvery time.Duration
	info          *RunInfo

	nodes   []node.Node
	nk      *nuker.Nuker
	faults  []string
	gen     workloads.Generator
	clients []workloads.Client
	// crash is what a targets.CrashWatcher reported, ending the run phase.
	crash error
	// leaveRunning skips the cluster's removal at teardown.
	leaveRunning bool
}

// cleanupCtx is for work that must run even when ctx was cancelled by
// Ctrl-C: heal, logs, teardown.
func cleanupCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
}

// run runs the phases; teardown always runs.
func (l *lifecycle) run(ctx context.Context) (err error) {
	inst, err := l.install(ctx)
	if err != nil {
		return err
	}
	cluster, err := l.startCluster(ctx, inst)
	if err != nil {
		return err
	}
	defer func() {
		if terr := l.teardown(ctx, cluster); terr != nil {
			err = errors.Join(err, terr)
		}
	}()
	defer l.sampleResources(ctx, cluster)() // stops before the teardown
	if err := l.setup(ctx); err != nil {
		return err
	}
	if err := l.startNuker(); err != nil {
		return err
	}
	// Heal at the end whatever happens (the heal below is the normal path).
	defer func() {
		if herr := l.heal(ctx); herr != nil {
			err = errors.Join(err, herr)
		}
	}()
	defer l.closeClients()
	if err := l.openClients(ctx); err != nil {
		return err
	}
	maxProc := l.runPhase(ctx)
	if err := l.heal(ctx); err != nil {
		return err
	}
	if l.crash != nil {
		l.progress.Printf("stopped: %v", l.crash)
		return fmt.Errorf("the system under test crashed: %w", l.crash)
	}
	if ctx.Err() != nil {
		l.progress.Printf("interrupted: faults healed; skipping final reads")
		return nil
	}
	l.final(ctx, maxProc+1)
	return nil
}

// install makes the target's software available (builds or reuses its
// image) and checks the requested faults' mechanisms before any node
// starts.
func (l *lifecycle) install(ctx context.Context) (node.Installation, error) {
	// A fault may need more than the target's own software (the upgrade
	// fault: both releases).
	sw, err := nuker.Software(l.target, l.spec.Nemesis)
	if err != nil {
		return node.Installation{}, err
	}
	t0 := time.Now()
	inst, err := l.rt.Install(ctx, sw, l.progress)
	if err != nil {
		return node.Installation{}, err
	}
	l.log.Info("software ready", "installation", inst.Ref, "took", time.Since(t0).Round(time.Millisecond))
	l.info.Provenance.addImage("node", inst.Ref)
	if needs := l.spec.needs(); needs.Any() {
		t0 = time.Now()
		if err := l.rt.Preflight(ctx, l.runID, inst, needs, l.progress); err != nil {
			return node.Installation{}, err
		}
		took := time.Since(t0).Round(time.Millisecond)
		l.log.Info("preflight: fault mechanisms work", "faults", l.spec.Nemesis, "took", took)
		l.progress.Printf("preflight: %v work here (%s)", l.spec.Nemesis, took)
	}
	return inst, nil
}

// startCluster starts the nodes.
func (l *lifecycle) startCluster(ctx context.Context, inst node.Installation) (node.RunningCluster, error) {
	cluster, err := l.rt.StartCluster(ctx, l.runID, inst, l.spec.Nodes)
	if err != nil {
		return nil, err
	}
	l.nodes = cluster.Nodes()
	for _, n := range l.nodes {
		l.info.Nodes = append(l.info.Nodes, n.Name())
	}
	l.progress.Printf("cluster: %s", cluster.Describe())
	return cluster, nil
}

// teardown copies the node logs into the run directory, lets the target's
// own connections go (runs of a suite share one process) and removes the
// cluster, whatever happened before.
func (l *lifecycle) teardown(ctx context.Context, cluster node.RunningCluster) error {
	cctx, cancel := cleanupCtx(ctx)
	defer cancel()
	collectLogs(cctx, l.nodes, l.target.LogFiles(), filepath.Join(l.dir, NodesDir), l.log)
	if mc, ok := l.target.(targets.MessageCounter); ok {
		l.saveMessages(cctx, mc)
	}
	if c, ok := l.target.(io.Closer); ok {
		if err := c.Close(); err != nil {
			l.log.Warn("closing the target's connections", "err", err)
		}
	}
	if l.leaveRunning {
		l.leftRunning(cluster)
		return nil
	}
	if err := cluster.Remove(cctx); err != nil {
		return fmt.Errorf("teardown: %w (run `faultline clean`)", err)
	}
	l.log.Info("cluster removed")
	return nil
}

// leftRunning says how to reach a cluster left up and how to remove it.
func (l *lifecycle) leftRunning(cluster node.RunningCluster) {
	var reach []string
	if r, ok := cluster.(node.Reacher); ok {
		reach = r.Reach()
	} else {
		for _, n := range l.nodes {
			reach = append(reach, fmt.Sprintf("%s %s", n.Name(), n.Addr()))
		}
	}
	// In the log too: with --quiet it is the only place that says.
	l.log.Info("cluster left running", "run_id", l.runID, "nodes", reach)
	l.progress.Printf("cluster left running (--leave-db-running): %s", cluster.Describe())
	for _, line := range reach {
		l.progress.Printf("  %s", line)
	}
	l.progress.Printf("remove it with: faultline clean --run %s (or faultline clean, once this process has exited)", l.runID)
}

// saveMessages keeps the target's message counts in network.json, on the
// history's time axis. Missing counts cost the statistics, not the run.
func (l *lifecycle) saveMessages(ctx context.Context, mc targets.MessageCounter) {
	f, err := mc.Messages(ctx)
	if err != nil {
		l.log.Warn("no network statistics", "err", err)
		return
	}
	f.Format, f.Version = netstats.Format, netstats.Version
	for i := range f.Samples {
		f.Samples[i].Time = int64(f.Samples[i].At.Sub(l.rec.start))
	}
	if err := writeJSON(filepath.Join(l.dir, NetworkFile), f); err != nil {
		l.log.Warn("network statistics not written", "err", err)
	}
}

// setup starts the system on the nodes and waits until it is healthy.
func (l *lifecycle) setup(ctx context.Context) error {
	t0 := time.Now()
	if err := l.mountDisks(ctx); err != nil {
		return err
	}
	if err := l.target.Setup(ctx, l.nodes, l.log); err != nil {
		err = fmt.Errorf("set up %s: %w", l.target.Name(), err)
		if tails := logTails(ctx, l.nodes, l.target.LogFiles(), 5); tails != "" {
			err = fmt.Errorf("%w\nthe end of the nodes' logs:\n%s", err, tails)
		}
		return err
	}
	leaders := "no leader: leaderless"
	if pl, ok := l.target.(nuker.PrimaryLister); ok {
		prim, _ := pl.Primaries(ctx)
		leaders = fmt.Sprintf("leader %v", prim)
	}
	l.log.Info("target healthy", "took", time.Since(t0).Round(time.Millisecond), "roles", leaders)
	l.progress.Printf("%s %s healthy on %d nodes in %s (%s)", l.target.Name(), l.target.Version(), len(l.nodes), time.Since(t0).Round(100*time.Millisecond), leaders)
	return nil
}

// startNuker builds the fault schedule's nuker (it starts in runPhase).
func (l *lifecycle) startNuker() error {
	faults, err := nuker.ParseFaults(strings.Join(l.spec.Nemesis, ","))
	if err != nil {
		return err
	}
	plan, err := l.spec.plan()
	if err != nil {
		return err
	}
	nk, err := nuker.New(nuker.Config{
		Plan:       &plan,
		Faults:     faults,
		Partitions: l.spec.Partitions,
		Interval:   l.spec.NemesisInterval.D(),
		Seed:       uint64(l.spec.Seed),
		Nodes:      l.nodes,
		Target:     l.target,
		Record:     l.rec.record,
		Logger:     l.log,
		Schedule:   l.spec.Schedule,
	})
	if err != nil {
		return err
	}
	l.nk, l.faults = nk, faults
	return nil
}

// heal undoes every fault, with a context Ctrl-C cannot cancel.
func (l *lifecycle) heal(ctx context.Context) error {
	cctx, cancel := cleanupCtx(ctx)
	defer cancel()
	if err := l.nk.HealAll(cctx); err != nil {
		return fmt.Errorf("heal: %w", err)
	}
	return nil
}

// openClients opens one client per worker (worker w talks to node w mod
// N) and runs the workload's one-time preparation.
func (l *lifecycle) openClients(ctx context.Context) error {
	l.gen = l.wl.NewGenerator(workloads.Config{Concurrency: l.spec.Concurrency, Seed: l.spec.Seed, OpsPerKey: l.spec.OpsPerKey})
	l.clients = make([]workloads.Client, l.spec.Concurrency)
	for w := range l.clients {
		c, err := l.target.NewClient(ctx, l.nodes[w%len(l.nodes)])
		if err != nil {
			return fmt.Errorf("client %d: %w", w, err)
		}
		if err := l.wl.CheckClient(c); err != nil {
			c.Close()
			return err
		}
		l.clients[w] = c
	}
	if p, ok := l.wl.(workloads.Preparer); ok {
		if err := prepare(ctx, p, l.clients[0], prepareLimit, l.log); err != nil {
			return err
		}
	}
	return nil
}

func (l *lifecycle) closeClients() {
	for _, c := range l.clients {
		if c != nil {
			c.Close()
		}
	}
}

// runPhase runs the workers and the nuker until the time limit or Ctrl-C
// and returns the highest process id used.
func (l *lifecycle) runPhase(ctx context.Context) history.Process {
	spec, rec, nodes := l.spec, l.rec, l.nodes
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
	faults := fmt.Sprintf("faults %v every %s", spec.Nemesis, spec.NemesisInterval.D())
	if spec.FaultSchedule != "" {
		faults = "fault schedule " + spec.FaultSchedule
	}
	l.progress.Printf("running %s for %s: %d workers, %s", l.wl.Name(), spec.TimeLimit.D(), spec.Concurrency, faults)
	phaseStart := time.Now()
	for w := range l.clients {
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
				op := l.gen.Next(w, rng)
				op.Type, op.Process, op.Node = history.Invoke, proc, n.Name()
				inv := rec.record(op)
				counts[3].Add(1)
				// In-flight ops finish after the time limit; only Ctrl-C
				// cuts them short (and then they are info).
				octx, cancel := context.WithTimeout(ctx, spec.OpTimeout.D())
				done := l.wl.Invoke(octx, l.clients[w], inv)
				cancel()
				done.Process, done.Node = proc, n.Name()
				done = rec.record(done)
				l.gen.Complete(done)
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
		if len(l.faults) > 0 {
			nukerErr = l.nk.Run(runCtx)
		}
	}()
	rolesDone := make(chan struct{})
	go func() {
		defer close(rolesDone)
		if pl, ok := l.target.(nuker.PrimaryLister); ok {
			pollPrimaries(runCtx, pl, rec, time.Second, l.log)
		}
	}()
	crashDone := make(chan struct{})
	go func() {
		defer close(crashDone)
		if cw, ok := l.target.(targets.CrashWatcher); ok {
			l.crash = watchCrash(runCtx, cw, 500*time.Millisecond)
			if l.crash != nil {
				l.log.Error("the system under test crashed; stopping the run", "err", l.crash)
				stopRun()
			}
		}
	}()
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		every := l.progressEvery
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
				l.progress.Printf("  %3.0fs/%s  %d ops (%.0f/s)  ok %d  fail %d  info %d",
					el.Seconds(), spec.TimeLimit.D(), counts[3].Load(), float64(counts[3].Load())/el.Seconds(),
					counts[0].Load(), counts[1].Load(), counts[2].Load())
			}
		}
	}()
	wg.Wait()
	<-nukerDone
	<-rolesDone
	<-crashDone
	<-progressDone
	el := time.Since(phaseStart)
	l.log.Info("run phase done", "ops", counts[3].Load(), "ok", counts[0].Load(), "fail", counts[1].Load(), "info", counts[2].Load(), "took", el.Round(time.Millisecond))
	l.progress.Printf("run phase done: %d ops in %s (%.0f/s): ok %d, fail %d, info %d",
		counts[3].Load(), el.Round(100*time.Millisecond), float64(counts[3].Load())/el.Seconds(), counts[0].Load(), counts[1].Load(), counts[2].Load())
	if nukerErr != nil && ctx.Err() == nil {
		l.log.Warn("nuker reported an error", "err", nukerErr)
	}
	return history.Process(maxProc.Load())
}

// watchCrash polls cw until ctx ends and returns the first crash it
// reports, or nil.
func watchCrash(ctx context.Context, cw targets.CrashWatcher, every time.Duration) error {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if err := cw.Crashed(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return cw.Crashed()
		case <-tick.C:
		}
	}
}

// final waits for recovery after healing, then reads every key from every
// node (convergence), with process ids from firstProc on.
func (l *lifecycle) final(ctx context.Context, firstProc history.Process) {
	l.progress.Printf("healed; waiting %s for recovery, then final reads", l.spec.RecoveryWait.D())
	select {
	case <-ctx.Done():
		return
	case <-time.After(l.spec.RecoveryWait.D()):
	}
	if err := l.target.WaitHealthy(ctx, 30*time.Second); err != nil {
		l.log.Warn("target not healthy after recovery wait", "err", err)
	}
	finalReads(ctx, l.target, l.wl, l.gen, l.nodes, l.rec, firstProc, l.spec.OpTimeout.D(), l.log)
}

// finalGiveUp is how many final reads in a row that timed out make the
// final reads leave a node: a node that never recovered (a member that
// never rejoined) would otherwise hold the run for one op timeout per key.
const finalGiveUp = 3

// finalRetryPause is the pause before a final op that did not complete
// ok is repeated (workloads.FinalUntilOK).
const finalRetryPause = 500 * time.Millisecond

// finalReads reads every key the run used from every node, each node with
// a fresh client and process. A node on which finalGiveUp reads in a row
// time out gets no more of them: the rest are never invoked, and the log
// says so. A generator that is a workloads.FinalUntilOK has each final op
// repeated until it completes ok, within its patience; the give-up rule
// applies once the patience is spent.
func finalReads(ctx context.Context, target targets.Target, wl workloads.Workload, gen workloads.Generator,
	nodes []node.Node, rec *recorder, firstProc history.Process, timeout time.Duration, log *slog.Logger) {
	ops := gen.Final()
	var until time.Time
	if u, ok := gen.(workloads.FinalUntilOK); ok {
		until = time.Now().Add(u.FinalPatience())
	}
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
			silent := 0 // reads in a row that timed out
			for j := 0; j < len(ops); {
				if ctx.Err() != nil {
					return
				}
				patient := time.Now().Before(until)
				if silent >= finalGiveUp && !patient {
					log.Warn("final reads: node timed out again and again; leaving it", "node", n.Name(), "timeouts_in_a_row", silent, "reads_left", len(ops)-j)
					return
				}
				op := ops[j]
				op.Process, op.Node = proc, n.Name()
				inv := rec.record(op)
				octx, cancel := context.WithTimeout(ctx, timeout)
				done := wl.Invoke(octx, c, inv)
				timedOut := octx.Err() != nil && ctx.Err() == nil
				cancel()
				done.Process, done.Node = proc, n.Name()
				rec.record(done)
				if done.Type == history.Info {
					proc += history.Process(len(nodes))
				}
				if timedOut {
					silent++
				} else {
					silent = 0
				}
				if done.Type != history.OK && time.Now().Before(until) {
					log.Debug("final reads: repeating an op that did not complete ok", "node", n.Name(), "f", op.F, "type", done.Type, "err", done.Error)
					select {
					case <-ctx.Done():
						return
					case <-time.After(finalRetryPause):
					}
					continue
				}
				j++
			}
		}()
	}
	wg.Wait()
}

// logTails returns the last lines of each node's log files, nodes with the
// same lines together, for the error a person reads when a system did not
// start: why is usually there (a missing module, a bad flag).
func logTails(ctx context.Context, nodes []node.Node, files []string, lines int) string {
	cctx, cancel := cleanupCtx(ctx)
	defer cancel()
	cctx, cancel = context.WithTimeout(cctx, 10*time.Second)
	defer cancel()
	var order []string
	byTail := map[string][]string{}
	for _, f := range files {
		for _, n := range nodes {
			res, err := n.Exec(cctx, "tail", "-n", fmt.Sprint(lines), f)
			// Without the daemons' start markers, whose times differ, nodes
			// that failed alike group together.
			var kept []string
			for _, line := range strings.Split(string(res.Stdout), "\n") {
				if !strings.HasPrefix(line, "=== faultline: starting") {
					kept = append(kept, line)
				}
			}
			out := strings.TrimSpace(strings.Join(kept, "\n"))
			if err != nil || out == "" {
				continue
			}
			if len(out) > 2048 {
				out = "…" + out[len(out)-2048:]
			}
			key := f + "\x00" + out
			if _, ok := byTail[key]; !ok {
				order = append(order, key)
			}
			byTail[key] = append(byTail[key], n.Name())
		}
	}
	var b strings.Builder
	for _, key := range order {
		f, out, _ := strings.Cut(key, "\x00")
		fmt.Fprintf(&b, "  %s %s:\n", strings.Join(byTail[key], ", "), f)
		for _, line := range strings.Split(out, "\n") {
			fmt.Fprintf(&b, "    %s\n", line)
		}
	}
	return strings.TrimRight(b.String(), "\n")
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

// needs is what the spec's faults need of the nodes, and the disk
// filesystem also when DiskMount asks for it without a fault.
func (s *Spec) needs() node.Needs {
	n := nuker.NeedsOf(s.Nemesis)
	n.Disk = n.Disk || s.DiskMount
	return n
}

// mountDisks mounts faultline's disk filesystem over the target's data
// directory on every node when a disk fault (or Spec.DiskMount) asks for it, before Setup
// starts the daemons that use it.
func (l *lifecycle) mountDisks(ctx context.Context) error {
	if !l.spec.needs().Disk {
		return nil
	}
	dd, ok := l.target.(targets.DataDirer)
	if !ok || len(dd.DataDirs()) == 0 {
		return fmt.Errorf("disk faults need a target that declares its data directories; %s declares none", l.target.Name())
	}
	dirs := dd.DataDirs()
	if len(dirs) > 1 {
		return fmt.Errorf("disk faults: %s declares %d data directories %v; one per node is supported", l.target.Name(), len(dirs), dirs)
	}
	t0 := time.Now()
	for _, n := range l.nodes {
		d, ok := n.(node.Disker)
		if !ok {
			return fmt.Errorf("disk faults: node %s cannot mount a disk filesystem in this runtime", n.Name())
		}
		if err := d.MountDisk(ctx, dirs[0], false); err != nil {
			return err
		}
	}
	l.progress.Printf("disk: faultline filesystem over %s on %d nodes (%s)", dirs[0], len(l.nodes), time.Since(t0).Round(time.Millisecond))
	return nil
}
