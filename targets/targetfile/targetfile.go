// Package targetfile reads target files: YAML descriptions of a system to
// test, for people who do not write Go. A file says how to install the
// system (Debian packages, Go modules, the user's own Go packages, files
// or image), how to start one node (a templated argv run as a
// node.Daemon, so kill, pause and restart work as for the shipped
// targets), how to tell it is healthy, where its logs are, optionally how
// to ask who the primary is, which faults it supports, and which client
// protocol (package targets/protocols) its clients speak.
//
// A malformed file is refused before any container starts, with every
// problem reported as `file:line: reason`; the error wraps ErrInput.
// docs/target-file.md describes the format.
package targetfile

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/nuker"
	"github.com/faultline/faultline/targets"
	"github.com/faultline/faultline/targets/protocols"
	"github.com/faultline/faultline/workloads"
)

// Load reads the target file at path and returns its target with the
// file's version and default options.
func Load(path string, protos protocols.Catalog) (targets.Target, error) {
	f, err := Parse(path, protos)
	if err != nil {
		return nil, err
	}
	return f.Target("", nil)
}

// LoadBytes is Load for a file's contents; name is used in messages and
// dir is the directory relative paths are taken from.
func LoadBytes(name string, data []byte, dir string, protos protocols.Catalog) (targets.Target, error) {
	f, err := ParseBytes(name, data, dir, protos)
	if err != nil {
		return nil, err
	}
	return f.Target("", nil)
}

// Name is the system's name.
func (f *File) Name() string { return f.name }

// Summary is one line for `faultline list`.
func (f *File) Summary() string {
	if f.summary == "" {
		return f.name + " from target file " + f.file
	}
	return f.summary
}

// DefaultVersion is the file's version, used when none is asked for.
func (f *File) DefaultVersion() string { return f.version }

// Options describes each option for `faultline list`: its help, choices
// and default.
func (f *File) Options() map[string]string {
	out := map[string]string{}
	for _, o := range f.options {
		help := o.help
		if help == "" {
			help = "(no description)"
		}
		if o.choices != nil {
			help += "; one of " + strings.Join(o.choices, ", ")
		}
		out[o.name] = fmt.Sprintf("%s (default %q)", help, o.def)
	}
	return out
}

