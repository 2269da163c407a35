package nuker

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/ory/dockertest/v3"
	dc "github.com/ory/dockertest/v3/docker"

	"github.com/faultline/faultline/harness/docker"
	"github.com/faultline/faultline/harness/docker/dockerenv"
	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/internal/testenv"
)

// containerNode is a node.Node over a test container, enough for the
// nuker: Exec and ExecDetached through the Docker API.
type containerNode struct {
	cli  *client.Client
	id   string
	name string
	addr netip.Addr
}

func (c *containerNode) Name() string     { return c.name }
func (c *containerNode) Addr() netip.Addr { return c.addr }

func (c *containerNode) Exec(ctx context.Context, argv ...string) (node.ExecResult, error) {
	var res node.ExecResult
	ex, err := c.cli.ContainerExecCreate(ctx, c.id, container.ExecOptions{Cmd: argv, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return res, fmt.Errorf("%s: exec create: %w", c.name, err)
	}
	att, err := c.cli.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		return res, fmt.Errorf("%s: exec attach: %w", c.name, err)
	}
	defer att.Close()
	var stdout, stderr bytes.Buffer
	copied := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(&stdout, &stderr, att.Reader)
		copied <- err
	}()
	select {
	case <-ctx.Done():
		return res, fmt.Errorf("%s: exec %q: %w", c.name, argv, ctx.Err())
	case err := <-copied:
		if err != nil {
			return res, fmt.Errorf("%s: exec %q output: %w", c.name, argv, err)
		}
	}
	insp, err := c.cli.ContainerExecInspect(ctx, ex.ID)
	if err != nil {
		return res, fmt.Errorf("%s: exec inspect: %w", c.name, err)
	}
	res = node.ExecResult{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: insp.ExitCode}
	if insp.ExitCode != 0 {
		return res, &node.ExitError{Node: c.name, Argv: argv, ExitCode: insp.ExitCode, Stderr: stderr.String()}
	}
	return res, nil
}

func (c *containerNode) ExecDetached(ctx context.Context, argv ...string) error {
	ex, err := c.cli.ContainerExecCreate(ctx, c.id, container.ExecOptions{Cmd: argv, Detach: true})
	if err != nil {
		return fmt.Errorf("%s: exec create: %w", c.name, err)
	}
	if err := c.cli.ContainerExecStart(ctx, ex.ID, container.ExecStartOptions{Detach: true}); err != nil {
		return fmt.Errorf("%s: exec start: %w", c.name, err)
	}
	return nil
}

func (c *containerNode) WriteFile(ctx context.Context, path string, data []byte, mode int64) error {
	return fmt.Errorf("containerNode: WriteFile not needed here")
}

func (c *containerNode) CopyOut(ctx context.Context, src, dst string) error {
	return fmt.Errorf("containerNode: CopyOut not needed here")
}

const (
	testRunLabel = "test-nuker"
	tcpPort      = "7000"
	udpPort      = "7001"
)

// startCluster runs count containers of the base image on a private
// network, with NET_ADMIN only, labelled and removed when the test ends.
func startCluster(ctx context.Context, t *testing.T, cli *client.Client, count int) []*containerNode {
	t.Helper()
	ref, err := docker.BaseImage(ctx, cli, nil, func(format string, args ...any) { t.Logf("image: "+format, args...) })
	if err != nil {
		t.Fatalf("base image: %v", err)
	}
	repo, tag, _ := strings.Cut(ref, ":")

	pool, err := dockertest.NewPool("")
	if err != nil {
		t.Fatalf("dockertest pool: %v", err)
	}
	var suffix [4]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		t.Fatal(err)
	}
	prefix := "faultline-test-nuker-" + hex.EncodeToString(suffix[:])
	labels := map[string]string{docker.LabelRun: testRunLabel}
	network, err := pool.CreateNetwork(prefix, func(o *dc.CreateNetworkOptions) {
		o.Driver = "bridge"
		o.Labels = labels
		o.Context = ctx
	})
	if err != nil {
		t.Fatalf("create network: %v", err)
	}
	t.Cleanup(func() {
		if err := pool.RemoveNetwork(network); err != nil {
			t.Errorf("remove network %s: %v", prefix, err)
		}
	})

	var nodes []*containerNode
	for i := 1; i <= count; i++ {
		name := fmt.Sprintf("n%d", i)
		res, err := pool.RunWithOptions(&dockertest.RunOptions{
			Name:       prefix + "-" + name,
			Hostname:   name,
			Repository: repo,
			Tag:        tag,
			Networks:   []*dockertest.Network{network},
			CapAdd:     []string{"NET_ADMIN"},
			Labels:     labels,
		}, func(hc *dc.HostConfig) {
			hc.Init = true // reaps the listeners
			hc.PublishAllPorts = false
			hc.Privileged = false
		})
		if err != nil {
			t.Fatalf("run %s: %v", name, err)
		}
		t.Cleanup(func() {
			if err := pool.Purge(res); err != nil {
				t.Errorf("remove container %s: %v", name, err)
			}
		})
		addr, err := netip.ParseAddr(res.GetIPInNetwork(network))
		if err != nil {
			t.Fatalf("%s: no address on %s: %v", name, prefix, err)
		}
		nodes = append(nodes, &containerNode{cli: cli, id: res.Container.ID, name: name, addr: addr})
	}
	// A TCP listener on every node for the connection checks.
	for _, n := range nodes {
		if err := n.ExecDetached(ctx, "nc", "-lk", tcpPort); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range nodes {
		if _, err := n.Exec(ctx, "sh", "-c", "for i in $(seq 50); do ss -ltn | grep -q ':"+tcpPort+" ' && exit 0; sleep 0.1; done; exit 1"); err != nil {
			t.Fatalf("%s: listener did not come up: %v", n.name, err)
		}
	}
	return nodes
}

