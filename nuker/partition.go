package nuker

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"

	"github.com/faultline/faultline/harness/node"
)

// Chain is the iptables chain faultline owns in each node's filter table. It
// is jumped to from INPUT; healing flushes only this chain, so rules others
// put on the node (Docker's, the target's) are never touched.
const Chain = "FAULTLINE"

// ApplyGrudge makes every node drop inbound traffic from the nodes g lists
// for it, by their addresses, and nothing else: the controller and clients
// keep reaching every node. On each node faultline's chain is created and
// hooked into INPUT when missing, then flushed and refilled, so a node g does
// not mention is healed. iptables runs on node.ToolsOf(n), which acts in
// n's network namespace. Nodes are done in parallel. It returns the sorted
// names of the nodes where the rules are in place and the errors of the
// others, joined.
func ApplyGrudge(ctx context.Context, nodes []node.Node, g Grudge) ([]string, error) {
	addrs := map[string]netip.Addr{}
	for _, n := range nodes {
		addrs[n.Name()] = n.Addr().Unmap()
	}
	for a, bs := range g {
		if _, ok := addrs[a]; !ok {
			return nil, fmt.Errorf("apply grudge: unknown node %q", a)
		}
		for _, b := range bs {
			if _, ok := addrs[b]; !ok {
				return nil, fmt.Errorf("apply grudge: node %s drops unknown node %q", a, b)
			}
			if b == a {
				return nil, fmt.Errorf("apply grudge: node %s cannot drop itself", a)
			}
		}
	}
	v6 := false
	for _, a := range addrs {
		v6 = v6 || a.Is6()
	}
	return onEach(ctx, nodes, func(ctx context.Context, n node.Node) error {
		var drops []netip.Addr
		for _, b := range g[n.Name()] {
			drops = append(drops, addrs[b])
		}
		if _, err := node.ToolsOf(n).Exec(ctx, "sh", "-c", applyScript(drops, v6)); err != nil {
			return fmt.Errorf("partition %s: %w", n.Name(), err)
		}
		return nil
	})
}

// HealPartition flushes faultline's chain on every node, in parallel,
// leaving the chain and its INPUT jump for the next partition. It is
// idempotent: a node without the chain is already healed. It returns the
// sorted names of the healed nodes and the errors of the others, joined.
func HealPartition(ctx context.Context, nodes []node.Node) ([]string, error) {
	return onEach(ctx, nodes, func(ctx context.Context, n node.Node) error {
		if _, err := node.ToolsOf(n).Exec(ctx, "sh", "-c", healScript()); err != nil {
			return fmt.Errorf("heal partition on %s: %w", n.Name(), err)
		}
		return nil
	})
}

// RemovePartitions flushes and deletes faultline's chain and its INPUT jump
// on every node where they exist, in parallel. It needs no knowledge of what
// was applied, so it suits startup (leftovers of a crashed controller) and
// teardown.
func RemovePartitions(ctx context.Context, nodes []node.Node) error {
	_, err := onEach(ctx, nodes, func(ctx context.Context, n node.Node) error {
		if _, err := node.ToolsOf(n).Exec(ctx, "sh", "-c", removeScript()); err != nil {
			return fmt.Errorf("remove partition chain on %s: %w", n.Name(), err)
		}
		return nil
	})
	return err
}

// iptables returns the command for addr's family; -w waits for the xtables
// lock instead of failing when another iptables runs.
func iptables(a netip.Addr) string {
	if a.Is6() {
		return "ip6tables -w"
	}
	return "iptables -w"
}

// applyScript sets up the chain (both families when the cluster has IPv6
// addresses), flushes it and adds one DROP per dropped peer. -N fails when
// the chain exists, and then -F reports any real error.
func applyScript(drops []netip.Addr, v6 bool) string {
	tools := []string{"iptables -w"}
	if v6 {
		tools = append(tools, "ip6tables -w")
	}
	var sb strings.Builder
	sb.WriteString("set -e\n")
	for _, t := range tools {
		fmt.Fprintf(&sb, "%s -N %s 2>/dev/null || %s -F %s\n", t, Chain, t, Chain)
		fmt.Fprintf(&sb, "%s -C INPUT -j %s 2>/dev/null || %s -I INPUT 1 -j %s\n", t, Chain, t, Chain)
	}
	for _, a := range drops {
		fmt.Fprintf(&sb, "%s -A %s -s %s -j DROP\n", iptables(a), Chain, a)
	}
	return sb.String()
}

// healScript flushes our chain in both families where it exists; a missing
// chain (or a missing ip6tables) means there is nothing to heal.
func healScript() string {
	var sb strings.Builder
	sb.WriteString("set -e\n")
	for _, t := range []string{"iptables -w", "ip6tables -w"} {
		fmt.Fprintf(&sb, "if %s -n -L %s >/dev/null 2>&1; then %s -F %s; fi\n", t, Chain, t, Chain)
	}
	return sb.String()
}

// removeScript deletes every INPUT jump to our chain, then the chain.
func removeScript() string {
	var sb strings.Builder
	sb.WriteString("set -e\n")
	for _, t := range []string{"iptables -w", "ip6tables -w"} {
		fmt.Fprintf(&sb, "if %s -n -L %s >/dev/null 2>&1; then\n", t, Chain)
		fmt.Fprintf(&sb, "  %s -F %s\n", t, Chain)
		fmt.Fprintf(&sb, "  while %s -D INPUT -j %s 2>/dev/null; do :; done\n", t, Chain)
		fmt.Fprintf(&sb, "  %s -X %s\n", t, Chain)
		sb.WriteString("fi\n")
	}
	return sb.String()
}

// onEach runs f on every node in parallel. It returns the sorted names of
// the nodes where f succeeded and the failures joined in node order, so the
// result does not depend on timing.
func onEach(ctx context.Context, nodes []node.Node, f func(context.Context, node.Node) error) ([]string, error) {
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() { errs[i] = f(ctx, n) })
	}
	wg.Wait()
	var ok []string
	for i, n := range nodes {
		if errs[i] == nil {
			ok = append(ok, n.Name())
		}
	}
	sort.Strings(ok)
	return ok, errors.Join(errs...)
}
