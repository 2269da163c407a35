package etcd

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/faultline/faultline/harness/docker/dockerenv"
	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/workloads"
)

// TestMemberReplacementDocker replaces a follower, then the leader, of a
// real 3-node cluster: while out, the member is gone from the member list,
// its process stays down (also when restarted by another fault's undo), its
// data is gone and its clients fail definitely; once added back it is a new
// member (a new id), serves a value written while it was out, and the
// cluster is healthy.
func TestMemberReplacementDocker(t *testing.T) {
	dockerenv.NeedDocker(t)
	if testenv.Short() {
		t.Skip("SKIPPING member replacement with -short: it starts a 3-node cluster")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	tg, err := New("", nil)
	if err != nil {
		t.Fatal(err)
	}
	sw, err := tg.Software()
	if err != nil {
		t.Fatal(err)
	}
	nodes := dockerCluster(ctx, t, tg, sw, "member")

	tests := []struct {
		name   string
		leader bool
	}{
		{"a follower", false},
		{"the leader", true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prim, err := tg.Primaries(ctx)
			if err != nil || len(prim) != 1 {
				t.Fatalf("primaries %v, %v", prim, err)
			}
			victim := pickNode(nodes, func(n node.Node) bool { return (n.Name() == prim[0]) == tt.leader })
			other := pickNode(nodes, func(n node.Node) bool { return n.Name() != victim.Name() })
			before := memberIDs(ctx, t, tg, other)
			t.Logf("members before: %v; replacing %s", before, victim.Name())

			t0 := time.Now()
			what, err := tg.RemoveMember(ctx, victim)
			if err != nil {
				t.Fatalf("remove: %v", err)
			}
			t.Logf("%s (%s)", what, time.Since(t0).Round(time.Millisecond))
			out := memberIDs(ctx, t, tg, other)
			if _, ok := out[victim.Name()]; ok || len(out) != 2 {
				t.Errorf("members while out: %v, want the two others", out)
			}
			// Another fault's undo must not bring the removed member back.
			if err := tg.Start(ctx, victim); err != nil {
				t.Errorf("start of a removed member: %v", err)
			}
			if running, err := tg.running(ctx, victim); err != nil || running {
				t.Errorf("etcd on %s running=%v (%v) while removed", victim.Name(), running, err)
			}
			if _, err := victim.Exec(ctx, "test", "-e", dataDir); err == nil {
				t.Errorf("%s still has %s", victim.Name(), dataDir)
			}
			// A client of the removed node gets no answer: its write
			// times out (indeterminate, as for a user's client) or fails.
			key, value := fmt.Sprintf("member-%d", i), int64(100+i)
			if err := write(ctx, tg, victim, key, -1); err == nil {
				t.Errorf("write through the removed %s succeeded", victim.Name())
			} else {
				t.Logf("write through the removed %s: %v (definite: %v)", victim.Name(), err, workloads.IsDefinite(err))
			}
			if err := write(ctx, tg, other, key, value); err != nil {
				t.Fatalf("write through %s while %s is out: %v", other.Name(), victim.Name(), err)
			}

			t0 = time.Now()
			what, err = tg.AddMember(ctx, victim)
			if err != nil {
				t.Fatalf("add: %v", err)
			}
			t.Logf("%s (%s)", what, time.Since(t0).Round(time.Millisecond))
			after := memberIDs(ctx, t, tg, other)
			if len(after) != 3 || after[victim.Name()] == 0 || after[victim.Name()] == before[victim.Name()] {
				t.Errorf("members after: %v, want %s back under a new id (was %x)", after, victim.Name(), before[victim.Name()])
			}
			if err := tg.WaitHealthy(ctx, 30*time.Second); err != nil {
				t.Errorf("not healthy after the replacement: %v", err)
			}
			if got := read(ctx, t, tg, victim, key); got != value {
				t.Errorf("the new member %s reads %s=%d, want %d (written while it was out)", victim.Name(), key, got, value)
			}
		})
	}
}

// tWriter sends the target's log to the test's.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

func pickNode(nodes []node.Node, ok func(node.Node) bool) node.Node {
	for _, n := range nodes {
		if ok(n) {
			return n
		}
	}
	return nil
}

// memberIDs lists the started members by name, as n's cluster sees them.
func memberIDs(ctx context.Context, t *testing.T, tg *Target, n node.Node) map[string]uint64 {
	t.Helper()
	cli, err := tg.dial(n, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := cli.MemberList(cctx)
	if err != nil {
		t.Fatalf("member list from %s: %v", n.Name(), err)
	}
	out := map[string]uint64{}
	for _, m := range resp.Members {
		out[m.Name] = m.ID
	}
	return out
}

func write(ctx context.Context, tg *Target, n node.Node, key string, v int64) error {
	c, err := tg.NewClient(ctx, n)
	if err != nil {
		return err
	}
	defer c.Close()
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	return c.(*Client).Write(cctx, key, v)
}

func read(ctx context.Context, t *testing.T, tg *Target, n node.Node, key string) int64 {
	t.Helper()
	c, err := tg.NewClient(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	v, ok, err := c.(*Client).Read(cctx, key)
	if err != nil || !ok {
		t.Fatalf("read %s from %s: %d %v %v", key, n.Name(), v, ok, err)
	}
	return v
}
