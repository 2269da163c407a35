package workloads

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/catalog"
	"github.com/faultline/faultline/models/history"
)

// This file holds an in-memory target for every new workload's client
// interface, correct or with one injected bug, and a miniature of the
// harness's run loop, so tests can prove that the histories the workloads
// write are what the real checkers in models/ read.

// fakeStore is one linearizable store shared by every fake client (a
// single mutex orders everything). bug names the defect to inject, "" for
// none; flaky makes some writes indeterminate (after applying them) or
// refused (without applying them), and some reads fail, as faults would.
type fakeStore struct {
	bug   string
	flaky bool

	mu       sync.Mutex
	n        int // ops served, to pick which ones misbehave
	sets     map[string][]int64
	counters map[string]int64
	accounts map[string]int64
	lists    map[string][]int64
	locks    map[string]*fakeClient
	token    int64
}

func newFakeStore(bug string, flaky bool) *fakeStore {
	return &fakeStore{bug: bug, flaky: flaky, sets: map[string][]int64{}, counters: map[string]int64{},
		lists: map[string][]int64{}, locks: map[string]*fakeClient{}}
}

var (
	errFakeTimeout = errors.New("fake: request timed out")
	errFakeRefused = Definite(errors.New("fake: refused, not applied"))
)

// step counts an op and says how it misbehaves when flaky: refused (not
// applied, definite) or lost reply (applied, indeterminate).
func (s *fakeStore) step() (refuse, timeout bool) {
	s.n++
	if !s.flaky {
		return false, false
	}
	return s.n%17 == 0, s.n%13 == 0
}

// every reports whether the bug hits this op (one in n).
func (s *fakeStore) every(bug string, n int) bool { return s.bug == bug && s.n%n == 0 }

type fakeClient struct{ s *fakeStore }

func (c *fakeClient) Close() error { return nil }

func (c *fakeClient) AddElement(_ context.Context, key string, elem int64) error {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	refuse, timeout := s.step()
	if refuse {
		return errFakeRefused
	}
	if !s.every("lose-add", 7) {
		s.sets[key] = append(s.sets[key], elem)
	}
	if timeout {
		return errFakeTimeout
	}
	return nil
}

func (c *fakeClient) ReadSet(_ context.Context, key string) ([]int64, error) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if refuse, timeout := s.step(); refuse || timeout {
		return nil, errFakeTimeout
	}
	return slices.Clone(s.sets[key]), nil
}

func (c *fakeClient) Increment(_ context.Context, key string, delta int64) error {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	refuse, timeout := s.step()
	if refuse {
		return errFakeRefused
	}
	if !s.every("lose-increment", 5) {
		s.counters[key] += delta
	}
	if timeout {
		return errFakeTimeout
	}
	return nil
}

func (c *fakeClient) ReadCounter(_ context.Context, key string) (int64, error) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if refuse, timeout := s.step(); refuse || timeout {
		return 0, errFakeTimeout
	}
	return s.counters[key], nil
}

func (c *fakeClient) CreateAccounts(_ context.Context, balances map[string]int64) error {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.accounts == nil {
		s.accounts = map[string]int64{}
		for a, b := range balances {
			s.accounts[a] = b
		}
	}
	return nil
}

func (c *fakeClient) Transfer(_ context.Context, from, to string, amount int64) error {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	refuse, timeout := s.step()
	if refuse {
		return errFakeRefused
	}
	if s.accounts[from] < amount {
		return Answer(fmt.Errorf("fake: account %s holds %d, cannot transfer %d", from, s.accounts[from], amount))
	}
	s.accounts[from] -= amount
	if !s.every("lose-credit", 5) {
		s.accounts[to] += amount
	}
	if timeout {
		return errFakeTimeout
	}
	return nil
}

func (c *fakeClient) ReadBalances(context.Context) (map[string]int64, error) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if refuse, timeout := s.step(); refuse || timeout {
		return nil, errFakeTimeout
	}
	out := map[string]int64{}
	for a, b := range s.accounts {
		out[a] = b
	}
	return out, nil
}

func (c *fakeClient) Transact(_ context.Context, ops []MicroOp) ([]MicroOp, error) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	refuse, timeout := s.step()
	if refuse {
		return nil, errFakeRefused
	}
	out := slices.Clone(ops)
	for i, m := range out {
		switch m.F {
		case MicroAppend:
			s.n++
			if !s.every("lose-append", 7) {
				s.lists[m.Key] = append(s.lists[m.Key], m.Value)
			}
		case MicroRead:
			out[i].Read = slices.Clone(s.lists[m.Key])
		}
	}
	if timeout {
		return nil, errFakeTimeout
	}
	return out, nil
}

func (c *fakeClient) Acquire(_ context.Context, name string, _ time.Duration) (int64, bool, error) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	refuse, timeout := s.step()
	if refuse || timeout {
		// An indeterminate acquire here never took the lock: a real lease
		// would lapse, this fake has no clock.
		return 0, false, errFakeTimeout
	}
	if h := s.locks[name]; h != nil && h != c && s.bug != "double-grant" {
		return 0, false, nil
	}
	s.locks[name] = c
	s.token++
	if s.bug == "stuck-token" {
		return 7, true, nil
	}
	return s.token, true, nil
}

func (c *fakeClient) Release(_ context.Context, name string) (bool, error) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	refuse, timeout := s.step()
	if refuse {
		return false, errFakeRefused
	}
	if s.locks[name] != c && s.bug != "double-grant" {
		return false, nil
	}
	delete(s.locks, name)
	if timeout {
		return false, errFakeTimeout
	}
	return true, nil
}

