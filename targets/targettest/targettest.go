// Package targettest is the conformance kit for target authors: the checks
// every target must pass before its verdicts mean anything, as calls a
// target's own Go tests make. Static needs nothing; Classify checks an
// error classifier against a table plus the rules every target shares;
// Conformance starts the target in Docker and shows that its software
// builds, its cluster gets healthy, kill and restart, pause and resume
// really act on its process, and a short fault-free run comes out valid.
//
// A shipped target and a user's own (in their own module) use it alike:
//
//	func TestConformance(t *testing.T) {
//		targettest.Conformance(t, &mystore.Target{}, targettest.Options{})
//	}
package targettest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/harness"
	"github.com/faultline/faultline/harness/docker"
	"github.com/faultline/faultline/harness/docker/dockerenv"
	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/nuker"
	"github.com/faultline/faultline/targets"
	"github.com/faultline/faultline/workloads"
)

// Static checks what a target says about itself, without Docker: a name
// usable in the store, a version, software with a name, workloads and
// faults faultline knows, absolute log paths, and capabilities that agree
// with each other.
func Static(t testing.TB, tg targets.Target) {
	t.Helper()
	if tg.Name() == "" || strings.ContainsAny(tg.Name(), "/ \t\n") {
		t.Errorf("name %q: want a non-empty name without slashes or spaces", tg.Name())
	}
	if tg.Version() == "" {
		t.Errorf("%s: empty version", tg.Name())
	}
	sw, err := tg.Software()
	if err != nil {
		t.Errorf("%s: software: %v", tg.Name(), err)
	} else if sw.Name == "" {
		t.Errorf("%s: software has no name (images are tagged faultline/<name>)", tg.Name())
	}
	if len(tg.Workloads()) == 0 {
		t.Errorf("%s serves no workload", tg.Name())
	}
	known := workloads.Default()
	for _, w := range tg.Workloads() {
		if _, err := known.Lookup(w); err != nil {
			t.Errorf("%s: workload: %v", tg.Name(), err)
		}
	}
	for _, f := range tg.LogFiles() {
		if !path.IsAbs(f) {
			t.Errorf("%s: log file %q is not an absolute path on the node", tg.Name(), f)
		}
	}
	faults := targets.SupportedFaults(tg)
	if fl, ok := tg.(targets.FaultLimiter); ok {
		for _, f := range fl.Faults() {
			if !slices.Contains(faults, f) {
				t.Errorf("%s: fault %q is not one faultline knows (or one whose nuker interface it lacks)", tg.Name(), f)
			}
		}
	}
	if _, ok := tg.(nuker.Failoverer); ok {
		if _, ok := tg.(nuker.PrimaryLister); !ok {
			t.Errorf("%s can fail over but names no primaries (nuker.PrimaryLister): the report could not show the change", tg.Name())
		}
	}
}

// Class is how an error classifies an operation.
type Class string

// The three classes of a failed operation (workloads package rules).
const (
	// Indeterminate: the op may have taken effect (recorded as info).
	Indeterminate Class = "indeterminate"
	// Definite: the op certainly did not take effect (fail).
	Definite Class = "definite"
	// Answered: the system said no (a failed comparison, a lock held):
	// definite, and counted as served.
	Answered Class = "answered"
)

// ClassOf returns err's class under the workloads package's markers.
func ClassOf(err error) Class {
	switch {
	case workloads.IsAnswered(err):
		return Answered
	case workloads.IsDefinite(err):
		return Definite
	}
	return Indeterminate
}

// ClassCase is one error and the class a classifier must give it (Want
// Definite is also met by Answered).
type ClassCase struct {
	Name string
	Err  error
	Want Class
}

// Classify checks classify against cases, plus the rules every target
// shares: a timed-out or cancelled op (even wrapped) is indeterminate,
// since the server may have applied it (calling those definite makes the
// checker raise false alarms, as in Jepsen issue #596); the cause is kept
// for errors.Is; nil stays nil.
func Classify(t testing.TB, classify func(error) error, cases []ClassCase) {
	t.Helper()
	all := append([]ClassCase{
		{"deadline", context.DeadlineExceeded, Indeterminate},
		{"wrapped deadline", fmt.Errorf("write: %w", context.DeadlineExceeded), Indeterminate},
		{"canceled", context.Canceled, Indeterminate},
	}, cases...)
	for _, c := range all {
		err := classify(c.Err)
		// An answer is a definite failure too: Definite accepts it.
		if got := ClassOf(err); got != c.Want && !(c.Want == Definite && got == Answered) {
			t.Errorf("%s (%v): %s, want %s", c.Name, c.Err, got, c.Want)
		}
		if !errors.Is(err, c.Err) {
			t.Errorf("%s: the classified error lost its cause", c.Name)
		}
	}
	if classify(nil) != nil {
		t.Error("classify(nil) != nil")
	}
}

