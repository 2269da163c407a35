package maelstrom

import (
	"context"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/targets/maelstrom/services"
)

// TestShimRoutesToServices runs three shims around svcproxy, a node that
// keeps nothing and forwards every request to a service, with the service
// server on loopback: a write through n1 is read through n3 (lin-kv is
// one store for all), and the server counts each node's messages.
func TestShimRoutesToServices(t *testing.T) {
	srv, err := services.Listen("127.0.0.1:0", services.Default(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	flags := []string{"-services", srv.Addr(), "-service-names", strings.Join(srv.Names(), ",")}
	shims := startShimsWith(t, 3, 5*time.Second, flags, filepath.Join(built(t), "svcproxy"))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	c1, c3 := dialRetry(t, shims[0].client), dialRetry(t, shims[2].client)

	if _, found, err := c3.Read(ctx, "k"); err != nil || found {
		t.Fatalf("read of a missing key: found=%v err=%v, want not found (error 20 from lin-kv)", found, err)
	}
	if err := c1.Write(ctx, "k", 7); err != nil {
		t.Fatal(err)
	}
	if v, found, err := c3.Read(ctx, "k"); err != nil || !found || v != 7 {
		t.Fatalf("n3 reads %d %v %v, want 7 (written through n1)", v, found, err)
	}
	if ok, err := c3.CAS(ctx, "k", 1, 2); err != nil || ok {
		t.Fatalf("cas 1->2 on 7: %v %v, want a failed comparison (error 22)", ok, err)
	}
	if ok, err := c1.CAS(ctx, "k", 7, 8); err != nil || !ok {
		t.Fatalf("cas 7->8: %v %v, want swapped", ok, err)
	}
	// A reply is counted once flushed, which may be just after the
	// client has it.
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		got := srv.Traffic()[services.LinKV]
		if got["n1"] == (services.Traffic{Requests: 2, Replies: 2}) && got["n3"] == (services.Traffic{Requests: 3, Replies: 3}) && len(got) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lin-kv traffic %v, want n1 2/2 and n3 3/3", got)
		}
	}
}

// TestControllerIP: the address found towards a node is one this machine
// can listen on.
func TestControllerIP(t *testing.T) {
	ip, err := controllerIP(t.Context(), addrNode{name: "n1", addr: netip.MustParseAddr("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	if !ip.IsLoopback() {
		t.Fatalf("towards 127.0.0.1: %v, want a loopback address", ip)
	}
}

// addrNode is a node that has only a name and an address.
type addrNode struct {
	node.Node
	name string
	addr netip.Addr
}

func (n addrNode) Name() string     { return n.name }
func (n addrNode) Addr() netip.Addr { return n.addr }
