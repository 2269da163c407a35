package harness

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/models/netstats"
	"github.com/faultline/faultline/nuker"
	"github.com/faultline/faultline/targets"
	"github.com/faultline/faultline/workloads"
)

// events records what the fake runtime and target were asked to do, in
// order.
type events struct {
	mu  sync.Mutex
	log []string
}

func (e *events) add(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.log = append(e.log, s)
}

func (e *events) all() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.log)
}

// fakeRuntime starts fake nodes that only record commands.
type fakeRuntime struct {
	ev       *events
	failStep string // "install", "preflight" or "cluster" fails
}

var _ node.Runtime = (*fakeRuntime)(nil)

func (r *fakeRuntime) fail(step string) error {
	r.ev.add(step)
	if r.failStep == step {
		return fmt.Errorf("fake %s failed", step)
	}
	return nil
}

func (r *fakeRuntime) CheckHost(context.Context, node.Needs, node.Progress) error {
	return r.fail("check-host")
}

func (r *fakeRuntime) Install(_ context.Context, sw node.Software, _ node.Progress) (node.Installation, error) {
	return node.Installation{Ref: "fake/" + sw.Name, Software: sw}, r.fail("install")
}

func (r *fakeRuntime) Preflight(context.Context, string, node.Installation, node.Needs, node.Progress) error {
	return r.fail("preflight")
}

func (r *fakeRuntime) StartCluster(_ context.Context, _ string, _ node.Installation, n int) (node.RunningCluster, error) {
	if err := r.fail("cluster"); err != nil {
		return nil, err
	}
	c := &fakeCluster{ev: r.ev}
	for i := range n {
		c.nodes = append(c.nodes, &fakeNode{name: fmt.Sprintf("n%d", i+1), addr: netip.AddrFrom4([4]byte{10, 0, 0, byte(11 + i)}), ev: r.ev})
	}
	return c, nil
}

type fakeCluster struct {
	ev    *events
	nodes []node.Node
}

func (c *fakeCluster) Nodes() []node.Node { return c.nodes }
func (c *fakeCluster) Describe() string   { return fmt.Sprintf("%d fake nodes", len(c.nodes)) }
func (c *fakeCluster) Remove(ctx context.Context) error {
	if ctx.Err() != nil {
		return ctx.Err() // teardown must get a context Ctrl-C did not cancel
	}
	c.ev.add("remove")
	return nil
}

type fakeNode struct {
	name string
	addr netip.Addr
	ev   *events
}

func (n *fakeNode) Name() string     { return n.name }
func (n *fakeNode) Addr() netip.Addr { return n.addr }
func (n *fakeNode) Exec(_ context.Context, argv ...string) (node.ExecResult, error) {
	n.ev.add(n.name + ": exec " + strings.Join(argv, " "))
	if argv[0] == "tail" {
		return node.ExecResult{Stdout: []byte("starting\nModuleNotFoundError: No module named 'json'\n")}, nil
	}
	return node.ExecResult{}, nil
}
func (n *fakeNode) ExecDetached(context.Context, ...string) error { return nil }
func (n *fakeNode) WriteFile(context.Context, string, []byte, int64) error {
	return nil
}
func (n *fakeNode) CopyOut(_ context.Context, src, dst string) error {
	n.ev.add(n.name + ": logs " + src)
	return nil
}

// fakeTarget is an in-memory register store: one copy, so linearizable,
// unless stale, when reads sometimes return an older value.
type fakeTarget struct {
	ev        *events
	stale     bool
	failSetup bool
	mu        sync.Mutex
	vals      map[string][]int64 // every value written, per key
}

var _ targets.Target = (*fakeTarget)(nil)

func (t *fakeTarget) Name() string                                     { return "fake" }
func (t *fakeTarget) Version() string                                  { return "1" }
func (t *fakeTarget) Settings() map[string]string                      { return nil }
func (t *fakeTarget) Software() (node.Software, error)                 { return node.Software{Name: "fake"}, nil }
func (t *fakeTarget) Workloads() []string                              { return []string{"register"} }
func (t *fakeTarget) LogFiles() []string                               { return []string{"/var/log/fake.log"} }
func (t *fakeTarget) WaitHealthy(context.Context, time.Duration) error { return nil }
func (t *fakeTarget) Setup(_ context.Context, nodes []node.Node, _ *slog.Logger) error {
	t.ev.add(fmt.Sprintf("setup %d", len(nodes)))
	if t.failSetup {
		return errors.New("will not start")
	}
	t.vals = map[string][]int64{}
	return nil
}
func (t *fakeTarget) Start(_ context.Context, n node.Node) error {
	t.ev.add("start " + n.Name())
	return nil
}
func (t *fakeTarget) Kill(_ context.Context, n node.Node) error {
	t.ev.add("kill " + n.Name())
	return nil
}
func (t *fakeTarget) Pause(_ context.Context, n node.Node) error {
	t.ev.add("pause " + n.Name())
	return nil
}
func (t *fakeTarget) Resume(_ context.Context, n node.Node) error {
	t.ev.add("resume " + n.Name())
	return nil
}
func (t *fakeTarget) NewClient(context.Context, node.Node) (workloads.Client, error) {
	return &fakeClient{t: t}, nil
}

