package maelstrom

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/workloads"
)

// buildOnce builds the embedded shim and the testdata nodes once per test
// binary, into one directory.
var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "maelstrom-test-")
	if err != nil {
		return "", err
	}
	shimDir := filepath.Join(dir, "shimsrc")
	if err := os.MkdirAll(shimDir, 0o755); err != nil {
		return "", err
	}
	// The same throwaway module the image build uses: no requirements.
	if err := os.WriteFile(filepath.Join(shimDir, "main.go"), []byte(shimSource), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(shimDir, "go.mod"), []byte("module shim\n\ngo 1.22\n"), 0o644); err != nil {
		return "", err
	}
	builds := []struct{ dir, out string }{
		{shimDir, filepath.Join(dir, "shim")},
	}
	for _, n := range []string{"leaderkv", "localkv", "exits", "gossip", "svcproxy"} {
		abs, _ := filepath.Abs(filepath.Join("testdata", n))
		builds = append(builds, struct{ dir, out string }{abs, filepath.Join(dir, n)})
	}
	for _, b := range builds {
		cmd := exec.Command("go", "build", "-o", b.out, ".")
		cmd.Dir = b.dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("build %s: %v\n%s", b.dir, err, out)
		}
	}
	return dir, nil
})

func built(t *testing.T) string {
	t.Helper()
	dir, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// localShim is one shim running on this machine.
type localShim struct {
	cmd    *exec.Cmd
	log    *bytes.Buffer
	client string
	done   chan error
}

// startShims runs one shim per node on loopback around program argv.
func startShims(t *testing.T, n int, initTimeout time.Duration, argv ...string) []*localShim {
	t.Helper()
	return startShimsWith(t, n, initTimeout, nil, argv...)
}

// startShimsWith is startShims with extra shim flags.
func startShimsWith(t *testing.T, n int, initTimeout time.Duration, flags []string, argv ...string) []*localShim {
	t.Helper()
	dir := built(t)
	peerPorts := make([]int, n)
	var peers []string
	for i := range n {
		peerPorts[i] = freePort(t)
		peers = append(peers, fmt.Sprintf("n%d=127.0.0.1:%d", i+1, peerPorts[i]))
	}
	var out []*localShim
	for i := range n {
		cport := freePort(t)
		args := []string{"-id", fmt.Sprintf("n%d", i+1), "-peers", strings.Join(peers, ","),
			"-client", "127.0.0.1:" + strconv.Itoa(cport), "-peer", "127.0.0.1:" + strconv.Itoa(peerPorts[i]),
			"-init-timeout", initTimeout.String()}
		args = append(append(args, flags...), "--")
		cmd := exec.Command(filepath.Join(dir, "shim"), append(args, argv...)...)
		s := &localShim{cmd: cmd, log: &bytes.Buffer{}, client: "127.0.0.1:" + strconv.Itoa(cport), done: make(chan error, 1)}
		cmd.Stderr = &syncWriter{w: s.log}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { s.done <- cmd.Wait() }()
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-s.done
			if t.Failed() {
				t.Logf("n%d log:\n%s", i+1, s.log)
			}
		})
		out = append(out, s)
	}
	return out
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// dialRetry dials a shim's client port until it listens (after init).
func dialRetry(t *testing.T, addr string) *Client {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := dial(t.Context(), addr, nil)
		if err == nil {
			t.Cleanup(func() { c.Close() })
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("shim at %s never served: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestShimCarriesMessages runs three shims around leaderkv on loopback:
// a client of n3 is served through n1 over the shims' TCP links, with
// lin-kv's answers classified.
func TestShimCarriesMessages(t *testing.T) {
	shims := startShims(t, 3, 5*time.Second, filepath.Join(built(t), "leaderkv"))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	c3 := dialRetry(t, shims[2].client)
	c1 := dialRetry(t, shims[0].client)
	for _, s := range shims[1:2] {
		dialRetry(t, s.client)
	}

	if _, found, err := c3.Read(ctx, "k"); err != nil || found {
		t.Fatalf("read of a missing key: found=%v err=%v, want not found", found, err)
	}
	if ok, err := c3.CAS(ctx, "k", 1, 2); err != nil || ok {
		t.Fatalf("cas on a missing key: %v %v, want a failed comparison", ok, err)
	}
	if err := c3.Write(ctx, "k", 7); err != nil {
		t.Fatal(err)
	}
	if v, found, err := c1.Read(ctx, "k"); err != nil || !found || v != 7 {
		t.Fatalf("n1 reads %d %v %v, want 7 (written through n3)", v, found, err)
	}
	if ok, err := c1.CAS(ctx, "k", 1, 2); err != nil || ok {
		t.Fatalf("cas 1->2 on 7: %v %v, want a failed comparison", ok, err)
	}
	if ok, err := c3.CAS(ctx, "k", 7, 8); err != nil || !ok {
		t.Fatalf("cas 7->8: %v %v, want swapped", ok, err)
	}
	if v, _, _ := c3.Read(ctx, "k"); v != 8 {
		t.Fatalf("read %d after cas, want 8", v)
	}

	// n1 gone: n3's request has no answer. A timeout is indeterminate.
	kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", shims[0].cmd.Process.Pid, shims[0].cmd.Process.Pid))
	if err != nil || len(strings.Fields(string(kids))) != 1 {
		t.Fatalf("n1's shim children: %q %v, want its node program", kids, err)
	}
	child := strings.Fields(string(kids))[0]
	_ = shims[0].cmd.Process.Kill()
	<-shims[0].done
	shims[0].done <- nil // for the cleanup
	tctx, tcancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer tcancel()
	err = c3.Write(tctx, "k", 9)
	if err == nil || workloads.IsDefinite(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("write with n1 down: %v, want an indeterminate timeout", err)
	}
	// Its node program died with it (parent-death signal), as a kill
	// fault needs.
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := os.ReadFile("/proc/" + child + "/stat")
		if err != nil || strings.Contains(string(st), ") Z ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("n1's node program (pid %s) outlived its shim", child)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Its node program died with it (parent-death signal): the client
	// port refuses, which is definite.
	if _, err := dial(ctx, shims[0].client, nil); err == nil || !workloads.IsDefinite(err) {
		t.Fatalf("dial of a killed shim: %v, want a definite refusal", err)
	}
}

// TestShimRefusesBadNodes: a node program that exits, prints something
// that is not a message, or never answers init makes the shim exit at
// once with one line saying which.
func TestShimRefusesBadNodes(t *testing.T) {
	dir := built(t)
	for _, c := range []struct {
		name string
		argv []string
		want string
	}{
		{"exits", []string{filepath.Join(dir, "exits")}, "node program exited before answering init: exit status 3"},
		{"garbage", []string{"/bin/sh", "-c", "echo hello there; sleep 30"}, "node program printed something that is not a Maelstrom message before init_ok"},
		{"silent", []string{"/bin/sh", "-c", "sleep 30"}, "node program did not answer init within 1s"},
		{"missing", []string{filepath.Join(dir, "no-such-node")}, "start "},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := startShims(t, 1, time.Second, c.argv...)[0]
			select {
			case err := <-s.done:
				s.done <- err
				if err == nil {
					t.Fatalf("shim exited 0, want a failure")
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("shim still running after 10s; log:\n%s", s.log)
			}
			var last string
			for _, l := range strings.Split(strings.TrimSpace(s.log.String()), "\n") {
				if strings.HasPrefix(l, "maelstrom-shim: ") {
					last = l
				}
			}
			if !strings.Contains(last, c.want) {
				t.Errorf("last shim line %q, want it to say %q; log:\n%s", last, c.want, s.log)
			}
		})
	}
}

// TestShimKillTakesNode: a node program that ignores its stdin's end
// still dies with its shim (the parent-death signal), so a kill fault
// kills the node, not only its links.
func TestShimKillTakesNode(t *testing.T) {
	s := startShims(t, 1, 5*time.Second, "/bin/sh", "-c",
		`read line; echo '{"src":"n1","dest":"c0","body":{"type":"init_ok","in_reply_to":1}}'; exec sleep 60`)[0]
	dialRetry(t, s.client)
	pid := s.cmd.Process.Pid
	kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil || len(strings.Fields(string(kids))) != 1 {
		t.Fatalf("shim children: %q %v, want its node program", kids, err)
	}
	child := strings.Fields(string(kids))[0]
	_ = s.cmd.Process.Kill()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := os.ReadFile("/proc/" + child + "/stat")
		if err != nil || strings.Contains(string(st), ") Z ") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node program (pid %s) outlived its killed shim", child)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestShimBroadcast: a gossiping broadcast node, given the topology the
// target sends, spreads an element added at n1 to n3 over the shims.
func TestShimBroadcast(t *testing.T) {
	shims := startShims(t, 3, 5*time.Second, filepath.Join(built(t), "gossip"))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var cs []*Client
	for i, s := range shims {
		c := dialRetry(t, s.client)
		if _, err := c.call(ctx, "topology", map[string]any{"topology": topology([]string{"n1", "n2", "n3"})}); err != nil {
			t.Fatalf("n%d topology: %v", i+1, err)
		}
		cs = append(cs, c)
	}
	if err := cs[0].AddElement(ctx, "2", 5); err != nil {
		t.Fatal(err)
	}
	if err := cs[0].AddElement(ctx, "3", 6); err != nil {
		t.Fatal(err)
	}
	for {
		got, err := cs[2].ReadSet(ctx, "2")
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) == "[5]" {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("n3 reads set 2 as %v, want [5]", got)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestMain removes what buildOnce built.
func TestMain(m *testing.M) {
	code := m.Run()
	if dir, err := buildOnce(); err == nil && strings.HasPrefix(filepath.Base(dir), "maelstrom-test-") {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// TestShimCountsMessages asks live shims for their counts: gossip between
// nodes is counted where it is sent and where it is delivered, client
// requests where they arrive, and the stats request itself not at all.
func TestShimCountsMessages(t *testing.T) {
	shims := startShims(t, 3, 5*time.Second, filepath.Join(built(t), "gossip"))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for i, s := range shims {
		c := dialRetry(t, s.client)
		if _, err := c.call(ctx, "topology", map[string]any{"topology": topology([]string{"n1", "n2", "n3"})}); err != nil {
			t.Fatalf("n%d topology: %v", i+1, err)
		}
	}
	c := dialRetry(t, shims[0].client)
	if err := c.AddElement(ctx, "1", 7); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // gossip rounds every 200 ms
	read := func(i int) shimCounts {
		t.Helper()
		sc, err := dial(ctx, shims[i].client, map[string]string{"node": statsDest})
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Close()
		body, err := sc.call(ctx, "stats", nil)
		if err != nil {
			t.Fatalf("n%d stats: %v", i+1, err)
		}
		raw, _ := json.Marshal(body)
		var out shimCounts
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	n1, n2 := read(0), read(1)
	if n1.Incarnation == 0 || n1.Incarnation == n2.Incarnation {
		t.Errorf("incarnations %d, %d: want distinct, non-zero", n1.Incarnation, n2.Incarnation)
	}
	// n1 got topology and one broadcast, then gossips to n2 and n3.
	if n1.ClientIn != 2 || n1.ClientOut != 2 {
		t.Errorf("n1 client in/out = %d/%d, want 2/2", n1.ClientIn, n1.ClientOut)
	}
	if n1.NodeSent < 4 {
		t.Errorf("n1 sent %d node messages in a second of gossip, want at least 4", n1.NodeSent)
	}
	if n2.NodeDelivered < 1 || n2.ClientIn != 1 {
		t.Errorf("n2 delivered %d node messages and %d client requests, want ≥1 and 1", n2.NodeDelivered, n2.ClientIn)
	}
	if again := read(0); again.ClientIn != n1.ClientIn {
		t.Errorf("a stats request was counted as a client request: %d then %d", n1.ClientIn, again.ClientIn)
	}
}

// TestNetPollerDeltas checks that readings become per-interval deltas,
// and that a restarted shim's counts start again from zero.
func TestNetPollerDeltas(t *testing.T) {
	p := &netPoller{last: map[string]shimCounts{}}
	at := time.Unix(100, 0)
	for _, r := range []struct {
		node string
		c    shimCounts
	}{
		{"n1", shimCounts{Incarnation: 1, NodeSent: 5, ClientIn: 1}},
		{"n1", shimCounts{Incarnation: 1, NodeSent: 5, ClientIn: 1}}, // idle: no sample
		{"n1", shimCounts{Incarnation: 1, NodeSent: 9, NodeDelivered: 2, ClientIn: 3}},
		{"n1", shimCounts{Incarnation: 2, NodeSent: 1}}, // restarted
		{"n2", shimCounts{Incarnation: 7, NodeDelivered: 4}},
	} {
		at = at.Add(time.Second)
		p.add(r.node, r.c, at)
	}
	var got []string
	for _, s := range p.out {
		got = append(got, fmt.Sprintf("%s %d/%d/%d", s.Node, s.NodeSent, s.NodeDelivered, s.ClientIn))
	}
	want := []string{"n1 5/0/1", "n1 4/2/2", "n1 1/0/0", "n2 0/4/0"}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("samples %v, want %v", got, want)
	}
	// Service counts are cumulative in the controller: deltas, idle skipped.
	p.out, p.lastSvc = nil, map[string]int64{}
	for _, c := range []map[string]int64{{"n1": 4}, {"n1": 4, "n2": 2}, {"n1": 10, "n2": 2}} {
		p.addService(c, at)
	}
	got = nil
	for _, s := range p.out {
		got = append(got, fmt.Sprintf("%s %d", s.Node, s.Service))
	}
	if want := "n1 4, n2 2, n1 6"; strings.Join(got, ", ") != want {
		t.Errorf("service samples %v, want %s", got, want)
	}
}