// Options tunes Conformance; zero fields take the defaults.
type Options struct {
	// Workload drives the checks (default: the first the target serves).
	Workload workloads.Workload
	// Nodes is the cluster size (default 3).
	Nodes int
	// FaultNode is the node killed and paused (default n1). Its clients
	// must depend on it (with a client that routes to a primary elsewhere,
	// pick the primary).
	FaultNode string
	// RunTime is the length of the fault-free run (default 8 s), and Rate
	// its total ops/s limit (0 = none).
	RunTime time.Duration
	Rate    float64
	// HealthyWithin bounds Setup and each recovery (default 2 min).
	HealthyWithin time.Duration
	// Runtime is where nodes live (default Docker).
	Runtime node.Runtime
}

func (o *Options) fill(t *testing.T, tg targets.Target) {
	t.Helper()
	if o.Workload == nil {
		if len(tg.Workloads()) == 0 {
			t.Fatalf("%s serves no workload", tg.Name())
		}
		wl, err := workloads.Default().Lookup(tg.Workloads()[0])
		if err != nil {
			t.Fatal(err)
		}
		o.Workload = wl
	}
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.FaultNode == "" {
		o.FaultNode = "n1"
	}
	if o.RunTime == 0 {
		o.RunTime = 8 * time.Second
	}
	if o.HealthyWithin == 0 {
		o.HealthyWithin = 2 * time.Minute
	}
}

// Conformance starts tg in Docker and checks, as subtests, that its
// software installs, its cluster gets healthy, Kill really stops its
// process (a client of that node gets no answer) and Start brings it
// back, Pause and Resume likewise, and that a short run without faults
// comes out valid. It skips without Docker (fails under CI=true) and with
// -short outside CI.
func Conformance(t *testing.T, tg targets.Target, opt Options) {
	t.Helper()
	Static(t, tg)
	if t.Failed() {
		return
	}
	opt.fill(t, tg)
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Minute)
	defer cancel()
	rt := opt.Runtime
	if rt == nil {
		dockerenv.NeedDocker(t)
		if testenv.Short() {
			t.Skipf("SKIPPING conformance of %s with -short: it starts a %d-node cluster", tg.Name(), opt.Nodes)
		}
		drt, err := docker.NewRuntime(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer drt.Close()
		rt = drt
	}
	logf := func(format string, args ...any) { t.Logf(format, args...) }

	var inst node.Installation
	if !t.Run("software installs", func(t *testing.T) {
		sw, err := tg.Software()
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		if inst, err = rt.Install(ctx, sw, logf); err != nil {
			t.Fatal(err)
		}
		t.Logf("installed %s in %s", inst.Ref, time.Since(t0).Round(100*time.Millisecond))
	}) {
		return
	}

	runID := fmt.Sprintf("conformance-%s-%06x-%d", tg.Name(), rand.Uint32()&0xffffff, os.Getpid())
	cluster, err := rt.StartCluster(ctx, runID, inst, opt.Nodes)
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	defer func() {
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer ccancel()
		if c, ok := tg.(io.Closer); ok {
			c.Close()
		}
		if err := cluster.Remove(cctx); err != nil {
			t.Errorf("remove cluster: %v", err)
		}
	}()
	nodes := cluster.Nodes()
	i := slices.IndexFunc(nodes, func(n node.Node) bool { return n.Name() == opt.FaultNode })
	if i < 0 {
		t.Fatalf("no node %s in the cluster", opt.FaultNode)
	}
	victim := nodes[i]
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	if !t.Run("cluster gets healthy", func(t *testing.T) {
		sctx, scancel := context.WithTimeout(ctx, opt.HealthyWithin)
		defer scancel()
		t0 := time.Now()
		if err := tg.Setup(sctx, nodes, log); err != nil {
			t.Fatalf("setup: %v", err)
		}
		if err := tg.WaitHealthy(sctx, opt.HealthyWithin); err != nil {
			t.Fatalf("not healthy after setup: %v", err)
		}
		t.Logf("%d nodes healthy in %s", len(nodes), time.Since(t0).Round(100*time.Millisecond))
		if err := serves(ctx, tg, opt.Workload, victim, opt.HealthyWithin); err != nil {
			t.Fatalf("a client of %s is not served: %v", victim.Name(), err)
		}
	}) {
		return
	}

	for _, f := range []struct {
		name        string
		stop, start func(context.Context, node.Node) error
	}{
		{"kill and restart", tg.Kill, tg.Start},
		{"pause and resume", tg.Pause, tg.Resume},
	} {
		t.Run(f.name, func(t *testing.T) {
			if err := f.stop(ctx, victim); err != nil {
				t.Fatalf("%s: %v", victim.Name(), err)
			}
			stopped := unserved(ctx, tg, opt.Workload, victim)
			if err := f.start(ctx, victim); err != nil {
				t.Fatalf("%s: %v", victim.Name(), err)
			}
			if stopped != nil {
				t.Errorf("%s still served while stopped: %v", victim.Name(), stopped)
			}
			t0 := time.Now()
			if err := tg.WaitHealthy(ctx, opt.HealthyWithin); err != nil {
				t.Fatalf("not healthy again: %v", err)
			}
			if err := serves(ctx, tg, opt.Workload, victim, opt.HealthyWithin); err != nil {
				t.Fatalf("%s not served again: %v", victim.Name(), err)
			}
			t.Logf("%s served again %s after coming back", victim.Name(), time.Since(t0).Round(100*time.Millisecond))
		})
	}

	t.Run("fault-free run is valid", func(t *testing.T) {
		spec := harness.DefaultSpec()
		spec.Test = "conformance-" + tg.Name()
		spec.Store = t.TempDir()
		spec.Nodes, spec.Concurrency = opt.Nodes, 2*opt.Nodes
		spec.Nemesis = nil
		spec.TimeLimit = harness.Duration(opt.RunTime)
		spec.RecoveryWait = harness.Duration(time.Second)
		spec.Seed = 1
		spec.Rate = opt.Rate
		out, err := harness.RunTest(ctx, harness.Test{Spec: spec, Target: tg, Workload: opt.Workload},
			harness.Options{Runtime: rt, Progress: func(format string, args ...any) { t.Logf(format, args...) }})
		if err != nil {
			t.Fatal(err)
		}
		res := out.Results
		if res.Verdict != models.Valid {
			t.Errorf("fault-free run: %s (%s), want valid; report %s", res.Verdict, res.Reason, out.Dir)
		}
		if res.Stats.Ops < 20 {
			t.Errorf("fault-free run: only %d ops in %s", res.Stats.Ops, opt.RunTime)
		}
	})
}