type fakeClient struct{ t *fakeTarget }

var _ workloads.RegisterClient = (*fakeClient)(nil)

func (c *fakeClient) Close() error { return nil }
func (c *fakeClient) Read(_ context.Context, key string) (int64, bool, error) {
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	vs := c.t.vals[key]
	if len(vs) == 0 {
		return 0, false, nil
	}
	if c.t.stale && len(vs) > 2 && rand.IntN(3) == 0 {
		return vs[len(vs)-3], true, nil
	}
	return vs[len(vs)-1], true, nil
}
func (c *fakeClient) Write(_ context.Context, key string, v int64) error {
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	c.t.vals[key] = append(c.t.vals[key], v)
	return nil
}
func (c *fakeClient) CAS(_ context.Context, key string, old, v int64) (bool, error) {
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	vs := c.t.vals[key]
	if len(vs) == 0 || vs[len(vs)-1] != old {
		return false, nil
	}
	c.t.vals[key] = append(vs, v)
	return true, nil
}

// TestLifecycleFakeRuntime runs whole tests through RunTest against a fake
// runtime: the steps happen in order, teardown and heal always run, and
// the history is really checked (a stale store comes out invalid).
func TestLifecycleFakeRuntime(t *testing.T) {
	for _, tc := range []struct {
		name      string
		failStep  string
		failSetup bool
		stale     bool
		cancelAt  time.Duration
		leave     bool // Options.LeaveRunning
		want      models.Verdict
		wantErr   string
		steps     []string // in this order, among the events
		absent    []string
	}{
		{name: "valid", want: models.Valid,
			steps: []string{"check-host", "install", "cluster", "setup 3", "kill", "start", "n1: logs /var/log/fake.log", "remove"}},
		{name: "stale reads are found", stale: true, want: models.Invalid,
			steps: []string{"install", "cluster", "setup 3", "remove"}},
		{name: "setup fails: teardown still runs, the logs' ends are in the error", failSetup: true,
			wantErr: "will not start\nthe end of the nodes' logs:\n  n1, n2, n3 /var/log/fake.log:\n    starting\n    ModuleNotFoundError",
			steps:   []string{"cluster", "setup 3", "n3: logs /var/log/fake.log", "remove"}, absent: []string{"kill"}},
		{name: "install fails: no cluster", failStep: "install", wantErr: "fake install failed",
			steps: []string{"install"}, absent: []string{"cluster", "remove"}},
		{name: "interrupted: healed and removed", cancelAt: 700 * time.Millisecond, wantErr: "interrupted",
			steps: []string{"setup 3", "remove"}},
		{name: "left running: healed, logs copied, not removed", leave: true, want: models.Valid,
			steps: []string{"setup 3", "kill", "start", "n1: logs /var/log/fake.log"}, absent: []string{"remove"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := &events{}
			target := &fakeTarget{ev: ev, stale: tc.stale, failSetup: tc.failSetup}
			spec := DefaultSpec()
			spec.Test = "fake"
			spec.Store = t.TempDir()
			spec.Nodes, spec.Concurrency = 3, 4
			spec.Nemesis = []string{nuker.FaultKill}
			spec.NemesisInterval = Duration(200 * time.Millisecond)
			spec.TimeLimit = Duration(1500 * time.Millisecond)
			spec.RecoveryWait = 0
			spec.Seed = 3
			spec.Rate = 400 // a fake store answers at memory speed; keep the history small
			ctx := context.Background()
			if tc.cancelAt > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				time.AfterFunc(tc.cancelAt, cancel)
				defer cancel()
			}
			out, err := RunTest(ctx, Test{Spec: spec, Target: target, Workload: workloads.Register{}},
				Options{Runtime: &fakeRuntime{ev: ev, failStep: tc.failStep}, LeaveRunning: tc.leave})
			got := ev.all()
			if tc.wantErr == "" && err != nil {
				t.Fatalf("RunTest: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("RunTest error %v, want %q", err, tc.wantErr)
			}
			// Steps appear in order (each after the previous one).
			at := 0
			for _, s := range tc.steps {
				i := slices.IndexFunc(got[at:], func(e string) bool { return strings.HasPrefix(e, s) })
				if i < 0 {
					t.Fatalf("step %q missing after event %d: events %q", s, at, got)
				}
				at += i + 1
			}
			for _, s := range tc.absent {
				if slices.ContainsFunc(got, func(e string) bool { return strings.HasPrefix(e, s) }) {
					t.Errorf("event %q happened: %q", s, got)
				}
			}
			// A kill is always followed by a restart of that node.
			for i, e := range got {
				if n, ok := strings.CutPrefix(e, "kill "); ok && !slices.Contains(got[i:], "start "+n) {
					t.Errorf("%s killed and never restarted: %q", n, got)
				}
			}
			if out == nil {
				return
			}
			if out.Results.Verdict != tc.want && tc.want != "" {
				t.Errorf("verdict %s (%s), want %s", out.Results.Verdict, out.Results.Reason, tc.want)
			}
			ops, info, err := history.ReadFileInfoContext(context.Background(), filepath.Join(out.Dir, HistoryFile))
			if err != nil {
				t.Fatal(err)
			}
			if info.End == nil {
				t.Errorf("history has no end record")
			}
			if tc.want == models.Valid && len(ops) < 100 {
				t.Errorf("only %d ops recorded", len(ops))
			}
			if _, err := os.Stat(filepath.Join(out.Dir, ResultsFile)); err != nil {
				t.Errorf("no results.json: %v", err)
			}
		})
	}
}

