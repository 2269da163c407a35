package targettest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/targets"
	"github.com/faultline/faultline/workloads"
)

// fakeRuntime starts fake nodes that do nothing.
type fakeRuntime struct{}

func (fakeRuntime) CheckHost(context.Context, node.Needs, node.Progress) error { return nil }
func (fakeRuntime) Install(_ context.Context, sw node.Software, _ node.Progress) (node.Installation, error) {
	return node.Installation{Ref: "fake/" + sw.Name, Software: sw}, nil
}
func (fakeRuntime) Preflight(context.Context, string, node.Installation, node.Needs, node.Progress) error {
	return nil
}
func (fakeRuntime) StartCluster(_ context.Context, _ string, _ node.Installation, n int) (node.RunningCluster, error) {
	c := &fakeCluster{}
	for i := range n {
		c.nodes = append(c.nodes, fakeNode{name: fmt.Sprintf("n%d", i+1)})
	}
	return c, nil
}

type fakeCluster struct{ nodes []node.Node }

func (c *fakeCluster) Nodes() []node.Node           { return c.nodes }
func (c *fakeCluster) Describe() string             { return "fake" }
func (c *fakeCluster) Remove(context.Context) error { return nil }

type fakeNode struct{ name string }

func (n fakeNode) Name() string     { return n.name }
func (n fakeNode) Addr() netip.Addr { return netip.MustParseAddr("10.0.0.1") }
func (n fakeNode) Exec(context.Context, ...string) (node.ExecResult, error) {
	return node.ExecResult{}, nil
}
func (n fakeNode) ExecDetached(context.Context, ...string) error          { return nil }
func (n fakeNode) WriteFile(context.Context, string, []byte, int64) error { return nil }
func (n fakeNode) CopyOut(context.Context, string, string) error          { return nil }

// store is an in-memory register service whose per-node "process" can be
// stopped; broken names the step it gets wrong.
type store struct {
	broken string // "kill": Kill leaves the process up; "stale": reads lag
	mu     sync.Mutex
	down   map[string]bool
	vals   map[string][]int64
}

var _ targets.Target = (*store)(nil)

func (s *store) Name() string                                     { return "store" }
func (s *store) Version() string                                  { return "1" }
func (s *store) Settings() map[string]string                      { return nil }
func (s *store) Software() (node.Software, error)                 { return node.Software{Name: "store"}, nil }
func (s *store) Workloads() []string                              { return []string{"register"} }
func (s *store) LogFiles() []string                               { return nil }
func (s *store) WaitHealthy(context.Context, time.Duration) error { return nil }
func (s *store) Setup(context.Context, []node.Node, *slog.Logger) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down, s.vals = map[string]bool{}, map[string][]int64{}
	return nil
}
func (s *store) set(n node.Node, down bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down[n.Name()] = down
	return nil
}
func (s *store) Kill(_ context.Context, n node.Node) error {
	if s.broken == "kill" {
		return nil
	}
	return s.set(n, true)
}
func (s *store) Start(_ context.Context, n node.Node) error  { return s.set(n, false) }
func (s *store) Pause(_ context.Context, n node.Node) error  { return s.set(n, true) }
func (s *store) Resume(_ context.Context, n node.Node) error { return s.set(n, false) }
func (s *store) NewClient(_ context.Context, n node.Node) (workloads.Client, error) {
	return &client{s: s, n: n.Name()}, nil
}

type client struct {
	s *store
	n string
}

var _ workloads.RegisterClient = (*client)(nil)

func (c *client) Close() error { return nil }
func (c *client) up() error {
	if c.s.down[c.n] {
		return workloads.Definite(errors.New("connection refused"))
	}
	return nil
}
func (c *client) Read(_ context.Context, key string) (int64, bool, error) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if err := c.up(); err != nil {
		return 0, false, err
	}
	vs := c.s.vals[key]
	switch {
	case len(vs) == 0:
		return 0, false, nil
	case c.s.broken == "stale" && len(vs) > 1:
		return vs[0], true, nil
	}
	return vs[len(vs)-1], true, nil
}
func (c *client) Write(_ context.Context, key string, v int64) error {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if err := c.up(); err != nil {
		return err
	}
	c.s.vals[key] = append(c.s.vals[key], v)
	return nil
}
func (c *client) CAS(_ context.Context, key string, old, v int64) (bool, error) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if err := c.up(); err != nil {
		return false, err
	}
	vs := c.s.vals[key]
	if len(vs) == 0 || vs[len(vs)-1] != old {
		return false, nil
	}
	c.s.vals[key] = append(vs, v)
	return true, nil
}

const brokenEnv = "TARGETTEST_BROKEN"

// TestConformanceFake runs the kit on a fake store; with TARGETTEST_BROKEN
// set (by TestConformanceFindsBrokenTargets) the store is broken that way.
func TestConformanceFake(t *testing.T) {
	Conformance(t, &store{broken: os.Getenv(brokenEnv)}, Options{Runtime: fakeRuntime{}, RunTime: 2 * time.Second, Rate: 300})
}

// TestConformanceFindsBrokenTargets: the kit must fail a target whose
// Kill does nothing and one whose reads are stale, naming the problem.
func TestConformanceFindsBrokenTargets(t *testing.T) {
	if os.Getenv(brokenEnv) != "" {
		t.Skip("inside a child")
	}
	for _, tc := range []struct{ broken, want string }{
		{"kill", "n1 still served while stopped"},
		{"stale", "fault-free run: invalid"},
	} {
		t.Run(tc.broken, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run", "^TestConformanceFake$", "-test.v")
			cmd.Env = append(os.Environ(), brokenEnv+"="+tc.broken)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the kit passed a target broken by %s:\n%s", tc.broken, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("failure does not say %q:\n%s", tc.want, out)
			}
		})
	}
}

// tb records errors instead of failing.
type tb struct {
	testing.TB
	errs []string
}

func (r *tb) Helper()                        {}
func (r *tb) Errorf(format string, a ...any) { r.errs = append(r.errs, fmt.Sprintf(format, a...)) }

func TestClassifyRules(t *testing.T) {
	refused := errors.New("connection refused")
	good := func(err error) error {
		if errors.Is(err, refused) {
			return workloads.Definite(err)
		}
		return err
	}
	for _, tc := range []struct {
		name     string
		classify func(error) error
		want     string // "" = no complaint
	}{
		{"honest", good, ""},
		{"a timeout called definite", func(err error) error { return workloads.Definite(err) }, "deadline"},
		{"the cause dropped", func(err error) error {
			if err == nil {
				return nil
			}
			return errors.New("failed")
		}, "lost its cause"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &tb{TB: t}
			Classify(r, tc.classify, []ClassCase{{"refused", refused, Definite}})
			got := strings.Join(r.errs, "\n")
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Errorf("complaints %q, want %q", got, tc.want)
			}
		})
	}
}