// probe runs up to four ops of wl through a fresh client of n and returns
// the first that completes ok, else the last completion (or the error
// opening the client). Several ops, since a workload's first op may be
// one the system rightly refuses (a compare-and-set on a missing key).
func probe(ctx context.Context, tg targets.Target, wl workloads.Workload, n node.Node, timeout time.Duration) (history.Op, error) {
	octx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := tg.NewClient(octx, n)
	if err != nil {
		return history.Op{}, err
	}
	defer c.Close()
	gen := wl.NewGenerator(workloads.Config{Concurrency: 1, Seed: 1})
	rng := rand.New(rand.NewPCG(1, 2))
	var done history.Op
	for range 4 {
		op := gen.Next(0, rng)
		op.Type, op.Node = history.Invoke, n.Name()
		done = wl.Invoke(octx, c, op)
		gen.Complete(done)
		if done.Type == history.OK || octx.Err() != nil {
			break
		}
	}
	return done, nil
}

// serves waits until an op through n completes ok.
func serves(ctx context.Context, tg targets.Target, wl workloads.Workload, n node.Node, within time.Duration) error {
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		done, err := probe(ctx, tg, wl, n, 5*time.Second)
		switch {
		case err != nil:
			last = err
		case done.Type == history.OK:
			return nil
		default:
			last = fmt.Errorf("%s %s: %s", done.F, done.Type, done.Error)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return last
}

// unserved returns nil when no op through n completes ok within a few
// seconds (its process is stopped), else a description of the op.
func unserved(ctx context.Context, tg targets.Target, wl workloads.Workload, n node.Node) error {
	done, err := probe(ctx, tg, wl, n, 3*time.Second)
	if err != nil || done.Type != history.OK {
		return nil
	}
	return fmt.Errorf("%s answered %s (value %v)", done.F, done.Type, done.Value)
}

// ServesWorkloads checks that client c implements the client interface of
// every named workload (a protocol's DialWorkloads), without a network:
// a zero client value is enough.
func ServesWorkloads(t testing.TB, c workloads.Client, names []string) {
	t.Helper()
	have := workloads.Default()
	for _, w := range names {
		wl, err := have.Lookup(w)
		if err != nil {
			t.Errorf("workload %s: %v", w, err)
			continue
		}
		if err := wl.CheckClient(c); err != nil {
			t.Errorf("%s: %v", w, err)
		}
	}
}
