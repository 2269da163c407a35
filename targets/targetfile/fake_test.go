package targetfile

import (
	"context"
	"net/netip"
	"strings"
	"sync"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/targets/protocols"
	"github.com/faultline/faultline/workloads"
)

// fakeNode is a node.Node that records what is run on it. reply, when
// set, answers Exec; otherwise every command succeeds with no output.
type fakeNode struct {
	name  string
	addr  netip.Addr
	reply func(argv []string) (node.ExecResult, error)

	mu       sync.Mutex
	execs    [][]string
	detached [][]string
	running  bool // the daemon: started by ExecDetached, ended by a kill -KILL
	dies     bool // the daemon exits as soon as it starts
}

func newFakeNode(name, addr string) *fakeNode {
	return &fakeNode{name: name, addr: netip.MustParseAddr(addr)}
}

func (n *fakeNode) Name() string     { return n.name }
func (n *fakeNode) Addr() netip.Addr { return n.addr }

func (n *fakeNode) Exec(_ context.Context, argv ...string) (node.ExecResult, error) {
	n.mu.Lock()
	n.execs = append(n.execs, argv)
	if len(argv) == 3 && strings.Contains(argv[2], "kill -KILL") {
		n.running = false
	}
	started := n.running
	n.mu.Unlock()
	// node.Daemon.Running's check: the daemon runs once it was started.
	if len(argv) == 3 && strings.Contains(argv[2], "/proc/$p/stat") {
		if started {
			return node.ExecResult{Stdout: []byte("yes\n")}, nil
		}
		return node.ExecResult{Stdout: []byte("no\n")}, nil
	}
	if n.reply != nil {
		return n.reply(argv)
	}
	return node.ExecResult{}, nil
}

func (n *fakeNode) ExecDetached(_ context.Context, argv ...string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.detached = append(n.detached, argv)
	n.running = !n.dies
	return nil
}

func (n *fakeNode) WriteFile(context.Context, string, []byte, int64) error { return nil }
func (n *fakeNode) CopyOut(context.Context, string, string) error          { return nil }

// ran returns the commands run so far, each joined by spaces.
func (n *fakeNode) ran() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, a := range n.execs {
		out = append(out, strings.Join(a, " "))
	}
	return out
}

// fakeClient is what the fake protocols dial.
type fakeClient struct {
	addr string
	opts map[string]string
}

func (c *fakeClient) Close() error { return nil }

var _ workloads.Client = (*fakeClient)(nil)

// fakeProtocols stands in for protocols.Default(), still empty on main.
func fakeProtocols() protocols.Catalog {
	dial := func(_ context.Context, addr string, opts map[string]string) (workloads.Client, error) {
		return &fakeClient{addr: addr, opts: opts}, nil
	}
	return protocols.Catalog{
		"etcd": {Name: "etcd", Summary: "etcd v3 API", DefaultPort: 2379, Workloads: []string{"register", "set", "lock"},
			Options: map[string]string{"read": "linearizable or serializable"}, Dial: dial},
		"kv": {Name: "kv", Summary: "a key-value protocol", DefaultPort: 7000, Workloads: []string{"register", "set"},
			Options: map[string]string{"consistency": "strong or weak", "replication": "sync or async"}, Dial: dial},
		"http-json": protocols.Default()["http-json"], // the real one
		"portless":  {Name: "portless", Summary: "no default port", Workloads: []string{"register"}, Dial: dial},
	}
}
