package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/harness/docker/dockerenv"
	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/nuker"
)

// diskTarget is a nuker.Target over a stand-in daemon whose data directory
// is /data: it counts the restarts a corruption's stop makes.
type diskTarget struct {
	d node.Daemon

	mu     sync.Mutex
	starts int
}

func (t *diskTarget) DataDirs() []string { return []string{"/data"} }

func (t *diskTarget) Kill(ctx context.Context, n node.Node) error { return t.d.Kill(ctx, n) }

func (t *diskTarget) Start(ctx context.Context, n node.Node) error {
	t.mu.Lock()
	t.starts++
	t.mu.Unlock()
	if ok, err := t.d.Running(ctx, n); err != nil || ok {
		return err
	}
	return t.d.Start(ctx, n)
}

func (t *diskTarget) started() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.starts
}

func (t *diskTarget) Pause(ctx context.Context, n node.Node) error {
	return t.d.Signal(ctx, n, "STOP")
}

func (t *diskTarget) Resume(ctx context.Context, n node.Node) error {
	return t.d.Signal(ctx, n, "CONT")
}

// diskCase is one disk fault pinned in a schedule (pick), what to do before
// it, the check of its effect (given its start's value) and of its undo,
// and whether its stop restarts the process.
type diskCase struct {
	pick     string
	setup    func() error
	effect   func(value any) error
	undo     func() error
	restarts bool
}

// TestDiskKindsDocker runs each disk fault kind through the nuker against
// a real node whose /data is faultline's filesystem, and checks its effect
// while it acts and its undo after the stop: a writer sees ENOSPC, then
// writes; fsync (or a read) answers EIO, then works; five appends take
// longer than five delays, then do not; a corruption changes exactly the
// bytes it reports (read back in the node) and its stop restarts the
// process.
func TestDiskKindsDocker(t *testing.T) {
	cli := dockerenv.NeedDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := DiskServer(ctx, func(f string, a ...any) { t.Logf(f, a...) }); err != nil {
		t.Fatal(err)
	}
	n, _ := startBaseNode(ctx, t, cli, "diskkinds")
	if err := n.MountDisk(ctx, "/data", false); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.UnmountDisk(context.Background()); err != nil {
			t.Error(err)
		}
	})
	target := &diskTarget{d: node.Daemon{Name: "db", Argv: []string{"sleep", "infinity"}}}
	if err := target.d.Start(ctx, n); err != nil {
		t.Fatal(err)
	}
	sh := func(script string) (string, error) {
		res, err := n.Exec(ctx, "sh", "-c", script)
		return strings.TrimSpace(string(res.Stdout) + string(res.Stderr)), err
	}
	// Five appends, each a new open, write and close: the ms they take.
	appendMs := func() (int, error) {
		out, err := sh(`s=$(date +%s%N); for i in 1 2 3 4 5; do printf x >> /data/slow; done; e=$(date +%s%N); echo $(( (e - s) / 1000000 ))`)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", out, err)
		}
		return strconv.Atoi(out)
	}
	// fails checks that script fails saying want.
	fails := func(script, want string) error {
		out, err := sh(script)
		if err == nil || !strings.Contains(out, want) {
			return fmt.Errorf("%q: %q (%v), want a failure saying %q", script, out, err, want)
		}
		return nil
	}
	works := func(script string) error {
		if out, err := sh(script); err != nil {
			return fmt.Errorf("%q: %q: %w", script, out, err)
		}
		return nil
	}
	// dump is every non-empty file's bytes, hex.
	files := []string{"a", "big"}
	dump := func() (map[string]string, error) {
		out := map[string]string{}
		for _, f := range files {
			s, err := sh("od -An -v -tx1 /data/" + f + " | tr -d ' \\n'")
			if err != nil {
				return nil, err
			}
			out[f] = s
		}
		return out, nil
	}
	var before map[string]string
	tests := []diskCase{
		{pick: "disk-full/one",
			effect: func(any) error { return fails("printf x > /data/full", "No space left on device") },
			undo:   func() error { return works("printf x > /data/full") }},
		{pick: "disk-error/fsync",
			effect: func(any) error { return fails("sync /data/a", "Input/output error") },
			undo:   func() error { return works("sync /data/a") }},
		{pick: "disk-error/read",
			effect: func(any) error { return fails("cat /data/a", "Input/output error") },
			undo:   func() error { return works("cat /data/a") }},
		{pick: "slow-disk/100ms",
			effect: func(any) error {
				ms, err := appendMs()
				t.Logf("slow-disk/100ms: 5 appends took %d ms", ms)
				if err == nil && ms < 500 {
					err = fmt.Errorf("5 appends took %d ms under a 100ms delay, want at least 500", ms)
				}
				return err
			},
			undo: func() error {
				ms, err := appendMs()
				t.Logf("after slow-disk: 5 appends took %d ms", ms)
				if err == nil && ms >= 500 {
					err = fmt.Errorf("5 appends took %d ms after the delay was removed", ms)
				}
				return err
			}},
	}
	for _, mode := range []string{"flip-tail", "flip-random", "truncate"} {
		tests = append(tests, diskCase{
			pick: "corrupt/" + mode,
			setup: func() (err error) {
				// big is the newest file, written last.
				if err := works("seq 1 3000 > /data/big && sync /data/big"); err != nil {
					return err
				}
				before, err = dump()
				return err
			},
			effect:   func(v any) error { return checkChanges(v, before, dump, mode) },
			undo:     func() error { return nil },
			restarts: true,
		})
	}
	if err := works("printf kept > /data/a && sync /data/a"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.pick, func(t *testing.T) {
			if tt.setup != nil {
				if err := tt.setup(); err != nil {
					t.Fatal(err)
				}
			}
			plan, err := nuker.ParsePlan("seq:"+tt.pick, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			runCtx, stop := context.WithCancel(ctx)
			defer stop()
			var effectErr, undoErr error
			started := false
			record := func(op history.Op) history.Op {
				if op.Type != history.Info {
					return op
				}
				// The nuker waits for the record: the checks run while the
				// fault acts, and after its stop.
				switch {
				case strings.HasPrefix(op.F, history.StartPrefix):
					started = true
					t0 := time.Now()
					if op.Error != "" {
						effectErr = fmt.Errorf("start failed: %s", op.Error)
					} else {
						effectErr = tt.effect(op.Value)
					}
					t.Logf("%s started: %v; effect checked in %v", tt.pick, op.Value, time.Since(t0).Round(time.Millisecond))
				case strings.HasPrefix(op.F, history.StopPrefix):
					if op.Error != "" {
						undoErr = fmt.Errorf("stop failed: %s", op.Error)
					} else {
						undoErr = tt.undo()
					}
					stop()
				}
				return op
			}
			startsBefore := target.started()
			k, err := nuker.New(nuker.Config{Plan: &plan, Seed: 7, Interval: 200 * time.Millisecond,
				Nodes: []node.Node{n}, Target: target, Record: record})
			if err != nil {
				t.Fatal(err)
			}
			if err := k.Run(runCtx); err != nil {
				t.Fatal(err)
			}
			if !started {
				t.Fatal("the fault never started")
			}
			if effectErr != nil {
				t.Errorf("effect: %v", effectErr)
			}
			if undoErr != nil {
				t.Errorf("undo: %v", undoErr)
			}
			if tt.restarts && target.started() == startsBefore {
				t.Error("the corruption's stop did not restart the process")
			}
			if out, err := n.Disk(ctx, "faults"); err != nil || out != "enospc=false eio-read=false eio-fsync=false delay=0s" {
				t.Errorf("after the stop the filesystem has %q (%v), want passthrough", out, err)
			}
		})
	}
}

