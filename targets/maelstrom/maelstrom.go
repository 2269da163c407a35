// Package maelstrom runs programs written for Jepsen's Maelstrom (JSON
// messages on stdin and stdout, the "Gossip Glomers" nodes) as a real
// cluster: each node runs the user's binary under a small shim that sends
// it init, carries its messages to the other nodes over TCP (so
// partitions, kills and pauses really act on them) and serves faultline's
// clients. The client speaks Maelstrom's lin-kv, broadcast, g-set,
// clients. The client speaks all of Maelstrom's workloads (echo,
// unique-ids, lin-kv, broadcast, g-set, g-counter, pn-counter,
// txn-list-append, txn-rw-register, kafka) with its error codes. Maelstrom's
// services (lin-kv, seq-kv, lww-kv, lin-tso; package services) are served
// from the controller for the nodes to call. See docs/maelstrom.md.
package maelstrom

import (
	"context"
	_ "embed"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/nuker"
	"github.com/faultline/faultline/targets/maelstrom/services"
	"github.com/faultline/faultline/workloads"
)

//go:embed shim/main.go
var shimSource string

// Paths and names on every node.
const (
	shimName = "maelstrom-shim"
	nodeBin  = "/usr/local/bin/maelstrom-node"
	daemon   = "maelstrom"
)

// Version is what the target reports as its release: the protocol it
// speaks, since the program under test is the user's.
const Version = "protocol-v1"

// Options describes the target's options for `faultline list`.
func Options() map[string]string {
	return map[string]string{
		"bin":          "a node binary you built (static, or runnable on Debian bookworm); exactly one of bin and src",
		"src":          "a Go main package on this machine, built static (CGO_ENABLED=0); exactly one of bin and src",
		"workload":     "the Maelstrom workload the node serves (default: the one --workload judges, lin-kv for register): lin-kv (register), echo, unique-ids, broadcast (broadcast, or set with session guarantees), g-set (g-set, or set), g-counter and pn-counter (g-counter, pn-counter: final reads judged; or counter: every read), txn-list-append (list-append), txn-rw-register (rw-register), kafka",
		"init-timeout": "how long a node may take to answer init, a Go duration (default 5s)",
	}
}

// Target is a cluster of Maelstrom nodes under shims.
type Target struct {
	node.Daemons
	bin, src    string
	workload    string
	initTimeout time.Duration
	nodes       []node.Node
	log         *slog.Logger
	net         *netPoller       // reads the shims' message counts
	services    *services.Server // Maelstrom's services, from Setup on

	mu     sync.Mutex
	killed map[string]bool // nodes a kill fault stopped, until restarted
	crash  error           // the first node program that exited by itself
}

// New returns the target for opts (see Options); version must be empty or
// Version.
func New(version string, opts map[string]string) (*Target, error) {
	if version != "" && version != Version {
		return nil, fmt.Errorf("maelstrom: version %q: the only version is %s (the node is your own program)", version, Version)
	}
	t := &Target{initTimeout: 5 * time.Second, log: slog.New(slog.DiscardHandler)}
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := opts[k]
		switch k {
		case "bin":
			t.bin = v
		case "src":
			t.src = v
		case "workload":
			if faultlineOf(v) == nil {
				return nil, fmt.Errorf("maelstrom: workload=%q: want one of Maelstrom's: %s", v, maelstromNames())
			}
			t.workload = v
		case "init-timeout":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return nil, fmt.Errorf("maelstrom: init-timeout=%q is not a positive duration", v)
			}
			t.initTimeout = d
		default:
			return nil, fmt.Errorf("maelstrom: unknown option %q (known: bin, src, workload, init-timeout)", k)
		}
	}
	if (t.bin == "") == (t.src == "") {
		return nil, fmt.Errorf("maelstrom: give exactly one of bin=PATH (a node binary) and src=DIR (a Go main package)")
	}
	for _, p := range []*string{&t.bin, &t.src} {
		if *p != "" {
			abs, err := filepath.Abs(*p)
			if err != nil {
				return nil, fmt.Errorf("maelstrom: %s: %w", *p, err)
			}
			*p = abs
		}
	}
	t.Daemons = node.Daemons{System: "maelstrom", ByNode: map[string]node.Daemon{}}
	return t, nil
}

// Name implements targets.Target.
func (t *Target) Name() string { return "maelstrom" }

// Version implements targets.Target.
func (t *Target) Version() string { return Version }

