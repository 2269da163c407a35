package ssh_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/harness/node"
	fssh "github.com/faultline/faultline/harness/ssh"
	"github.com/faultline/faultline/harness/ssh/sshtest"
	"github.com/faultline/faultline/nuker/clock/clocktest"
)

// TestClockSkewOverSSH: after Preflight has put the injector on the
// machine, SetClockOffset moves the wall clock a daemon sees (a Go probe
// rewriting a file with its clock) by the offset while the machine's own
// clock stays, and zero gives the true clock back.
func TestClockSkewOverSSH(t *testing.T) {
	ms := sshtest.Start(t, 1)
	probe := clocktest.BuildGo(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	rt, err := fssh.NewRuntime(ms.Config(sshtest.SudoUser))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	inst, err := rt.Install(ctx, node.Software{Name: "clockprobe", Files: []node.File{{Src: probe, Dst: "/usr/local/bin/goprobe"}}}, logf(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Preflight(ctx, "clock-test", inst, node.Needs{Clock: true}, logf(t)); err != nil {
		t.Fatalf("preflight: %v", err)
	}
	cl, err := rt.StartCluster(ctx, "clock-test", inst, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := cl.Remove(ctx); err != nil {
			t.Error(err)
		}
	}()
	n := cl.Nodes()[0]
	d := node.Daemon{Name: "probe", Argv: []string{"/usr/local/bin/goprobe", "loop", "/tmp/probe.out"}}
	if err := d.Start(ctx, n); err != nil {
		t.Fatal(err)
	}
	// skew is how far the probe's wall clock is from the machine's.
	skew := func() time.Duration {
		t.Helper()
		var last error
		for range 50 {
			res, err := n.Exec(ctx, "sh", "-c", "cat /tmp/probe.out; date +%s%N")
			if err == nil {
				lines := strings.Split(strings.TrimSpace(string(res.Stdout)), "\n")
				if len(lines) == 2 {
					s, perr := clocktest.Parse(lines[0])
					now, nerr := strconv.ParseInt(lines[1], 10, 64)
					if perr == nil && nerr == nil {
						return time.Duration(s.Wall - now)
					}
					last = perr
				}
			} else {
				last = err
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("probe output unreadable: %v", last)
		return 0
	}
	if s := skew(); s.Abs() > 2*time.Second {
		t.Fatalf("probe is %s off before any fault", s)
	}
	c, ok := n.(node.Clock)
	if !ok {
		t.Fatal("an SSH node is not a node.Clock")
	}
	if err := c.SetClockOffset(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if s := skew(); (s - time.Hour).Abs() > 2*time.Second {
		t.Errorf("probe is %s off after a +1h skew", s)
	}
	if got, err := c.ClockOffset(ctx); err != nil || (got-time.Hour).Abs() > time.Second {
		t.Errorf("ClockOffset = %s %v, want 1h", got, err)
	}
	if err := c.SetClockOffset(ctx, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if s := skew(); s.Abs() > 2*time.Second {
		t.Errorf("probe is %s off after the reset", s)
	}
}
