package zookeeper

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/go-zookeeper/zk"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/targets/targettest"
	"github.com/faultline/faultline/workloads"
)

func TestSoftware(t *testing.T) {
	for _, v := range []string{"", DefaultVersion} {
		sw, err := Software(v)
		if err != nil || sw.Name != "zookeeper" || !slices.Equal(sw.Packages, []string{"zookeeper"}) || len(sw.Binaries) != 0 {
			t.Errorf("Software(%q) = %+v, %v", v, sw, err)
		}
	}
	for _, v := range []string{"3.9", "3.8.4", "latest"} {
		if _, err := Software(v); err == nil {
			t.Errorf("Software(%q) accepted a release Debian does not ship", v)
		}
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		opts  map[string]string
		reads string
		err   string
	}{
		{nil, ReadsPlain, ""},
		{map[string]string{"reads": "plain"}, ReadsPlain, ""},
		{map[string]string{"reads": "sync"}, ReadsSync, ""},
		{map[string]string{"reads": "linearizable"}, "", "reads="},
		{map[string]string{"reads": ""}, "", "reads="},
		{map[string]string{"read": "sync"}, "", "unknown option"},
		{map[string]string{"a": "1", "b": "2"}, "", `unknown option "a"`}, // the same error every time
	}
	for _, tt := range tests {
		tg, err := New("", tt.opts)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || strings.Contains(err.Error(), "\n") {
				t.Errorf("New(%v) err=%v, want one line with %q", tt.opts, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("New(%v): %v", tt.opts, err)
			continue
		}
		if got := tg.Settings()["reads"]; got != tt.reads {
			t.Errorf("New(%v): reads=%q, want %q", tt.opts, got, tt.reads)
		}
		if c := tg.newClient(newFakeNode("n1", "10.1.0.2")); c.sync != (tt.reads == ReadsSync) || c.server != "10.1.0.2:2181" {
			t.Errorf("New(%v): client sync=%v server=%s", tt.opts, c.sync, c.server)
		}
	}
	for k := range Options() {
		if _, ok := defaultSettings().values()[k]; !ok {
			t.Errorf("option %s is described but has no setting", k)
		}
	}
	if _, err := New("3.9", nil); err == nil {
		t.Error("New accepted version 3.9")
	}
}

func TestRenderConfig(t *testing.T) {
	peers := []netip.Addr{netip.MustParseAddr("10.1.0.2"), netip.MustParseAddr("10.1.0.3"), netip.MustParseAddr("10.1.0.4")}
	conf := renderConfig(peers)
	for _, w := range []string{
		"tickTime=500\n", "initLimit=10\n", "syncLimit=5\n", "dataDir=/var/lib/zookeeper/faultline\n",
		"clientPort=2181\n", "4lw.commands.whitelist=srvr,mntr,ruok,stat\n", "admin.enableServer=false\n",
		"server.1=10.1.0.2:2888:3888\n", "server.2=10.1.0.3:2888:3888\n", "server.3=10.1.0.4:2888:3888\n",
	} {
		if !strings.Contains(conf, w) {
			t.Errorf("zoo.cfg lacks %q:\n%s", w, conf)
		}
	}
	if strings.Contains(conf, "server.4") || strings.Contains(conf, "server.0") {
		t.Errorf("zoo.cfg has servers beyond 1..3:\n%s", conf)
	}
	if !strings.Contains(log4jConfig, "log4j.rootLogger=${zookeeper.root.logger}") || !strings.Contains(log4jConfig, "ConsoleAppender") {
		t.Errorf("log4j.properties does not log to the console:\n%s", log4jConfig)
	}
}

func TestDaemon(t *testing.T) {
	d := daemon()
	argv := strings.Join(d.Argv, " ")
	for _, w := range []string{
		"/usr/bin/java ", "-Xmx256m", "-XX:+UseSerialGC", "-Dzookeeper.root.logger=INFO,CONSOLE",
		"-cp " + confDir + ":/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar ",
		"org.apache.zookeeper.server.quorum.QuorumPeerMain " + confPath,
	} {
		if !strings.Contains(argv, w) {
			t.Errorf("argv %q lacks %q", argv, w)
		}
	}
	if !slices.Contains((&Target{}).LogFiles(), d.LogPath()) {
		t.Errorf("LogFiles %v lack the daemon's log %s", (&Target{}).LogFiles(), d.LogPath())
	}
}

func TestParseMode(t *testing.T) {
	tests := []struct {
		out, mode string
		err       error
	}{
		{"Zookeeper version: 3.8.0-debian\nLatency min/avg/max: 0/0.0/0\nZxid: 0x100000002\nMode: leader\nNode count: 5\n", modeLeader, nil},
		{"Zookeeper version: 3.8.0\nMode: follower\n", modeFollower, nil},
		{"Mode: standalone\n", modeStandalone, nil},
		{"This ZooKeeper instance is not currently serving requests\n", "", errNotServing},
		{"", "", nil},
		{"srvr is not executed because it is not in the whitelist.\n", "", nil},
	}
	for _, tt := range tests {
		mode, err := parseMode(tt.out)
		if mode != tt.mode {
			t.Errorf("parseMode(%q) = %q, want %q", tt.out, mode, tt.mode)
		}
		if tt.mode == "" && err == nil {
			t.Errorf("parseMode(%q): no error", tt.out)
		}
		if tt.err != nil && !errors.Is(err, tt.err) {
			t.Errorf("parseMode(%q) err=%v, want %v", tt.out, err, tt.err)
		}
	}
}

func TestCheckModes(t *testing.T) {
	tests := []struct {
		modes []string
		ok    bool
	}{
		{[]string{"leader", "follower", "follower"}, true},
		{[]string{"standalone"}, true},
		{[]string{"follower", "follower", "leader", "follower", "observer"}, true},
		{[]string{"follower", "follower", "follower"}, false},
		{[]string{"leader", "leader", "follower"}, false},
		{[]string{"leader", "", "follower"}, false},
	}
	for _, tt := range tests {
		if err := checkModes(tt.modes); (err == nil) != tt.ok {
			t.Errorf("checkModes(%v) = %v, want ok=%v", tt.modes, err, tt.ok)
		}
	}
}

// TestClassify: only errors after which ZooKeeper certainly did nothing
// are definite; a lost connection, an expired session and a timeout must
// stay indeterminate, or the checker raises false alarms.
func TestClassify(t *testing.T) {
	tests := []struct {
		err      error
		definite bool
	}{
		{zk.ErrNodeExists, true},
		{zk.ErrNoNode, true},
		{zk.ErrBadVersion, true},
		{zk.ErrNotEmpty, true},
		{zk.ErrBadArguments, true},
		{zk.ErrNoAuth, true},
		{zk.ErrNoServer, true},
		{fmt.Errorf("write 3 on n1: %w", zk.ErrBadVersion), true},
		{workloads.Definite(errNotConnected), true},
		{zk.ErrConnectionClosed, false},
		{zk.ErrSessionExpired, false},
		{zk.ErrClosing, false},
		{fmt.Errorf("cas 3 on n1: %w: %w", errNoAnswer, context.DeadlineExceeded), false},
		{errors.New("something odd"), false},
	}
	var cases []targettest.ClassCase
	for _, tt := range tests {
		want := targettest.Indeterminate
		if tt.definite {
			want = targettest.Definite
		}
		cases = append(cases, targettest.ClassCase{Name: fmt.Sprint(tt.err), Err: tt.err, Want: want})
	}
	// The kit adds the rules every target shares (timeouts and
	// cancellations stay indeterminate, causes are kept, nil is nil).
	targettest.Classify(t, classify, cases)
}

func TestLockSequence(t *testing.T) {
	tests := []struct {
		name string
		seq  int64
		ok   bool
	}{
		{"lock-0000000007", 7, true},
		{"/faultline/lock/3/lock-0000000012", 12, true},
		{"lock-", 0, false},
		{"lock-x", 0, false},
		{"other", 0, false},
	}
	for _, tt := range tests {
		seq, ok := seqOf(tt.name)
		if seq != tt.seq || ok != tt.ok {
			t.Errorf("seqOf(%q) = %d, %v; want %d, %v", tt.name, seq, ok, tt.seq, tt.ok)
		}
	}
	if low, ok := lowest([]string{"lock-0000000010", "stray", "lock-0000000003", "lock-0000000011"}); !ok || low != 3 {
		t.Errorf("lowest = %d, %v; want 3", low, ok)
	}
	if fencingToken(0) == 0 || fencingToken(7) <= fencingToken(6) {
		t.Error("fencing tokens must be nonzero and grow with the sequence number")
	}
	if _, ok := lowest([]string{"stray"}); ok {
		t.Error("lowest found a contender among none")
	}
}

// TestCASWithoutVersion: a cas whose old value has no known version sends
// nothing, and a cas on 0 (never written) is a definite no.
func TestCASWithoutVersion(t *testing.T) {
	tg, err := New("", nil)
	if err != nil {
		t.Fatal(err)
	}
	c := tg.newClient(newFakeNode("n1", "10.1.0.2"))
	if ok, err := c.CAS(context.Background(), "1", 0, 5); ok || err != nil {
		t.Errorf("cas from 0: %v, %v; want a definite no", ok, err)
	}
	if _, err := c.CAS(context.Background(), "1", 4, 5); !workloads.IsDefinite(err) || workloads.IsAnswered(err) {
		t.Errorf("cas from an unknown version: %v; want definite (nothing sent), not answered", err)
	}
	if c.conn != nil {
		t.Error("a cas with nothing to send connected")
	}
	// The client shares the target's versions.
	tg.versions.Remember("1", 4, 2)
	if v, ok := c.versions.Of("1", 4); !ok || v != 2 {
		t.Errorf("the client sees version(1, 4) = %d, %v", v, ok)
	}
}

// fakeNode is a node.Node that only has a name and an address.
type fakeNode struct {
	node.Node
	name string
	addr netip.Addr
}

func newFakeNode(name, addr string) fakeNode {
	return fakeNode{name: name, addr: netip.MustParseAddr(addr)}
}

func (n fakeNode) Name() string     { return n.name }
func (n fakeNode) Addr() netip.Addr { return n.addr }