// Settings implements targets.Target.
func (t *Target) Settings() map[string]string {
	s := map[string]string{"workload": t.mwl(), "init-timeout": t.initTimeout.String()}
	if t.bin != "" {
		s["bin"] = t.bin
	} else {
		s["src"] = t.src
	}
	return maps.Clone(s)
}

// Software implements targets.Target: the shim, and the user's node.
func (t *Target) Software() (node.Software, error) {
	sw := node.Software{
		Name:     "maelstrom",
		Binaries: []node.GoBinary{{Name: shimName, Main: shimSource, Estimate: 20 * time.Second}},
	}
	if t.bin != "" {
		sw.Files = []node.File{{Src: t.bin, Dst: nodeBin, Mode: 0o755}}
	} else {
		sw.Local = []node.LocalGo{{Name: filepath.Base(nodeBin), Dir: t.src}}
	}
	return sw, nil
}

// Faults implements targets.FaultLimiter. Clock faults reach the node
// program: the injector acts on the daemon (the shim) and its process
// tree, and the program is the shim's child.
func (t *Target) Faults() []string {
	return []string{nuker.FaultPartition, nuker.FaultKill, nuker.FaultPause, nuker.FaultClock}
}

// CheckNodes implements targets.NodeChecker.
func (t *Target) CheckNodes(n int) error {
	if n < 1 {
		return fmt.Errorf("maelstrom needs at least 1 node, got %d", n)
	}
	return nil
}

// LogFiles implements targets.Target: the shim's log, which holds the
// node's stderr.
func (t *Target) LogFiles() []string { return []string{node.LogDir + "/" + daemon + ".log"} }

// Setup implements targets.Target: start a shim on every node and wait
// until each node answered init.
func (t *Target) Setup(ctx context.Context, nodes []node.Node, log *slog.Logger) error {
	if log != nil {
		t.log = log
	}
	t.nodes = nodes
	peers := make([]string, len(nodes))
	for i, n := range nodes {
		peers[i] = n.Name() + "=" + net.JoinHostPort(n.Addr().String(), strconv.Itoa(PeerPort))
	}
	svcFlags, err := t.startServices(ctx, nodes)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		argv := []string{
			"/usr/local/bin/" + shimName, "-id", n.Name(), "-peers", strings.Join(peers, ","),
			"-client", ":" + strconv.Itoa(ClientPort), "-peer", ":" + strconv.Itoa(PeerPort),
			"-init-timeout", t.initTimeout.String(),
		}
		argv = append(append(argv, svcFlags...), "--", nodeBin)
		t.ByNode[n.Name()] = node.Daemon{Name: daemon, Argv: argv}
	}
	if err := node.Each(nodes, func(n node.Node) error { return t.Daemons.Start(ctx, n) }); err != nil {
		return err
	}
	if err := t.WaitHealthy(ctx, t.initTimeout+30*time.Second); err != nil {
		return err
	}
	t.net = startNetPoller(nodes, t.checkCrash, t.serviceCounts)
	return nil
}

// Kill implements nuker.Target: a node killed on purpose is no crash.
func (t *Target) Kill(ctx context.Context, n node.Node) error {
	t.mu.Lock()
	if t.killed == nil {
		t.killed = map[string]bool{}
	}
	t.killed[n.Name()] = true
	t.mu.Unlock()
	return t.Daemons.Kill(ctx, n)
}

// checkCrash is called when n's shim did not answer: if it is gone and no
// kill fault stopped it, the node program exited by itself (the shim
// exits with it), which ends the run as Maelstrom ends a test.
func (t *Target) checkCrash(ctx context.Context, n node.Node) {
	t.mu.Lock()
	skip := t.killed[n.Name()] || t.crash != nil
	t.mu.Unlock()
	if skip {
		return
	}
	d, err := t.Of(n)
	if err != nil {
		return
	}
	if up, err := d.Running(ctx, n); err != nil || up {
		return // paused, cut off or busy: not a crash
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.killed[n.Name()] || t.crash != nil {
		return // a kill fault raced with the check
	}
	t.crash = fmt.Errorf("maelstrom node %s: %s (its log: nodes/%s/%s.log)", n.Name(), t.why(ctx, n, d), n.Name(), daemon)
}

// Crashed implements targets.CrashWatcher.
func (t *Target) Crashed() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.crash
}

