package ssh_test

import (
	"context"
	"testing"
	"time"

	"github.com/faultline/faultline/harness/node"
	fssh "github.com/faultline/faultline/harness/ssh"
	"github.com/faultline/faultline/harness/ssh/sshtest"
	"github.com/faultline/faultline/nuker"
)

// TestPartitionDropsTraffic: a grudge applied over SSH really cuts the
// machines apart (n1 drops n2, so n2 cannot reach n1's sshd while n3 can),
// healing restores the traffic, and teardown removes the chain.
func TestPartitionDropsTraffic(t *testing.T) {
	ms := sshtest.Start(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	rt, err := fssh.NewRuntime(ms.Config("root"))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	inst, err := rt.Install(ctx, node.Software{Name: "partition"}, logf(t))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := rt.StartCluster(ctx, "partition-test", inst, 3)
	if err != nil {
		t.Fatal(err)
	}
	nodes := cl.Nodes()
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	reach := func(from, to node.Node) bool {
		_, err := from.Exec(ctx, "nc", "-z", "-w", "2", to.Addr().String(), "22")
		return err == nil
	}
	if !reach(n2, n1) || !reach(n3, n1) {
		t.Fatal("machines cannot reach each other before any fault")
	}
	if _, err := nuker.ApplyGrudge(ctx, nodes, nuker.Grudge{"n1": {"n2"}}); err != nil {
		t.Fatal(err)
	}
	if reach(n2, n1) {
		t.Error("n2 reaches n1 through the partition")
	}
	if !reach(n3, n1) {
		t.Error("n3 cannot reach n1, which only drops n2")
	}
	if _, err := nuker.HealPartition(ctx, nodes); err != nil {
		t.Fatal(err)
	}
	if !reach(n2, n1) {
		t.Error("n2 cannot reach n1 after the heal")
	}
	// Partition again and tear down: the teardown removes the chain, so
	// traffic flows without any heal.
	if _, err := nuker.ApplyGrudge(ctx, nodes, nuker.Grudge{"n1": {"n2"}}); err != nil {
		t.Fatal(err)
	}
	if err := cl.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if !reach(n2, n1) {
		t.Error("n2 cannot reach n1 after teardown")
	}
	if res, err := n1.Exec(ctx, "sh", "-c", "iptables -w -S | grep -c FAULTLINE || true"); err != nil || string(res.Stdout) != "0\n" {
		t.Errorf("iptables rules mentioning FAULTLINE after teardown: %q %v", res.Stdout, err)
	}
}
