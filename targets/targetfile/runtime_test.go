package targetfile

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/nuker"
	"github.com/faultline/faultline/targets"
)

// failing answers the commands whose argv starts with prefix with exit 1
// the first fails times on each node, and every other command with out.
func failing(n *fakeNode, prefix []string, fails int, out func(n *fakeNode) string) {
	var mu sync.Mutex
	left := fails
	n.reply = func(argv []string) (node.ExecResult, error) {
		if len(argv) >= len(prefix) && slices.Equal(argv[:len(prefix)], prefix) {
			mu.Lock()
			defer mu.Unlock()
			if left != 0 {
				left--
				return node.ExecResult{ExitCode: 1}, &node.ExitError{Node: n.name, Argv: argv, ExitCode: 1, Stderr: "not yet"}
			}
			if out != nil {
				return node.ExecResult{Stdout: []byte(out(n))}, nil
			}
		}
		return node.ExecResult{}, nil
	}
}

func fakeCluster(addrs ...string) ([]node.Node, []*fakeNode) {
	var nodes []node.Node
	var fakes []*fakeNode
	for i, a := range addrs {
		f := newFakeNode(fmt.Sprintf("n%d", i+1), a)
		nodes = append(nodes, f)
		fakes = append(fakes, f)
	}
	return nodes, fakes
}

func TestSetupStartsDaemonsAndWaitsForHealth(t *testing.T) {
	tg, err := Load("testdata/mystore.yaml", fakeProtocols())
	if err != nil {
		t.Fatal(err)
	}
	nodes, fakes := fakeCluster("10.0.0.2", "10.0.0.3", "10.0.0.4")
	for _, f := range fakes {
		failing(f, []string{"mystore", "ping"}, 2, nil)
	}
	if err := tg.Setup(context.Background(), nodes, nil); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	n2 := fakes[1]
	if len(n2.detached) != 1 {
		t.Fatalf("n2: %d detached commands, want 1: %q", len(n2.detached), n2.detached)
	}
	script := strings.Join(n2.detached[0], " ")
	for _, want := range []string{
		"cd /var/lib/mystore",
		"exec env MYSTORE_DATA=/var/lib/mystore/n2 GOMAXPROCS=2 mystore -id=2 -listen=10.0.0.3:7000 -peers=n1@10.0.0.2:7001,n3@10.0.0.4:7001 -replication=sync >> /var/log/faultline/mystore.log",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("n2 start script lacks %q:\n%s", want, script)
		}
	}
	pings := 0
	for _, c := range n2.ran() {
		if strings.HasPrefix(c, "mystore ping") {
			pings++
			if c != "mystore ping 10.0.0.3:7000" {
				t.Errorf("n2 health command %q", c)
			}
		}
	}
	if pings != 3 {
		t.Errorf("n2 ran the health command %d times, want 3 (2 failures, then success)", pings)
	}
}

func TestWaitHealthyGivesUp(t *testing.T) {
	tg, err := Load("testdata/mystore.yaml", fakeProtocols())
	if err != nil {
		t.Fatal(err)
	}
	nodes, fakes := fakeCluster("10.0.0.2", "10.0.0.3", "10.0.0.4")
	failing(fakes[2], []string{"mystore", "ping"}, -1, nil) // n3 never healthy
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err = tg.Setup(ctx, nodes, nil)
	if err == nil || !strings.Contains(err.Error(), "mystore health not ready") || !strings.Contains(err.Error(), "n3") {
		t.Errorf("Setup with n3 unhealthy = %v, want n3 not ready", err)
	}
}

func TestProcessControl(t *testing.T) {
	tg, err := Load("testdata/mystore.yaml", fakeProtocols())
	if err != nil {
		t.Fatal(err)
	}
	nodes, fakes := fakeCluster("10.0.0.2", "10.0.0.3", "10.0.0.4")
	if err := tg.Setup(context.Background(), nodes, nil); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	n1 := fakes[0]
	tests := []struct {
		name string
		do   func(context.Context, node.Node) error
		want string // in the last command run
	}{
		{"kill", tg.Kill, `kill -KILL "$p"`},
		{"pause", tg.Pause, `kill -STOP "$(cat /run/faultline/mystore.pid)"`},
		{"resume", tg.Resume, `kill -CONT "$(cat /run/faultline/mystore.pid)"`},
	}
	for _, tt := range tests {
		if err := tt.do(ctx, n1); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		ran := n1.ran()
		if last := ran[len(ran)-1]; !strings.Contains(last, tt.want) || !strings.Contains(last, "/run/faultline/mystore.pid") {
			t.Errorf("%s ran %q, want %q on mystore's pid file", tt.name, last, tt.want)
		}
	}
	// After the kill above nothing runs, so Start starts the same command again.
	if err := tg.Start(ctx, n1); err != nil {
		t.Fatal(err)
	}
	if len(n1.detached) != 2 || !slices.Equal(n1.detached[0], n1.detached[1]) {
		t.Errorf("restart ran %q, want the first start's command again", n1.detached)
	}
	if err := tg.Kill(ctx, newFakeNode("n9", "10.0.0.9")); err == nil || !strings.Contains(err.Error(), "not part of this cluster") {
		t.Errorf("Kill on a stranger = %v", err)
	}
}

// loopbackFile is a target file whose client listens on port.
func loopbackFile(port int, extra string) string {
	return fmt.Sprintf("name: loop\nversion: \"1\"\nstart:\n  command: [loop]\nclient:\n  protocol: kv\n  port: %d\n%s", port, extra)
}

