// Package kvtarget tells faultline how to run kvsvc (../../kvsvc), a small
// replicated key-value service, as a cluster: what to install (kvsvc's
// main package, built from its own module), how to start each node, when
// it is healthy, who its primary is, and which protocol its clients speak.
// It lives in its own module and changes nothing in faultline: a user's
// own system runs exactly like a shipped one.
package kvtarget

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/nuker"
	"github.com/faultline/faultline/targets"
	"github.com/faultline/faultline/targets/httpjson"
	"github.com/faultline/faultline/workloads"
)

// Port is where every kvsvc node serves http-json.
const Port = 8080

// Target is a kvsvc cluster in one mode.
type Target struct {
	// Mode is "safe" (a primary that fsyncs before it answers:
	// linearizable) or "unsafe" (asynchronous replication, local reads).
	Mode string
	// SourceDir is kvsvc's main package directory (default ../../kvsvc,
	// relative to this package's tests).
	SourceDir string

	nodes   []node.Node
	daemons node.Daemons
	http    *http.Client
}

// The capabilities kvsvc offers, checked at compile time.
var (
	_ targets.Target      = (*Target)(nil)
	_ nuker.PrimaryLister = (*Target)(nil)
)

// Name is the system's name.
func (t *Target) Name() string { return "kvsvc" }

// Version is the release under test.
func (t *Target) Version() string { return "dev" }

// Settings are the effective options, stored with each run.
func (t *Target) Settings() map[string]string { return map[string]string{"mode": t.mode()} }

func (t *Target) mode() string {
	if t.Mode == "" {
		return "safe"
	}
	return t.Mode
}

// Software builds kvsvc's main package from its own module, static; the
// image is keyed by the binary's bytes, so an edit rebuilds it.
func (t *Target) Software() (node.Software, error) {
	dir := t.SourceDir
	if dir == "" {
		dir = "../../kvsvc"
	}
	return node.Software{Name: "kvsvc", Local: []node.LocalGo{{Name: "kvsvc", Dir: dir}}}, nil
}

// Workloads are what kvsvc's http-json endpoints serve.
func (t *Target) Workloads() []string { return []string{"register", "set", "counter"} }

// LogFiles are kept with each run (the daemon's own log is under
// node.LogDir).
func (t *Target) LogFiles() []string { return []string{node.LogDir + "/kvsvc.log"} }

// Setup starts kvsvc on every node and waits until each answers /health.
func (t *Target) Setup(ctx context.Context, nodes []node.Node, log *slog.Logger) error {
	t.nodes = nodes
	t.http = &http.Client{Timeout: 2 * time.Second}
	var peers []string
	for _, n := range nodes {
		peers = append(peers, fmt.Sprintf("%s=%s", n.Name(), addr(n)))
	}
	t.daemons = node.Daemons{System: "kvsvc", ByNode: map[string]node.Daemon{}}
	for _, n := range nodes {
		d := node.Daemon{
			Name: "kvsvc",
			Dir:  "/var/lib/kvsvc",
			Argv: []string{"/usr/local/bin/kvsvc", "--name", n.Name(), "--listen", fmt.Sprintf("0.0.0.0:%d", Port),
				"--peers", strings.Join(peers, ","), "--data", "/var/lib/kvsvc", "--mode", t.mode()},
		}
		t.daemons.ByNode[n.Name()] = d
		if err := d.Start(ctx, n); err != nil {
			return err
		}
	}
	log.Info("kvsvc started", "mode", t.mode(), "peers", peers)
	return t.WaitHealthy(ctx, time.Minute)
}

func addr(n node.Node) string { return net.JoinHostPort(n.Addr().String(), fmt.Sprint(Port)) }

// WaitHealthy waits until every node answers /health.
func (t *Target) WaitHealthy(ctx context.Context, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for _, n := range t.nodes {
		for {
			if _, err := t.get(ctx, n, "/health"); err == nil {
				break
			} else if ctx.Err() != nil {
				return fmt.Errorf("kvsvc on %s not healthy within %s: %w", n.Name(), limit, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return nil
}

func (t *Target) get(ctx context.Context, n node.Node, path string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr(n)+path, nil)
	if err != nil {
		return "", err
	}
	resp, err := t.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s %s: %s", n.Name(), path, resp.Status)
	}
	return string(b), nil
}

// Primaries asks every node who the primary is (safe mode names one; the
// unsafe mode has none).
func (t *Target) Primaries(ctx context.Context) ([]string, error) {
	for _, n := range t.nodes {
		b, err := t.get(ctx, n, "/primary")
		if err != nil {
			continue
		}
		for _, m := range t.nodes {
			if strings.Contains(b, `"`+m.Name()+`"`) {
				return []string{m.Name()}, nil
			}
		}
	}
	return nil, nil
}

// Start, Kill, Pause and Resume act on the kvsvc process of one node.
func (t *Target) Start(ctx context.Context, n node.Node) error  { return t.daemons.Start(ctx, n) }
func (t *Target) Kill(ctx context.Context, n node.Node) error   { return t.daemons.Kill(ctx, n) }
func (t *Target) Pause(ctx context.Context, n node.Node) error  { return t.daemons.Pause(ctx, n) }
func (t *Target) Resume(ctx context.Context, n node.Node) error { return t.daemons.Resume(ctx, n) }

// NewClient opens an http-json client to node n only, as Jepsen's clients
// do, so a partitioned node's clients see what that node serves.
func (t *Target) NewClient(ctx context.Context, n node.Node) (workloads.Client, error) {
	return httpjson.Dial(ctx, addr(n), nil)
}
