package ssh_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/harness/node"
	fssh "github.com/faultline/faultline/harness/ssh"
	"github.com/faultline/faultline/harness/ssh/sshtest"
	"github.com/faultline/faultline/nuker"
)

// TestCleanFreesAbandonedMachines: a run whose controller died (its pid
// is gone) left a process, a partition chain and a data directory on the
// machines; Clean removes them and frees the machines. A run recorded by
// another controller host is kept unless forced.
func TestCleanFreesAbandonedMachines(t *testing.T) {
	ms := sshtest.Start(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	rt, err := fssh.NewRuntime(ms.Config("root"))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	inst, err := rt.Install(ctx, node.Software{Name: "clean"}, logf(t))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := rt.StartCluster(ctx, "abandoned", inst, 2)
	if err != nil {
		t.Fatal(err)
	}
	nodes := cl.Nodes()
	d := node.Daemon{Name: "sleeper", Argv: []string{"sleep", "1000"}, Dir: "/var/lib/abandoned"}
	for _, n := range nodes {
		if err := d.Start(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := nuker.ApplyGrudge(ctx, nodes, nuker.Grudge{"n1": {"n2"}}); err != nil {
		t.Fatal(err)
	}
	// The controller "dies": its record now names a pid that is gone (n1)
	// and a controller on another host (n2).
	host, _ := os.Hostname()
	rewrite := func(n node.Node, controller string) {
		t.Helper()
		script := `sed -i 's/"controller":"[^"]*"/"controller":"` + controller + `"/; s/"pid":[0-9]*/"pid":999999999/' /var/lib/faultline/run/run.json`
		if _, err := n.Exec(ctx, "sh", "-c", script); err != nil {
			t.Fatal(err)
		}
	}
	rewrite(nodes[0], host)
	rewrite(nodes[1], "elsewhere")

	res, err := rt.Clean(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || !res[0].Removed || res[1].Removed || !strings.Contains(res[1].Why, "elsewhere") {
		t.Fatalf("clean: %+v; want n1 removed, n2 kept (another controller host)", res)
	}
	state := func(n node.Node) string {
		out, err := n.Exec(ctx, "sh", "-c", "pgrep -x sleep; ls -d /var/lib/abandoned /var/lib/faultline/run/run.json; iptables -w -S | grep FAULTLINE; true")
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out.Stdout))
	}
	if s := state(nodes[0]); s != "" {
		t.Errorf("n1 after clean: %q", s)
	}
	if s := state(nodes[1]); !strings.Contains(s, "/var/lib/abandoned") {
		t.Errorf("n2 was cleaned though kept: %q", s)
	}
	res, err = rt.Clean(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if !res[1].Removed {
		t.Errorf("forced clean kept n2: %+v", res[1])
	}
	if s := state(nodes[1]); s != "" {
		t.Errorf("n2 after forced clean: %q", s)
	}
	if res, err := rt.Clean(ctx, true); err != nil || res[0].Record.RunID != "" || res[1].Record.RunID != "" {
		t.Errorf("a third clean found %+v %v, want nothing", res, err)
	}
}