func TestTCPHealth(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	tg, err := LoadBytes("loop.yaml", []byte(loopbackFile(port, "")), t.TempDir(), fakeProtocols())
	if err != nil {
		t.Fatal(err)
	}
	nodes, _ := fakeCluster("127.0.0.1", "127.0.0.1", "127.0.0.1")
	if err := tg.Setup(context.Background(), nodes, nil); err != nil {
		t.Fatalf("Setup with the port open: %v", err)
	}
	ln.Close()
	if err := tg.WaitHealthy(context.Background(), 300*time.Millisecond); err == nil {
		t.Error("WaitHealthy with the port closed succeeded")
	}
}

func TestHTTPHealth(t *testing.T) {
	var calls atomic.Int32
	var paths sync.Map
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths.Store(r.URL.Path, true)
		if calls.Add(1) <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	tests := []struct {
		status string
		ok     bool
	}{
		{"204", true},
		{"200", false}, // the server answers 204: never healthy
	}
	for _, tt := range tests {
		calls.Store(0)
		file := loopbackFile(port, "health:\n  http: {path: '/health/{{.Name}}', status: "+tt.status+"}\n  timeout: 600ms\n")
		tg, err := LoadBytes("loop.yaml", []byte(file), t.TempDir(), fakeProtocols())
		if err != nil {
			t.Fatal(err)
		}
		nodes, _ := fakeCluster("127.0.0.1", "127.0.0.1", "127.0.0.1")
		err = tg.Setup(context.Background(), nodes, nil)
		if (err == nil) != tt.ok {
			t.Errorf("status %s: Setup = %v, want ok %v", tt.status, err, tt.ok)
		}
	}
	for _, p := range []string{"/health/n1", "/health/n2", "/health/n3"} {
		if _, ok := paths.Load(p); !ok {
			t.Errorf("%s never asked", p)
		}
	}
}

func TestPrimariesByCommand(t *testing.T) {
	tg, err := Load("testdata/mystore.yaml", fakeProtocols())
	if err != nil {
		t.Fatal(err)
	}
	nodes, fakes := fakeCluster("10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5")
	answers := map[string]string{
		"n1": "n2\n",             // n1 believes n2 leads: n1 is no primary
		"n2": "n2\n",             // n2 names itself
		"n3": "10.0.0.4:7000\n",  // n3 names itself by address
		"n4": "error: no leader", // the command fails below
	}
	for _, f := range fakes {
		fails := 0
		if f.name == "n4" {
			fails = -1
		}
		failing(f, []string{"mystore", "leader"}, fails, func(n *fakeNode) string { return answers[n.name] })
	}
	if err := tg.Setup(context.Background(), nodes, nil); err != nil {
		t.Fatal(err)
	}
	got, err := tg.(nuker.PrimaryLister).Primaries(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"n2", "n3"}; !slices.Equal(got, want) {
		t.Errorf("Primaries = %v, want %v", got, want)
	}
}

func TestPrimariesByHTTP(t *testing.T) {
	var body atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/leader" {
			w.WriteHeader(http.StatusOK) // health
			return
		}
		fmt.Fprint(w, body.Load().(string))
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	tests := []struct {
		primary string
		body    string
		want    []string
	}{
		{"primary: {http: {path: /leader}}", "n1", []string{"n1"}},
		{"primary: {http: {path: /leader}}", "", nil},
		{"primary: {http: {path: /leader}}", `{"primary": "n1"}`, []string{"n1"}}, // http-json's GET /primary
		{"primary: {http: {path: /leader}}", `{"primary": "n7"}`, nil},
		{"primary: {http: {path: /leader}, match: '(?m)^is_leader 1$'}", "x 2\nis_leader 1\n", []string{"n1", "n2", "n3"}},
		{"primary: {http: {path: /leader}, match: '(?m)^is_leader 1$'}", "is_leader 0\n", nil},
	}
	for _, tt := range tests {
		body.Store(tt.body)
		tg, err := LoadBytes("loop.yaml", []byte(loopbackFile(port, tt.primary+"\n")), t.TempDir(), fakeProtocols())
		if err != nil {
			t.Fatal(err)
		}
		nodes, _ := fakeCluster("127.0.0.1", "127.0.0.1", "127.0.0.1")
		if err := tg.Setup(context.Background(), nodes, nil); err != nil {
			t.Fatal(err)
		}
		got, err := tg.(nuker.PrimaryLister).Primaries(context.Background())
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%s, body %q: Primaries = %v, %v; want %v", tt.primary, tt.body, got, err, tt.want)
		}
	}
}

// A file without primary gives a target that does not claim to name its
// primaries, so the nuker refuses the "primaries" partition for it.
func TestNoPrimaryNoLister(t *testing.T) {
	tg, err := Load("testdata/minimal.yaml", fakeProtocols())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tg.(nuker.PrimaryLister); ok {
		t.Error("a file without primary gave a PrimaryLister")
	}
	var _ targets.Target = tg
}

// TestSetupSaysWhenTheServerExits: a server that exits at start is
// reported at once, naming the node, not after the whole health timeout.
func TestSetupSaysWhenTheServerExits(t *testing.T) {
	tg, err := Load("testdata/mystore.yaml", fakeProtocols())
	if err != nil {
		t.Fatal(err)
	}
	nodes, fakes := fakeCluster("10.0.0.2", "10.0.0.3", "10.0.0.4")
	fakes[1].dies = true
	failing(fakes[1], []string{"mystore", "ping"}, -1, nil) // and so never healthy
	t0 := time.Now()
	err = tg.Setup(context.Background(), nodes, nil)
	if err == nil || !strings.Contains(err.Error(), "mystore exited on n2") {
		t.Fatalf("Setup = %v, want mystore exited on n2", err)
	}
	if d := time.Since(t0); d > 10*time.Second {
		t.Errorf("took %s: waited instead of saying so at once", d)
	}
}