// checkChanges checks that the node's files now differ from before exactly
// where a corruption's recorded changes say, and as they say.
func checkChanges(value any, before map[string]string, dump func() (map[string]string, error), mode string) error {
	m, ok := value.(map[string]any)
	if !ok || len(m) != 1 {
		return fmt.Errorf("start value %#v, want one node's changes", value)
	}
	var changes []struct {
		File   string `json:"file"`
		Offset int    `json:"offset"`
		Old    string `json:"old"`
		New    string `json:"new"`
		Cut    int    `json:"cut"`
	}
	for _, v := range m {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &changes); err != nil {
			return fmt.Errorf("changes %s: %w", b, err)
		}
	}
	if len(changes) == 0 {
		return fmt.Errorf("%s reported no change", mode)
	}
	after, err := dump()
	if err != nil {
		return err
	}
	want := map[string][]byte{}
	for f, h := range before {
		want[f] = []byte(h)
	}
	for _, c := range changes {
		w, ok := want[c.File]
		if !ok {
			return fmt.Errorf("change in %q, not a file written", c.File)
		}
		if mode != "flip-random" && c.File != "big" {
			return fmt.Errorf("%s changed %s, not the newest file", mode, c.File)
		}
		if c.Cut > 0 {
			want[c.File] = w[:2*c.Offset]
			continue
		}
		if string(w[2*c.Offset:2*c.Offset+2]) != c.Old {
			return fmt.Errorf("change %+v: the byte was %s", c, w[2*c.Offset:2*c.Offset+2])
		}
		copy(w[2*c.Offset:], c.New)
	}
	for f, w := range want {
		if after[f] != string(w) {
			return fmt.Errorf("%s read back (%d hex digits) differs from before plus the reported changes (%d)", f, len(after[f]), len(w))
		}
	}
	return nil
}