func TestDefaultTestNameOfTargetFile(t *testing.T) {
	for _, tc := range []struct{ target, want string }{
		{"etcd", "etcd-register"},
		{"./mystore.yaml", "mystore-register"},
		{"/abs/dir/kv.yml", "kv-register"},
	} {
		s := DefaultSpec()
		s.Target, s.Workload, s.Nemesis = tc.target, "register", nil
		if err := s.Validate(); err != nil {
			t.Fatalf("%s: %v", tc.target, err)
		}
		if s.Test != tc.want {
			t.Errorf("%s: test name %q, want %q", tc.target, s.Test, tc.want)
		}
	}
}

// crashingTarget is a fake store whose "node program" exits by itself
// 400 ms into the run phase, as a targets.CrashWatcher says; it also
// counts messages, as a targets.MessageCounter.
type crashingTarget struct {
	*fakeTarget
	crashAt time.Time
}

func (t *crashingTarget) Setup(ctx context.Context, nodes []node.Node, log *slog.Logger) error {
	t.crashAt = time.Now().Add(400 * time.Millisecond)
	return t.fakeTarget.Setup(ctx, nodes, log)
}

func (t *crashingTarget) Crashed() error {
	if time.Now().After(t.crashAt) {
		return errors.New("node n2: node program exited: exit status 2")
	}
	return nil
}

func (t *crashingTarget) Messages(context.Context) (netstats.File, error) {
	return netstats.File{Samples: []netstats.Sample{{At: t.crashAt, Node: "n1", NodeSent: 30, NodeDelivered: 29}}}, nil
}

// TestLifecycleCrashStopsRun checks that a crash a target reports stops
// the run phase at once, ends the run as could-not-run with that line,
// keeps the history and the cluster is still removed; and that a target's
// message counts reach network.json and results.json.
func TestLifecycleCrashStopsRun(t *testing.T) {
	ev := &events{}
	target := &crashingTarget{fakeTarget: &fakeTarget{ev: ev}}
	spec := DefaultSpec()
	spec.Test = "crash"
	spec.Store = t.TempDir()
	spec.Nodes, spec.Concurrency = 3, 2
	spec.TimeLimit = Duration(20 * time.Second)
	spec.RecoveryWait = 0
	spec.Rate = 200
	t0 := time.Now()
	out, err := RunTest(context.Background(), Test{Spec: spec, Target: target, Workload: workloads.Register{}},
		Options{Runtime: &fakeRuntime{ev: ev}})
	if took := time.Since(t0); took > 5*time.Second {
		t.Errorf("the run went on for %s after the crash", took.Round(time.Millisecond))
	}
	if err == nil || !errors.Is(err, ErrHarness) || !strings.Contains(err.Error(), "crashed: node n2: node program exited: exit status 2") {
		t.Fatalf("RunTest error %v, want a harness error naming the crash", err)
	}
	if !slices.Contains(ev.all(), "remove") {
		t.Errorf("cluster not removed: %q", ev.all())
	}
	if out == nil || out.Results.Stats.Ops == 0 {
		t.Fatalf("the history before the crash was not kept: %+v", out)
	}
	if out.Results.Verdict != models.Unknown {
		t.Errorf("verdict %s, want unknown", out.Results.Verdict)
	}
	n := out.Results.Network
	if n == nil || n.NodeSent != 30 || n.NodeDelivered != 29 || len(n.ByNode) != 1 {
		t.Errorf("network summary %+v, want the target's one sample", n)
	}
	if _, err := os.Stat(filepath.Join(out.Dir, NetworkFile)); err != nil {
		t.Errorf("no network.json: %v", err)
	}
}