// canConnect reports whether a TCP connection from a to b's listener is
// established within two seconds.
func canConnect(ctx context.Context, t *testing.T, a, b *containerNode) bool {
	t.Helper()
	_, err := a.Exec(ctx, "nc", "-z", "-w", "2", b.addr.String(), tcpPort)
	var exit *node.ExitError
	switch {
	case err == nil:
		return true
	case errors.As(err, &exit):
		return false
	default:
		t.Fatalf("connect %s -> %s: %v", a.name, b.name, err)
		return false
	}
}

// checkReach asserts, for every ordered pair of nodes, whether a
// connection goes through, logging the matrix.
func checkReach(ctx context.Context, t *testing.T, phase string, nodes []*containerNode, want func(a, b string) bool) {
	t.Helper()
	type result struct {
		a, b string
		ok   bool
	}
	var (
		mu      sync.Mutex
		results []result
		wg      sync.WaitGroup
	)
	start := time.Now()
	for _, a := range nodes {
		for _, b := range nodes {
			if a == b {
				continue
			}
			wg.Go(func() {
				ok := canConnect(ctx, t, a, b)
				mu.Lock()
				results = append(results, result{a.name, b.name, ok})
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	var lines []string
	for _, r := range results {
		verdict := "connects"
		if !r.ok {
			verdict = "times out"
		}
		lines = append(lines, fmt.Sprintf("%s -> %s %s", r.a, r.b, verdict))
		if r.ok != want(r.a, r.b) {
			t.Errorf("%s: %s -> %s: connected = %v, want %v", phase, r.a, r.b, r.ok, want(r.a, r.b))
		}
	}
	sort.Strings(lines)
	t.Logf("%s (%s): %s", phase, time.Since(start).Round(time.Millisecond), strings.Join(lines, "; "))
}

// controllerReach dials b from the test process, which stands for the
// controller; ok is false when the container network is not routable from
// here at all (a remote engine).
func controllerReach(b *containerNode) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort(b.addr.String(), tcpPort), 2*time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func TestPartitionDocker(t *testing.T) {
	cli := dockerenv.NeedDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cn := startCluster(ctx, t, cli, 3)
	nodes := make([]node.Node, len(cn))
	for i, n := range cn {
		nodes[i] = n
		t.Logf("%s at %s", n.name, n.addr)
	}
	// Leftovers are none, but this must work on a pristine node too.
	if err := RemovePartitions(ctx, nodes); err != nil {
		t.Fatalf("RemovePartitions on fresh nodes: %v", err)
	}
	everyone := func(a, b string) bool { return true }
	checkReach(ctx, t, "before", cn, everyone)
	controller := controllerReach(cn[0])
	if !controller {
		t.Logf("the containers are not routable from the test process; skipping the controller checks")
	}

	// n1 cut off from n2 and n3; n2 and n3 still together.
	g := Complete([]string{"n1"}, []string{"n2", "n3"})
	applied, err := ApplyGrudge(ctx, nodes, g)
	if err != nil || len(applied) != 3 {
		t.Fatalf("ApplyGrudge: %v (applied on %v)", err, applied)
	}
	for _, n := range cn {
		res, err := n.Exec(ctx, "iptables", "-w", "-S", Chain)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s rules: %s", n.name, strings.Join(strings.Fields(strings.ReplaceAll(string(res.Stdout), "\n", " | ")), " "))
	}
	checkReach(ctx, t, "partitioned "+fmt.Sprint(g), cn, func(a, b string) bool { return connected(g, a, b) })
	if controller {
		if !controllerReach(cn[0]) {
			t.Error("the controller lost n1: partitions must only drop peers")
		} else {
			t.Logf("controller -> n1 still connects during the partition")
		}
	}

	// Re-applying replaces the old rules: now n3 alone.
	g2 := Complete([]string{"n3"}, []string{"n1", "n2"})
	if _, err := ApplyGrudge(ctx, nodes, g2); err != nil {
		t.Fatal(err)
	}
	checkReach(ctx, t, "re-partitioned "+fmt.Sprint(g2), cn, func(a, b string) bool { return connected(g2, a, b) })

	healed, err := HealPartition(ctx, nodes)
	if err != nil || len(healed) != 3 {
		t.Fatalf("HealPartition: %v (healed %v)", err, healed)
	}
	checkReach(ctx, t, "healed", cn, everyone)
	if _, err := HealPartition(ctx, nodes); err != nil {
		t.Fatalf("second HealPartition: %v", err)
	}

	// Heal must leave others' rules alone: a rule of our own in INPUT
	// outside the chain survives.
	other := []string{"iptables", "-w", "-A", "INPUT", "-p", "tcp", "--dport", "9", "-j", "DROP"}
	if _, err := cn[1].Exec(ctx, other...); err != nil {
		t.Fatal(err)
	}
	if _, err := ApplyGrudge(ctx, nodes, g); err != nil {
		t.Fatal(err)
	}
	if err := RemovePartitions(ctx, nodes); err != nil {
		t.Fatalf("RemovePartitions: %v", err)
	}
	res, err := cn[1].Exec(ctx, "iptables", "-w", "-S", "INPUT")
	if err != nil {
		t.Fatal(err)
	}
	rules := string(res.Stdout)
	t.Logf("n2 INPUT after RemovePartitions: %s", strings.ReplaceAll(strings.TrimSpace(rules), "\n", " | "))
	if !strings.Contains(rules, "--dport 9 -j DROP") || strings.Contains(rules, Chain) {
		t.Errorf("RemovePartitions should drop only our chain and its jump; INPUT is now:\n%s", rules)
	}
	if _, err := cn[1].Exec(ctx, "iptables", "-w", "-n", "-L", Chain); err == nil {
		t.Error("our chain still exists after RemovePartitions")
	}
	checkReach(ctx, t, "removed", cn, everyone)
}

// TestPartitionDockerOneWay shows drops are inbound only: with n1 dropping
// n2, datagrams n1 -> n2 arrive, n2 -> n1 do not (TCP fails both ways, as
// its handshake needs both).
func TestPartitionDockerOneWay(t *testing.T) {
	cli := dockerenv.NeedDocker(t)
	if testenv.Short() {
		t.Skip("-short: TestPartitionDocker covers partitions; this longer run is skipped")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cn := startCluster(ctx, t, cli, 2)
	nodes := []node.Node{cn[0], cn[1]}
	g := Grudge{"n1": {"n2"}}
	if _, err := ApplyGrudge(ctx, nodes, g); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = RemovePartitions(context.Background(), nodes) })
	udp := func(from, to *containerNode) bool {
		msg := "hello-from-" + from.name
		got := make(chan string, 1)
		go func() {
			res, _ := to.Exec(ctx, "timeout", "20", "nc", "-u", "-l", udpPort)
			got <- string(res.Stdout)
		}()
		// Send only once the listener is bound: a docker exec can take
		// seconds on a loaded machine, and a datagram sent before it is
		// lost whatever the partition does.
		bound := false
		for deadline := time.Now().Add(15 * time.Second); !bound && time.Now().Before(deadline); {
			res, _ := to.Exec(ctx, "ss", "-Hnul", "sport = :"+udpPort)
			if bound = strings.TrimSpace(string(res.Stdout)) != ""; !bound {
				time.Sleep(100 * time.Millisecond)
			}
		}
		if !bound {
			t.Fatalf("%s: no UDP listener on port %s after 15 s", to.name, udpPort)
		}
		if _, err := from.Exec(ctx, "sh", "-c", "echo "+msg+" | nc -u -w 1 "+to.addr.String()+" "+udpPort); err != nil {
			t.Errorf("send %s -> %s: %v", from.name, to.name, err)
		}
		// The datagram has had a second to arrive; stop the listener.
		time.Sleep(time.Second)
		if _, err := to.Exec(ctx, "pkill", "-f", "nc -u -l "+udpPort); err != nil {
			t.Logf("stop the listener on %s: %v", to.name, err)
		}
		return strings.Contains(<-got, msg)
	}
	fwd, back := udp(cn[0], cn[1]), udp(cn[1], cn[0])
	t.Logf("one-way %v: UDP n1 -> n2 delivered=%v, n2 -> n1 delivered=%v", g, fwd, back)
	if !fwd || back {
		t.Errorf("want n1 -> n2 delivered and n2 -> n1 dropped")
	}
	tcp12, tcp21 := canConnect(ctx, t, cn[0], cn[1]), canConnect(ctx, t, cn[1], cn[0])
	t.Logf("one-way %v: TCP n1 -> n2 connects=%v, n2 -> n1 connects=%v", g, tcp12, tcp21)
	if tcp12 || tcp21 {
		t.Error("TCP should fail both ways under a one-way drop")
	}
	if _, err := HealPartition(ctx, nodes); err != nil {
		t.Fatal(err)
	}
	if !udp(cn[1], cn[0]) || !canConnect(ctx, t, cn[1], cn[0]) {
		t.Error("n2 -> n1 not restored by heal")
	}
}
