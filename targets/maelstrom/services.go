package maelstrom

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/targets/maelstrom/services"
)

// startServices serves Maelstrom's services (lin-kv, seq-kv, lww-kv,
// lin-tso) from the controller, as Maelstrom serves them from its own
// process, on the address the nodes reach the controller at. It returns
// the shim flags that route the nodes' messages to them. A server of an
// earlier Setup is closed first.
func (t *Target) startServices(ctx context.Context, nodes []node.Node) ([]string, error) {
	if t.services != nil {
		_ = t.services.Close()
		t.services = nil
	}
	if len(nodes) == 0 {
		return nil, nil
	}
	ip, err := controllerIP(ctx, nodes[0])
	if err != nil {
		return nil, err
	}
	srv, err := services.Listen(net.JoinHostPort(ip.String(), "0"), services.Default(rand.Uint64()), t.log)
	if err != nil {
		return nil, err
	}
	t.services = srv
	t.log.Info("maelstrom services listening", "addr", srv.Addr(), "services", srv.Names())
	return []string{"-services", srv.Addr(), "-service-names", strings.Join(srv.Names(), ",")}, nil
}

// controllerIP is this machine's address on the route to n: the local
// end of a UDP "connection", which sends nothing, so it works whatever
// runs the nodes (a Docker bridge, a real network).
func controllerIP(ctx context.Context, n node.Node) (net.IP, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", net.JoinHostPort(n.Addr().String(), strconv.Itoa(PeerPort)))
	if err != nil {
		return nil, fmt.Errorf("maelstrom services: find the controller's address towards %s: %w", n.Name(), err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP, nil
}

// ServiceTraffic returns, per service and per calling node, the messages
// Maelstrom's services took and answered during the run (also after
// Close); nil before Setup.
func (t *Target) ServiceTraffic() map[string]map[string]services.Traffic {
	if t.services == nil {
		return nil
	}
	return t.services.Traffic()
}

// Close implements io.Closer: the harness calls it when the run ends; the
// reading of the shims' counts and the services stop, and what the
// services served goes to the run's log.
func (t *Target) Close() error {
	if t.net != nil {
		t.net.close()
	}
	if t.services == nil {
		return nil
	}
	err := t.services.Close()
	for svc, byNode := range t.services.Traffic() {
		var req, rep int64
		for _, tr := range byNode {
			req, rep = req+tr.Requests, rep+tr.Replies
		}
		t.log.Info("maelstrom service traffic", "service", svc, "requests", req, "replies", rep, "by_node", byNode)
	}
	return err
}

// serviceCounts is what each node exchanged with the services so far,
// requests and replies, for the network statistics.
func (t *Target) serviceCounts() map[string]int64 {
	if t.services == nil {
		return nil
	}
	out := map[string]int64{}
	for _, byNode := range t.services.Traffic() {
		for n, tr := range byNode {
			out[n] += tr.Requests + tr.Replies
		}
	}
	return out
}
