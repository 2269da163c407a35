package ssh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/faultline/faultline/harness/gobuild"
	"github.com/faultline/faultline/harness/node"
)

// Runtime runs nodes on machines over SSH. It implements node.Runtime.
// Connections are opened on first use and kept until Close.
type Runtime struct {
	cfg  Config
	keys *hostKeys

	mu    sync.Mutex
	nodes []*Node // one per host, in order; nil until connected
}

var _ node.Runtime = (*Runtime)(nil)

// NewRuntime checks cfg; it connects to nothing yet.
func NewRuntime(cfg Config) (*Runtime, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Runtime{cfg: cfg, keys: &hostKeys{path: cfg.KnownHosts, acceptNew: cfg.AcceptNewHostKeys}}, nil
}

// Close closes every connection.
func (r *Runtime) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for _, n := range r.nodes {
		if err := n.cli.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	r.nodes = nil
	return errors.Join(errs...)
}

// connect opens one connection per host, in parallel, once.
func (r *Runtime) connect(ctx context.Context) ([]*Node, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.nodes != nil {
		return r.nodes, nil
	}
	cfg, err := clientConfig(&r.cfg, r.keys)
	if err != nil {
		return nil, err
	}
	nodes := make([]*Node, len(r.cfg.Hosts))
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, h := range r.cfg.Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[i], errs[i] = r.connectOne(ctx, i, h, cfg)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, n := range nodes {
			if n != nil {
				n.cli.Close()
			}
		}
		return nil, err
	}
	r.nodes = nodes
	return nodes, nil
}

// connectOne dials host h as node n<i+1> and checks that commands run as
// root there.
func (r *Runtime) connectOne(ctx context.Context, i int, h string, cfg *ssh.ClientConfig) (*Node, error) {
	hp, err := hostPort(h)
	if err != nil {
		return nil, err
	}
	cli, err := dial(ctx, hp, cfg, r.keys)
	if err != nil {
		return nil, err
	}
	ap, err := netip.ParseAddrPort(cli.RemoteAddr().String())
	if err != nil {
		cli.Close()
		return nil, fmt.Errorf("%s: its address %s: %w", h, cli.RemoteAddr(), err)
	}
	n := &Node{name: fmt.Sprintf("n%d", i+1), host: h, addr: ap.Addr().Unmap(), cli: cli, sudo: r.cfg.User != "root",
		slots: make(chan struct{}, maxSessions)}
	res, err := n.execUnmarked(ctx, "id", "-u")
	if err != nil {
		cli.Close()
		if n.sudo {
			return nil, fmt.Errorf("%s (%s): commands must run as root through `sudo -n` without a password for %s: %w", n.name, h, r.cfg.User, err)
		}
		return nil, fmt.Errorf("%s (%s): %w", n.name, h, err)
	}
	if uid := strings.TrimSpace(string(res.Stdout)); uid != "0" {
		cli.Close()
		return nil, fmt.Errorf("%s (%s): commands run as uid %s, not root", n.name, h, uid)
	}
	return n, nil
}

// CheckHost connects to every machine, so that unreachable machines, a
// bad key or an unknown host key stop the run before anything is stored.
func (r *Runtime) CheckHost(ctx context.Context, needs node.Needs, progress node.Progress) error {
	nodes, err := r.connect(ctx)
	if err != nil {
		return err
	}
	progress.Printf("ssh: connected to %d machines as %s", len(nodes), r.cfg.User)
	return nil
}

// Install installs sw on every machine that lacks its recipe's marker:
// a second run of the same software installs nothing.
func (r *Runtime) Install(ctx context.Context, sw node.Software, progress node.Progress) (node.Installation, error) {
	nodes, err := r.connect(ctx)
	if err != nil {
		return node.Installation{}, err
	}
	rc, locals, err := newRecipe(ctx, sw, progress)
	if err != nil {
		return node.Installation{}, err
	}
	inst := node.Installation{Ref: "ssh:" + sw.Name + ":" + rc.hash(), Software: sw}
	var todo []*Node
	for _, n := range nodes {
		ok, err := installed(ctx, n, rc)
		if err != nil {
			return inst, fmt.Errorf("install %s: %w", sw.Name, err)
		}
		if !ok {
			todo = append(todo, n)
		}
	}
	if len(todo) == 0 {
		progress.Printf("ssh: %s already installed on all %d machines (%s)", sw.Name, len(nodes), inst.Ref)
		return inst, nil
	}
	bins := locals
	for _, b := range sw.Binaries {
		p, err := gobuild.Build(ctx, b, progress)
		if err != nil {
			return inst, fmt.Errorf("install %s: %w", sw.Name, err)
		}
		bins[b.Name] = p
	}
	// Downloads share one cache (and its lock); the machines install in
	// parallel.
	err = node.Each(asNodes(todo), func(nn node.Node) error {
		return installOn(ctx, nn.(*Node), rc, sw, bins, progress)
	})
	if err != nil {
		return inst, fmt.Errorf("install %s: %w", sw.Name, err)
	}
	return inst, nil
}

