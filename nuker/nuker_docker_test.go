package nuker

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/harness/docker/dockerenv"
	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/models/history"
)

// daemonTarget is a Target over a node.Daemon, as a target package would
// write it.
type daemonTarget struct{ d node.Daemon }

func (t daemonTarget) Kill(ctx context.Context, n node.Node) error { return t.d.Kill(ctx, n) }

func (t daemonTarget) Start(ctx context.Context, n node.Node) error {
	if ok, err := t.d.Running(ctx, n); err != nil || ok {
		return err
	}
	return t.d.Start(ctx, n)
}

func (t daemonTarget) Pause(ctx context.Context, n node.Node) error {
	return t.d.Signal(ctx, n, "STOP")
}

func (t daemonTarget) Resume(ctx context.Context, n node.Node) error {
	return t.d.Signal(ctx, n, "CONT")
}

// procState is the daemon's /proc state letter (S, R, T, ...), or "gone".
func procState(ctx context.Context, n node.Node, d node.Daemon) (string, error) {
	res, err := n.Exec(ctx, "sh", "-c", fmt.Sprintf(`p=$(cat %s 2>/dev/null) && awk '{print $3}' /proc/$p/stat 2>/dev/null || echo gone`, d.PidFile()))
	return strings.TrimSpace(string(res.Stdout)), err
}

// TestNukerDocker runs the whole schedule against real containers with a
// stand-in database process, checks each fault's effect while it is in
// effect, and that everything is healed when the run is cancelled.
func TestNukerDocker(t *testing.T) {
	cli := dockerenv.NeedDocker(t)
	if testenv.Short() {
		t.Skip("-short: TestPartitionDocker covers partitions; this longer run is skipped")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cn := startCluster(ctx, t, cli, 3)
	nodes := make([]node.Node, len(cn))
	byName := map[string]*containerNode{}
	for i, n := range cn {
		nodes[i] = n
		byName[n.name] = n
	}
	db := node.Daemon{Name: "db", Argv: []string{"sleep", "infinity"}}
	for _, n := range nodes {
		if err := db.Start(ctx, n); err != nil {
			t.Fatal(err)
		}
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var (
		mu      sync.Mutex
		ops     []history.Op
		started = map[string]int{}
	)
	checkEffect := func(op history.Op) {
		kind := strings.TrimPrefix(op.F, history.StartPrefix)
		for _, name := range op.Nodes {
			st, err := procState(ctx, byName[name], db)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			switch {
			case kind == FaultKill && st != "gone":
				t.Errorf("%s killed but db state %s", name, st)
			case kind == FaultPause && st != "T":
				t.Errorf("%s paused but db state %s", name, st)
			}
		}
		if kind == FaultPartition {
			g := op.Value.(Grudge)
			checkReach(ctx, t, "nuker "+fmt.Sprint(g), cn, func(a, b string) bool { return connected(g, a, b) })
		}
	}
	k, err := New(Config{
		Faults:   []string{FaultPartition, FaultKill, FaultPause},
		Interval: 200 * time.Millisecond,
		Seed:     5,
		Nodes:    nodes,
		Target:   daemonTarget{db},
		Logger:   testLogger(t),
		Record: func(op history.Op) history.Op {
			mu.Lock()
			op.Index = int64(len(ops))
			ops = append(ops, op)
			mu.Unlock()
			t.Logf("op %d %s %s nodes=%v value=%v error=%q", op.Index, op.Type, op.F, op.Nodes, op.Value, op.Error)
			if op.Type == history.Info && strings.HasPrefix(op.F, history.StartPrefix) {
				if op.Error != "" {
					t.Errorf("%s failed: %s", op.F, op.Error)
				}
				checkEffect(op)
				mu.Lock()
				started[op.F]++
				all := len(started) == 3
				mu.Unlock()
				if all {
					stop() // every kind seen in effect: end the run mid-fault
				}
			}
			return op
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Run(runCtx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(started) != 3 {
		t.Fatalf("faults seen: %v", started)
	}
	for _, w := range history.FaultWindows(ops) {
		if w.Open {
			t.Errorf("fault window left open: %+v", w)
		}
	}
	for _, n := range nodes {
		if st, err := procState(ctx, n, db); err != nil || st == "gone" || st == "T" {
			t.Errorf("%s: db state %q after the run (%v)", n.Name(), st, err)
		}
	}
	checkReach(ctx, t, "after the run", cn, func(a, b string) bool { return true })
}

// testLogger sends slog output to t.Log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