var (
	_ SetClient     = (*fakeClient)(nil)
	_ CounterClient = (*fakeClient)(nil)
	_ BankClient    = (*fakeClient)(nil)
	_ TxnClient     = (*fakeClient)(nil)
	_ LockClient    = (*fakeClient)(nil)
)

// simulate runs wl against the store as the harness does: Prepare, w
// workers with one op outstanding each on nodes n1..n3 (a new process
// after an info), then the final reads from every node. It returns the
// history as written to history.jsonl and read back, and as kept in memory.
func simulate(t *testing.T, wl Workload, s *fakeStore, workers, opsEach int) (fromJSON, inMemory []history.Op) {
	t.Helper()
	ctx := context.Background()
	nodes := []string{"n1", "n2", "n3"}
	var buf bytes.Buffer
	hw, err := history.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	start := time.Now()
	record := func(op history.Op) history.Op {
		mu.Lock()
		defer mu.Unlock()
		op.Time = time.Since(start).Nanoseconds()
		out, err := hw.Append(op)
		if err != nil {
			t.Errorf("append: %v", err)
		}
		return out
	}
	if p, ok := wl.(Preparer); ok {
		if err := p.Prepare(ctx, &fakeClient{s}); err != nil {
			t.Fatalf("prepare: %v", err)
		}
	}
	gen := wl.NewGenerator(Config{Concurrency: workers, Seed: 1})
	var wg sync.WaitGroup
	var maxProc history.Process
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &fakeClient{s}
			if err := wl.CheckClient(c); err != nil {
				t.Error(err)
				return
			}
			rng := rand.New(rand.NewPCG(1, uint64(w)))
			proc, node := history.Process(w), nodes[w%len(nodes)]
			for range opsEach {
				op := gen.Next(w, rng)
				op.Type, op.Process, op.Node = history.Invoke, proc, node
				inv := record(op)
				done := wl.Invoke(ctx, c, inv)
				done.Process, done.Node = proc, node
				done = record(done)
				gen.Complete(done)
				if done.Type == history.Info {
					proc += history.Process(workers)
				}
			}
			mu.Lock()
			maxProc = max(maxProc, proc)
			mu.Unlock()
		}()
	}
	wg.Wait()
	// Faults are healed before the final reads.
	s.mu.Lock()
	s.flaky = false
	s.mu.Unlock()
	for i, node := range nodes {
		c := &fakeClient{s}
		proc := maxProc + 1 + history.Process(i)
		for _, op := range gen.Final() {
			op.Process, op.Node = proc, node
			inv := record(op)
			done := wl.Invoke(ctx, c, inv)
			done.Process, done.Node = proc, node
			record(done)
			if done.Type == history.Info {
				proc += history.Process(len(nodes))
			}
		}
	}
	ops, err := history.Read(&buf)
	if err != nil {
		t.Fatalf("read history back: %v", err)
	}
	return ops, hw.Ops()
}

// check runs every checker wl names on ops.
func check(t *testing.T, wl Workload, ops []history.Op) []models.Result {
	t.Helper()
	var out []models.Result
	for _, name := range wl.Models() {
		e, err := catalog.Default().Lookup(name)
		if err != nil {
			t.Fatalf("workload %s names model %q: %v", wl.Name(), name, err)
		}
		out = append(out, e.New().Check(context.Background(), ops, models.Options{}))
	}
	return out
}

// workloadCase is one run of a workload against a fake store and what its
// checkers must say.
type workloadCase struct {
	name    string
	wl      Workload
	bug     string
	flaky   bool
	workers int
	ops     int
	// want is the verdict of every checker when caught is "", else of the
	// checker named by caught, which must report an anomaly of kind (any
	// kind when "").
	want   models.Verdict
	caught string
	kind   string
}

// runCases simulates each case and judges its history, both as read back
// from JSON and as kept in memory (the harness checks the latter).
func runCases(t *testing.T, cases []workloadCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fromJSON, inMem := simulate(t, tc.wl, newFakeStore(tc.bug, tc.flaky), tc.workers, tc.ops)
			for _, h := range []struct {
				name string
				ops  []history.Op
			}{{"json", fromJSON}, {"memory", inMem}} {
				res := check(t, tc.wl, h.ops)
				caught := false
				for _, r := range res {
					if tc.caught == "" {
						if r.Verdict != tc.want {
							t.Errorf("%s: %s says %s (%s), want %s; stats %v; anomalies %v",
								h.name, r.Checker, r.Verdict, r.Reason, tc.want, r.Stats, firstAnomalies(r))
						}
						continue
					}
					if r.Checker != tc.caught && r.Model != tc.caught {
						continue
					}
					caught = true
					if r.Verdict != tc.want {
						t.Errorf("%s: %s says %s (%s), want %s", h.name, r.Checker, r.Verdict, r.Reason, tc.want)
					}
					if !slices.ContainsFunc(r.Anomalies, func(a models.Anomaly) bool { return tc.kind == "" || a.Kind == tc.kind }) {
						t.Errorf("%s: %s found no %s anomaly; anomalies %v", h.name, r.Checker, tc.kind, firstAnomalies(r))
					}
				}
				if tc.caught != "" && !caught {
					t.Errorf("%s: no checker %q ran (models %v)", h.name, tc.caught, tc.wl.Models())
				}
			}
		})
	}
}

func firstAnomalies(r models.Result) []string {
	var out []string
	for i, a := range r.Anomalies {
		if i == 3 {
			break
		}
		out = append(out, a.Kind+": "+a.Explanation)
	}
	return out
}