// Preflight checks the faults' mechanisms on every machine: iptables for
// partitions; for clock faults it copies the clock injector there (once:
// an identical file stays) and skews a throwaway process with it.
func (r *Runtime) Preflight(ctx context.Context, runID string, inst node.Installation, needs node.Needs, progress node.Progress) error {
	if !needs.Any() {
		return nil
	}
	nodes, err := r.connect(ctx)
	if err != nil {
		return err
	}
	var bin, sum string
	if needs.Clock {
		if bin, sum, err = clockInjector(ctx, progress); err != nil {
			return fmt.Errorf("fault clock cannot work here: %w", err)
		}
	}
	const chain = "FAULTLINE-PREFLIGHT"
	return node.Each(asNodes(nodes), func(nn node.Node) error {
		n := nn.(*Node)
		if needs.Iptables {
			script := fmt.Sprintf("iptables -w -N %[1]s 2>/dev/null || iptables -w -F %[1]s; iptables -w -X %[1]s", chain)
			if _, err := n.execUnmarked(ctx, "sh", "-c", script); err != nil {
				return fmt.Errorf("fault partition cannot work on %s (%s): %w", n.name, n.host, err)
			}
		}
		if needs.Packet {
			// The statistic match and TEE are kernel modules loaded on
			// first use; a machine without tc cannot cap a rate.
			if _, err := n.execUnmarked(ctx, "sh", "-c", "command -v tc >/dev/null && command -v ip >/dev/null"); err != nil {
				return fmt.Errorf("fault packet cannot work on %s (%s): tc or ip missing: %w", n.name, n.host, err)
			}
		}
		if needs.Delay {
			return fmt.Errorf("fault delay cannot work on %s (%s): the ssh runtime runs no packet delayer yet", n.name, n.host)
		}
		if needs.Clock {
			if err := ensureInjector(ctx, n, bin, sum); err != nil {
				return fmt.Errorf("fault clock cannot work on %s (%s): %w", n.name, n.host, err)
			}
		}
		return nil
	})
}

// StartCluster claims the first n machines for runID: each records the run
// (refusing when another run holds it) and a list of the paths that exist,
// so that teardown removes what the run creates.
func (r *Runtime) StartCluster(ctx context.Context, runID string, inst node.Installation, n int) (node.RunningCluster, error) {
	nodes, err := r.connect(ctx)
	if err != nil {
		return nil, err
	}
	if n < 1 || n > len(nodes) {
		return nil, fmt.Errorf("the run wants %d nodes but %d machines are listed", n, len(nodes))
	}
	c := &Cluster{runID: runID, user: r.cfg.User}
	rec, err := newRunRecord(runID)
	if err != nil {
		return nil, err
	}
	for _, m := range nodes[:n] {
		// A node value per run: the run id marks the processes it starts.
		c.nodes = append(c.nodes, &Node{name: m.name, host: m.host, addr: m.addr, cli: m.cli, sudo: m.sudo, runID: runID, slots: m.slots})
	}
	claimed := make([]bool, n)
	err = node.Each(c.Nodes(), func(nn node.Node) error {
		m := nn.(*Node)
		if err := claim(ctx, m, rec); err != nil {
			return err
		}
		for i, x := range c.nodes {
			if x == m {
				claimed[i] = true
			}
		}
		return nil
	})
	if err != nil {
		// Give back what this run claimed, nothing else.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		for i, m := range c.nodes {
			if claimed[i] {
				err = errors.Join(err, teardown(cctx, m, runID))
			}
		}
		return nil, err
	}
	return c, nil
}

func asNodes(ns []*Node) []node.Node {
	out := make([]node.Node, len(ns))
	for i, n := range ns {
		out[i] = n
	}
	return out
}

// Cluster is the machines of one run.
type Cluster struct {
	runID string
	user  string
	nodes []*Node
}

// Nodes returns n1..nN.
func (c *Cluster) Nodes() []node.Node { return asNodes(c.nodes) }

// Describe is one line for people.
func (c *Cluster) Describe() string {
	var hs []string
	for _, n := range c.nodes {
		hs = append(hs, n.addr.String())
	}
	return fmt.Sprintf("%d machines over SSH as %s: %s", len(c.nodes), c.user, strings.Join(hs, " "))
}

// Remove tears every machine down (see teardown); the connections stay
// open for the runtime's next run.
func (c *Cluster) Remove(ctx context.Context) error {
	return node.Each(c.Nodes(), func(nn node.Node) error { return teardown(ctx, nn.(*Node), c.runID) })
}

// Machines is the number of machines listed.
func (r *Runtime) Machines() int { return len(r.cfg.Hosts) }
