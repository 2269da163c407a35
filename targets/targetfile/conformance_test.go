package targetfile

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/targets/etcd"
	"github.com/faultline/faultline/targets/httpjson"
	"github.com/faultline/faultline/targets/protocols"
	"github.com/faultline/faultline/targets/targettest"
	"github.com/faultline/faultline/workloads"
)

// TestStatic runs the target kit's static checks on every example file.
func TestStatic(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) < 4 {
		t.Fatalf("testdata: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			tg, err := Load(f, fakeProtocols())
			if err != nil {
				t.Fatal(err)
			}
			targettest.Static(t, tg)
		})
	}
}

// etcdProtocol speaks the etcd v3 API through the built-in etcd target's
// client, until the protocol catalog has its own "etcd".
func etcdProtocol() protocols.Protocol {
	return protocols.Protocol{
		Name: "etcd", Summary: "etcd v3 API (the built-in target's client)", DefaultPort: etcd.ClientPort,
		Workloads: []string{"register", "set", "lock"},
		Options:   etcd.Options(),
		Dial: func(ctx context.Context, addr string, opts map[string]string) (workloads.Client, error) {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			if port != strconv.Itoa(etcd.ClientPort) {
				return nil, fmt.Errorf("the built-in etcd client dials port %d only, not %s", etcd.ClientPort, port)
			}
			ip, err := netip.ParseAddr(host)
			if err != nil {
				return nil, err
			}
			tg, err := etcd.New("", opts)
			if err != nil {
				return nil, err
			}
			return tg.NewClient(ctx, addrNode{ip})
		},
	}
}

// addrNode is only an address: what the etcd client needs of a node.
type addrNode struct{ addr netip.Addr }

func (n addrNode) Name() string     { return n.addr.String() }
func (n addrNode) Addr() netip.Addr { return n.addr }
func (n addrNode) Exec(context.Context, ...string) (node.ExecResult, error) {
	return node.ExecResult{}, fmt.Errorf("addrNode runs nothing")
}
func (n addrNode) ExecDetached(context.Context, ...string) error {
	return fmt.Errorf("addrNode runs nothing")
}
func (n addrNode) WriteFile(context.Context, string, []byte, int64) error {
	return fmt.Errorf("addrNode holds no files")
}
func (n addrNode) CopyOut(context.Context, string, string) error {
	return fmt.Errorf("addrNode holds no files")
}

// TestConformanceEtcdFile runs the target kit on testdata/etcd.yaml in
// Docker: the file's etcd builds (the built-in target's image: the same
// software), gets healthy by its /health, survives kill and pause of its
// daemon, and a fault-free run is valid.
func TestConformanceEtcdFile(t *testing.T) {
	tg, err := Load("testdata/etcd.yaml", protocols.Catalog{"etcd": etcdProtocol(), httpjson.Name: httpjson.Protocol()})
	if err != nil {
		t.Fatal(err)
	}
	targettest.Conformance(t, tg, targettest.Options{Workload: workloads.Register{}, Nodes: 3})
}