// Start implements nuker.Target: (re)start the shim, which gives the node
// init again, and, for broadcast, its topology.
func (t *Target) Start(ctx context.Context, n node.Node) error {
	if err := t.Daemons.Start(ctx, n); err != nil {
		return err
	}
	t.mu.Lock()
	delete(t.killed, n.Name())
	t.mu.Unlock()
	if t.mwl() != "broadcast" {
		return nil
	}
	return node.Poll(ctx, t.initTimeout+10*time.Second, "maelstrom "+n.Name()+" topology", t.log, func(ctx context.Context) error {
		return t.ready(ctx, n)
	})
}

// Pause implements nuker.Target: stop the shim and the node program.
func (t *Target) Pause(ctx context.Context, n node.Node) error { return t.signalTree(ctx, n, "STOP") }

// Resume implements nuker.Target.
func (t *Target) Resume(ctx context.Context, n node.Node) error { return t.signalTree(ctx, n, "CONT") }

// signalTree signals the shim and its children (the node program), so a
// paused node's own timers stop too, not only its links.
func (t *Target) signalTree(ctx context.Context, n node.Node, sig string) error {
	d, err := t.Of(n)
	if err != nil {
		return err
	}
	script := fmt.Sprintf(`p=$(cat %s) || exit 1
kids=$(cat /proc/$p/task/*/children 2>/dev/null)
kill -%s $p $kids`, d.PidFile(), sig)
	if _, err := n.Exec(ctx, "sh", "-c", script); err != nil {
		return fmt.Errorf("%s: signal %s maelstrom node: %w", n.Name(), sig, err)
	}
	return nil
}

// WaitHealthy implements targets.Target: every shim serves clients (it
// listens only once its node answered init). A shim that exited is
// reported at once with its own one-line reason.
func (t *Target) WaitHealthy(ctx context.Context, limit time.Duration) error {
	return node.Poll(ctx, limit, "maelstrom nodes", t.log, func(ctx context.Context) error {
		return node.Each(t.nodes, func(n node.Node) error { return t.ready(ctx, n) })
	})
}

// ready checks one node: its shim serves (and, for broadcast, the node
// took its topology), or it exited (a permanent error).
func (t *Target) ready(ctx context.Context, n node.Node) error {
	actx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	err := t.probe(actx, n)
	if err == nil {
		return nil
	}
	d, derr := t.Of(n)
	if derr != nil {
		return derr
	}
	if up, rerr := d.Running(ctx, n); rerr == nil && !up {
		return node.Permanent(fmt.Errorf("%s: %s", n.Name(), t.why(ctx, n, d)))
	}
	return err
}

// probe connects to n's shim; for broadcast it sends the topology.
func (t *Target) probe(ctx context.Context, n node.Node) error {
	c, err := dial(ctx, net.JoinHostPort(n.Addr().String(), strconv.Itoa(ClientPort)), nil)
	if err != nil {
		return err
	}
	defer c.Close()
	if t.mwl() != "broadcast" {
		return nil
	}
	names := make([]string, len(t.nodes))
	for i, m := range t.nodes {
		names[i] = m.Name()
	}
	if _, err := c.call(ctx, "topology", map[string]any{"topology": topology(names)}); err != nil {
		return fmt.Errorf("%s: topology: %w", n.Name(), err)
	}
	return nil
}

// why returns the shim's last word from the daemon log: its one line on
// why the node could not run.
func (t *Target) why(ctx context.Context, n node.Node, d node.Daemon) string {
	res, err := n.Exec(ctx, "sh", "-c", "grep '^maelstrom-shim: ' "+d.LogPath()+" | tail -n 1")
	line := strings.TrimPrefix(strings.TrimSpace(string(res.Stdout)), "maelstrom-shim: ")
	if err != nil || line == "" {
		return "the maelstrom shim exited (see the run's nodes/" + n.Name() + "/maelstrom.log)"
	}
	return line
}

// NewClient implements targets.Target: a client of n's shim.
func (t *Target) NewClient(ctx context.Context, n node.Node) (workloads.Client, error) {
	opts := map[string]string{"node": n.Name()}
	if t.mwl() == "g-set" {
		opts["set"] = "g-set"
	}
	return dial(ctx, net.JoinHostPort(n.Addr().String(), strconv.Itoa(ClientPort)), opts)
}

// topology is what Maelstrom's broadcast workload calls "total": every
// node's neighbours are all the others.
func topology(names []string) map[string][]string {
	topo := map[string][]string{}
	for _, a := range names {
		topo[a] = []string{}
		for _, b := range names {
			if a != b {
				topo[a] = append(topo[a], b)
			}
		}
	}
	return topo
}