// IsPath says whether a --target names a target file rather than a
// shipped system: it has a path separator or a .yaml or .yml extension.
func IsPath(target string) bool {
	return strings.ContainsAny(target, `/\`) || strings.HasSuffix(target, ".yaml") || strings.HasSuffix(target, ".yml")
}

// Resolver resolves target files by path (see IsPath) and every other
// name through Next (the shipped catalog), so a stored run that names a
// file resolves as one that names etcd.
type Resolver struct {
	// Protocols are what files' client.protocol is looked up in.
	Protocols protocols.Catalog
	// Next resolves names that are not paths; nil refuses them.
	Next targets.Resolver
}

var _ targets.Resolver = Resolver{}

// NewTarget implements targets.Resolver.
func (r Resolver) NewTarget(name, version string, opts map[string]string) (targets.Target, error) {
	if !IsPath(name) {
		if r.Next == nil {
			return nil, fmt.Errorf("unknown target %q (a target file's path has a / or ends in .yaml)", name)
		}
		return r.Next.NewTarget(name, version, opts)
	}
	f, err := Parse(name, r.Protocols)
	if err != nil {
		return nil, err
	}
	return f.Target(version, opts)
}

// defaults are the options' default values.
func (f *File) defaults() map[string]string {
	out := map[string]string{}
	for _, o := range f.options {
		out[o.name] = o.def
	}
	return out
}

// cluster is the data cluster-level templates see.
func (f *File) cluster(version string, opts map[string]string) ClusterData {
	return ClusterData{Version: version, Options: opts, Ports: maps.Clone(f.ports), DataDir: f.dataDir}
}

// Target returns the file's target for a version ("" for the file's own)
// and options (unset ones take their defaults). The result implements
// nuker.PrimaryLister only when the file says how to ask for the primary.
func (f *File) Target(version string, opts map[string]string) (targets.Target, error) {
	p := &problems{file: f.file}
	if version == "" {
		version = f.version
	}
	eff := f.defaults()
	for _, k := range slices.Sorted(maps.Keys(opts)) {
		v := opts[k]
		i := slices.IndexFunc(f.options, func(o option) bool { return o.name == k })
		switch {
		case i < 0:
			p.add(0, "option %q: unknown (known: %s)", k, strings.Join(sortedKeys(eff), ", "))
		case f.options[i].choices != nil && !slices.Contains(f.options[i].choices, v):
			p.add(0, "option %s=%q: want one of %s", k, v, strings.Join(f.options[i].choices, ", "))
		default:
			eff[k] = v
		}
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	c := f.cluster(version, eff)
	t := &Target{
		f:        f,
		version:  version,
		settings: eff,
		cluster:  c,
		Daemons:  node.Daemons{System: f.name, ByNode: map[string]node.Daemon{}},
		log:      slog.New(slog.DiscardHandler),
		http:     &http.Client{Transport: &http.Transport{DisableKeepAlives: true}},
	}
	var err error
	if t.software, err = f.renderSoftware(c); err != nil {
		return nil, fmt.Errorf("%s: %w: %w", f.file, ErrInput, err)
	}
	t.logs = []string{node.Daemon{Name: f.name}.LogPath()}
	for _, l := range f.logs {
		s, err := l.exec(c)
		if err != nil {
			return nil, fmt.Errorf("%s: %w: %w", f.file, ErrInput, err)
		}
		t.logs = append(t.logs, s)
	}
	t.protoOpts = map[string]string{}
	for k := range f.proto.Options {
		if v, ok := eff[k]; ok {
			t.protoOpts[k] = v
		}
	}
	for _, o := range f.clientOpts {
		s, err := o.val.exec(c)
		if err != nil {
			return nil, fmt.Errorf("%s: %w: %w", f.file, ErrInput, err)
		}
		t.protoOpts[o.key] = s
	}
	if f.primary != nil {
		return &PrimaryTarget{t}, nil
	}
	return t, nil
}

func (f *File) renderSoftware(c ClusterData) (node.Software, error) {
	s := f.software
	sw := node.Software{Name: f.name, Local: slices.Clone(s.local), Files: slices.Clone(s.files)}
	for _, t := range s.packages {
		v, err := t.exec(c)
		if err != nil {
			return sw, err
		}
		sw.Packages = append(sw.Packages, v)
	}
	for _, b := range s.goBins {
		gb := node.GoBinary{Name: b.name, Main: b.main, Estimate: b.estimate}
		if b.pkg != nil {
			v, err := b.pkg.exec(c)
			if err != nil {
				return sw, err
			}
			gb.Package = v
		}
		for _, r := range b.require {
			v, err := r.exec(c)
			if err != nil {
				return sw, err
			}
			gb.Require = append(gb.Require, v)
		}
		sw.Binaries = append(sw.Binaries, gb)
	}
	if s.image != nil {
		v, err := s.image.exec(c)
		if err != nil {
			return sw, err
		}
		sw.Image = v
	}
	return sw, nil
}

// Target is a system described by a target file. Its daemon per node is
// the file's start command; Start, Kill, Pause and Resume come from the
// embedded node.Daemons.
type Target struct {
	f         *File
	version   string
	settings  map[string]string
	cluster   ClusterData
	software  node.Software
	logs      []string
	protoOpts map[string]string
	http      *http.Client
	log       *slog.Logger

	node.Daemons // the start command per node

	// Set by Setup.
	nodes []node.Node
	data  map[string]*NodeData
}

// PrimaryTarget is a Target whose file says how to ask who the primary is.
type PrimaryTarget struct {
	*Target
}

var (
	_ targets.Target       = (*Target)(nil)
	_ targets.NodeChecker  = (*Target)(nil)
	_ targets.FaultLimiter = (*Target)(nil)
	_ nuker.PrimaryLister  = (*PrimaryTarget)(nil)
	_ targets.Target       = (*PrimaryTarget)(nil)
)

// Name implements targets.Target.
func (t *Target) Name() string { return t.f.name }

// Version is the version under test.
func (t *Target) Version() string { return t.version }

// Settings returns the options' effective values.
func (t *Target) Settings() map[string]string { return maps.Clone(t.settings) }

// Software is what every node needs installed.
func (t *Target) Software() (node.Software, error) { return t.software, nil }

// Workloads are the file's workloads, or its protocol's.
func (t *Target) Workloads() []string { return slices.Clone(t.f.workloads) }

// Faults names the faults the file supports.
func (t *Target) Faults() []string { return slices.Clone(t.f.faults) }

// CheckNodes refuses cluster sizes outside the file's nodes.min and max.
func (t *Target) CheckNodes(n int) error {
	switch {
	case n < t.f.min:
		return fmt.Errorf("target %s needs at least %d nodes, not %d", t.f.name, t.f.min, n)
	case t.f.max > 0 && n > t.f.max:
		return fmt.Errorf("target %s runs on at most %d nodes, not %d", t.f.name, t.f.max, n)
	}
	return nil
}

// DataDirs implements targets.DataDirer: start.data-dir (by default
// /var/lib/NAME), the daemon's working directory.
func (t *Target) DataDirs() []string { return []string{t.f.dataDir} }

// LogFiles are the daemon's own log and the file's logs.
func (t *Target) LogFiles() []string { return slices.Clone(t.logs) }

// Setup starts the daemon on every node and waits until all are healthy.
func (t *Target) Setup(ctx context.Context, nodes []node.Node, log *slog.Logger) error {
	if log != nil {
		t.log = log
	}
	t.nodes = nodes
	t.data = map[string]*NodeData{}
	runID := fmt.Sprintf("faultline-%d", time.Now().UnixNano())
	for _, n := range nodes {
		d := nodeData(t.cluster, n, nodes, runID)
		t.data[n.Name()] = d
		dm, err := t.daemon(d)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", t.f.name, n.Name(), err)
		}
		t.ByNode[n.Name()] = dm
	}
	if err := node.Each(nodes, func(n node.Node) error { return t.Start(ctx, n) }); err != nil {
		return err
	}
	// A server that exited at start will not become healthy: say so at
	// once instead of after the whole health timeout.
	return node.Poll(ctx, t.f.health.wait, t.f.name+" health", t.log, func(ctx context.Context) error {
		return node.Each(t.nodes, func(n node.Node) error {
			err := t.healthy(ctx, n)
			if err == nil {
				return nil
			}
			if up, rerr := t.ByNode[n.Name()].Running(ctx, n); rerr == nil && !up {
				return node.Permanent(fmt.Errorf("%s exited on %s after it was started (its log is in the run's nodes/%s/)", t.f.name, n.Name(), n.Name()))
			}
			return err
		})
	})
}

// daemon is the start command for one node.
func (t *Target) daemon(d *NodeData) (node.Daemon, error) {
	argv, err := execAll(t.f.command, d)
	if err != nil {
		return node.Daemon{}, err
	}
	dm := node.Daemon{Name: t.f.name, Argv: argv, Dir: t.f.dataDir}
	for _, e := range t.f.env {
		v, err := e.val.execNode(d)
		if err != nil {
			return node.Daemon{}, err
		}
		dm.Env = append(dm.Env, e.key+"="+v)
	}
	return dm, nil
}

// WaitHealthy polls every node's health check, with backoff, until all
// pass or limit passes.
func (t *Target) WaitHealthy(ctx context.Context, limit time.Duration) error {
	return node.Poll(ctx, limit, t.f.name+" health", t.log, func(ctx context.Context) error {
		return node.Each(t.nodes, func(n node.Node) error { return t.healthy(ctx, n) })
	})
}

func (t *Target) healthy(ctx context.Context, n node.Node) error {
	h := t.f.health
	ctx, cancel := context.WithTimeout(ctx, h.attempt)
	defer cancel()
	d, err := t.dataOf(n)
	if err != nil {
		return err
	}
	switch h.kind {
	case "http":
		path, err := h.path.execNode(d)
		if err != nil {
			return err
		}
		status, _, err := t.get(ctx, n, h.port, path)
		if err != nil {
			return err
		}
		if status != h.status {
			return fmt.Errorf("%s: GET %s: status %d, want %d", n.Name(), path, status, h.status)
		}
		return nil
	case "command":
		argv, err := execAll(h.command, d)
		if err != nil {
			return err
		}
		if _, err := n.Exec(ctx, argv...); err != nil {
			return fmt.Errorf("health command: %w", err)
		}
		return nil
	default:
		var dl net.Dialer
		c, err := dl.DialContext(ctx, "tcp", hostPort(n, h.port))
		if err != nil {
			return fmt.Errorf("%s: %w", n.Name(), err)
		}
		return c.Close()
	}
}

func (t *Target) dataOf(n node.Node) (*NodeData, error) {
	d, ok := t.data[n.Name()]
	if !ok {
		return nil, fmt.Errorf("%s: node %s is not part of this cluster", t.f.name, n.Name())
	}
	return d, nil
}

// maxAnswer bounds what is read of an HTTP answer: a primary query may
// read a whole metrics page (etcd's /metrics is a few hundred KiB).
const maxAnswer = 8 << 20

// get fetches http://node:port/path from the controller.
func (t *Target) get(ctx context.Context, n node.Node, port int, path string) (int, []byte, error) {
	url := "http://" + hostPort(n, port) + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %w", n.Name(), err)
	}
	resp, err := t.http.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %w", n.Name(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return 0, nil, fmt.Errorf("%s: GET %s: %w", n.Name(), path, err)
	}
	return resp.StatusCode, body, nil
}

func hostPort(n node.Node, port int) string {
	return net.JoinHostPort(n.Addr().String(), strconv.Itoa(port))
}

// NewClient dials the file's protocol at node n's client port.
func (t *Target) NewClient(ctx context.Context, n node.Node) (workloads.Client, error) {
	if t.f.proto.Dial == nil {
		return nil, fmt.Errorf("%s: protocol %q cannot dial", t.f.name, t.f.proto.Name)
	}
	c, err := t.f.proto.Dial(ctx, hostPort(n, t.cluster.Ports["client"]), maps.Clone(t.protoOpts))
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", t.f.name, n.Name(), err)
	}
	return c, nil
}

// Primaries asks every node who the primary is and returns the nodes
// whose own answer names themselves (with primary.match: whose answer
// matches). An unreachable node is no primary anyone can see.
func (t *PrimaryTarget) Primaries(ctx context.Context) ([]string, error) {
	found := make([]bool, len(t.nodes))
	err := node.Each(t.nodes, func(n node.Node) error {
		ans, err := t.ask(ctx, n)
		if err != nil {
			t.log.Debug("primary query", "node", n.Name(), "err", err)
			return nil
		}
		if isPrimary(n, ans, t.f.primary.match) {
			found[slices.IndexFunc(t.nodes, func(m node.Node) bool { return m.Name() == n.Name() })] = true
		}
		return nil
	})
	var out []string
	for i, ok := range found {
		if ok {
			out = append(out, t.nodes[i].Name())
		}
	}
	slices.Sort(out)
	return out, err
}

// ask runs the primary query on n and returns its answer.
func (t *PrimaryTarget) ask(ctx context.Context, n node.Node) (string, error) {
	pr := t.f.primary
	ctx, cancel := context.WithTimeout(ctx, pr.timeout)
	defer cancel()
	d, err := t.dataOf(n)
	if err != nil {
		return "", err
	}
	if pr.kind == "http" {
		path, err := pr.path.execNode(d)
		if err != nil {
			return "", err
		}
		status, body, err := t.get(ctx, n, pr.port, path)
		if err != nil {
			return "", err
		}
		if status/100 != 2 {
			return "", fmt.Errorf("%s: GET %s: status %d", n.Name(), path, status)
		}
		return string(body), nil
	}
	argv, err := execAll(pr.command, d)
	if err != nil {
		return "", err
	}
	res, err := n.Exec(ctx, argv...)
	if err != nil {
		return "", err
	}
	return string(res.Stdout), nil
}

// isPrimary says whether node n's answer makes it a primary: it matches
// match, or, without one, it names n (by name, address or address:port).
func isPrimary(n node.Node, ans string, match *regexp.Regexp) bool {
	if match != nil {
		return match.MatchString(ans)
	}
	ans = strings.TrimSpace(ans)
	// http-json's GET /primary answers {"primary": "n1"} (docs/protocol.md).
	var pj struct {
		Primary *string `json:"primary"`
	}
	if json.Unmarshal([]byte(ans), &pj) == nil && pj.Primary != nil {
		ans = strings.TrimSpace(*pj.Primary)
	}
	if ans == n.Name() || ans == n.Addr().String() {
		return true
	}
	host, _, err := net.SplitHostPort(ans)
	return err == nil && host == n.Addr().String()
}
