package etcd

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/harness/docker"
	"github.com/faultline/faultline/harness/docker/dockerenv"
	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/internal/testenv"
)

// TestUpgradeDockerRolling rolls a real 3-node cluster from the default
// release onto the default upgrade-to release (3.6 -> 3.7) and back
// (3.7 -> 3.6, with etcd's downgrade procedure), a value written before
// each roll read back after it: after each roll every node's /version and
// `etcd --version` of the program it runs say the release it should, and
// the cluster's and storage versions follow.
func TestUpgradeDockerRolling(t *testing.T) {
	dockerenv.NeedDocker(t)
	if testenv.Short() {
		t.Skip("SKIPPING the rolling upgrade with -short: it builds a second etcd release and starts a 3-node cluster")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	tg, err := New("", nil)
	if err != nil {
		t.Fatal(err)
	}
	nodes := upgradeCluster(ctx, t, tg)
	from, to := tg.Version(), tg.UpgradeVersion()
	if minorOf(to) != minorOf(from)+1 {
		t.Fatalf("default upgrade-to %s is not the next minor version after %s", to, from)
	}

	steps := []struct {
		name     string
		version  string
		wantMajM string // the cluster and storage version after the roll
	}{
		{"upgrade", to, fmt.Sprintf("3.%d.0", minorOf(to))},
		{"downgrade", from, fmt.Sprintf("3.%d.0", minorOf(from))},
	}
	for i, st := range steps {
		if st.name == "downgrade" {
			oldWithoutProcedure(ctx, t, tg, nodes[0])
		}
		key, value := fmt.Sprintf("upgrade-%d", i), int64(10+i)
		if err := write(ctx, tg, nodes[0], key, value); err != nil {
			t.Fatalf("write before the %s: %v", st.name, err)
		}
		var moves []string
		t0 := time.Now()
		what, err := tg.SwitchVersion(ctx, nodes, st.version, func(n node.Node, from, to string) {
			moves = append(moves, fmt.Sprintf("%s %s->%s at %s", n.Name(), from, to, time.Since(t0).Round(time.Millisecond)))
		})
		t.Logf("%s to %s in %s: %s; moves %v", st.name, st.version, time.Since(t0).Round(time.Millisecond), strings.Join(what, " | "), moves)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if len(moves) != len(nodes) || len(what) != len(nodes) {
			t.Errorf("%s: %d moves and %d lines, want %d each", st.name, len(moves), len(what), len(nodes))
		}
		if st.name == "downgrade" && !strings.HasPrefix(what[0], "downgrade to ") {
			t.Errorf("the downgrade did not enable etcd's downgrade first: %q", what[0])
		}
		checkVersions(ctx, t, tg, nodes, st.version, st.wantMajM)
		for _, n := range nodes {
			if got := read(ctx, t, tg, n, key); got != value {
				t.Errorf("after the %s %s reads %s=%d, want %d", st.name, n.Name(), key, got, value)
			}
		}
	}
	// Back where it started: switching again does nothing.
	what, err := tg.SwitchVersion(ctx, nodes, from, func(n node.Node, _, _ string) { t.Errorf("%s moved again", n.Name()) })
	if err != nil || len(what) != len(nodes) || !strings.Contains(what[0], "already") {
		t.Errorf("a second switch to %s: %v, %v", from, what, err)
	}
}

// upgradeCluster installs both releases, starts a 3-node cluster of tg
// (removed when the test ends) and sets tg up on it.
func upgradeCluster(ctx context.Context, t *testing.T, tg *Target) []node.Node {
	t.Helper()
	sw, err := tg.UpgradeSoftware()
	if err != nil {
		t.Fatal(err)
	}
	nodes := dockerCluster(ctx, t, tg, sw, "upgrade")
	checkVersions(ctx, t, tg, nodes, tg.Version(), fmt.Sprintf("3.%d.0", minorOf(tg.Version())))
	return nodes
}

// dockerCluster installs sw, starts a 3-node cluster (removed when the
// test ends) and sets tg up on it; name tells the test's containers apart.
func dockerCluster(ctx context.Context, t *testing.T, tg *Target, sw node.Software, name string) []node.Node {
	t.Helper()
	rt, err := docker.NewRuntime(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	inst, err := rt.Install(ctx, sw, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	runID := fmt.Sprintf("test-%s-%06x-%d", name, rand.Uint32()&0xffffff, os.Getpid())
	cluster, err := rt.StartCluster(ctx, runID, inst, 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer ccancel()
		if err := cluster.Remove(cctx); err != nil {
			t.Errorf("remove cluster: %v", err)
		}
	})
	nodes := cluster.Nodes()
	if err := tg.Setup(ctx, nodes, slog.New(slog.NewTextHandler(tWriter{t}, nil))); err != nil {
		t.Fatal(err)
	}
	return nodes
}

// checkVersions fails t unless every node's etcd answers as release
// version, its program's `etcd --version` says so too, and the cluster
// and storage versions are cluster.
func checkVersions(ctx context.Context, t *testing.T, tg *Target, nodes []node.Node, version, cluster string) {
	t.Helper()
	want := strings.TrimPrefix(version, "v")
	for _, n := range nodes {
		v, err := tg.NodeVersions(ctx, n)
		if err != nil {
			t.Errorf("%s: %v", n.Name(), err)
			continue
		}
		res, err := n.Exec(ctx, tg.binaryOf(n), "--version")
		if err != nil {
			t.Errorf("%s: %s --version: %v", n.Name(), tg.binaryOf(n), err)
			continue
		}
		line, _, _ := strings.Cut(string(res.Stdout), "\n")
		t.Logf("%s: /version %+v; %s: %s", n.Name(), v, tg.binaryOf(n), line)
		if v.Server != want || line != "etcd Version: "+want || v.Cluster != cluster {
			t.Errorf("%s runs %s (cluster %s), program %q; want %s, cluster %s", n.Name(), v.Server, v.Cluster, line, want, cluster)
		}
		// The storage version follows the cluster's once it is decided;
		// it may lag a moment behind an upgrade.
		if v.Storage != cluster {
			t.Logf("%s: storage version %s (cluster %s)", n.Name(), v.Storage, cluster)
		}
	}
}

// oldWithoutProcedure checks why a downgrade needs etcd's procedure: on a
// cluster upgraded in full, n's etcd restarted on the older release
// without it does not come up as a member. n is back on the newer release
// afterwards.
func oldWithoutProcedure(ctx context.Context, t *testing.T, tg *Target, n node.Node) {
	t.Helper()
	d, err := tg.Of(n)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Signal(ctx, n, "TERM"); err != nil {
		t.Fatal(err)
	}
	if err := node.Poll(ctx, 10*time.Second, "stop", tg.log, func(ctx context.Context) error {
		if up, err := d.Running(ctx, n); err != nil || up {
			return fmt.Errorf("running: %v", err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	old := d
	old.Argv = append([]string{"/usr/local/bin/etcd"}, d.Argv[1:]...)
	if err := old.Start(ctx, n); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Second)
	up, _ := old.Running(ctx, n)
	v, verr := tg.NodeVersions(ctx, n)
	res, _ := n.Exec(ctx, "sh", "-c", "grep -E '\"level\":\"(fatal|panic|error)\"' "+d.LogPath()+" | tail -n 3 | cut -c1-400")
	t.Logf("%s on the older release without the downgrade procedure, 10 s later: running %v, /version %+v (%v); last errors:\n%s", n.Name(), up, v, verr, res.Stdout)
	if up && verr == nil && v.Server == strings.TrimPrefix(tg.Version(), "v") {
		if err := tg.WaitHealthy(ctx, 5*time.Second); err == nil {
			t.Errorf("%s serves as a healthy member on %s without the downgrade procedure", n.Name(), tg.Version())
		}
	}
	if err := old.Kill(ctx, n); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx, n); err != nil {
		t.Fatal(err)
	}
	if err := tg.WaitHealthy(ctx, memberLimit); err != nil {
		t.Fatalf("%s back on %s: %v", n.Name(), tg.UpgradeVersion(), err)
	}
}
