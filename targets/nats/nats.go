// Package nats is faultline's NATS JetStream target: an N-node nats-server
// cluster with JetStream, built from the nats-server Go module, holding a
// work-queue stream with one durable pull consumer (the queue workload) and
// a KV bucket (the register workload), each with R replicas. Every worker's
// client talks to its own node only, as Jepsen's do.
package nats

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/workloads"
)

// Names of what Setup creates.
const (
	// QueueStream is the queue workload's stream: work-queue retention, so
	// an acknowledged message is removed.
	QueueStream = "FAULTLINE_QUEUE"
	// QueueSubjects are its subjects: queue.<key>.
	queuePrefix = "queue."
	// QueueConsumer is the durable pull consumer every worker shares.
	QueueConsumer = "workers"
	// Bucket is the register workload's KV bucket; its stream is KV_<Bucket>.
	Bucket = "faultline"
	// ackWait is how long a delivered message stays unacknowledged before
	// it is delivered again: short, so messages whose dequeue reply was
	// lost come back before the final drain (after the recovery wait).
	ackWait = 2 * time.Second
)

// kvStream is the stream behind the KV bucket.
const kvStream = "KV_" + Bucket

// Target is a NATS JetStream cluster.
type Target struct {
	version      string
	set          settings
	nodes        []node.Node
	node.Daemons // nats-server per node: Start, Kill, Pause, Resume
	log          *slog.Logger
	http         *http.Client
	state        *shared
}

// shared is what the target's clients share: which streams the run uses
// (for Primaries) and the KV revision that holds each value written or
// read (for compare-and-set).
type shared struct {
	mu   sync.Mutex
	used map[string]bool
	revs workloads.Versions[uint64]
}

func (s *shared) use(stream string) {
	s.mu.Lock()
	s.used[stream] = true
	s.mu.Unlock()
}

func (s *shared) usedStreams() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.used))
	for k := range s.used {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// New returns a NATS target of the given version ("" = DefaultVersion)
// with the given options (see Options).
func New(version string, opts map[string]string) (*Target, error) {
	if version == "" {
		version = DefaultVersion
	}
	if _, err := Software(version); err != nil {
		return nil, err
	}
	s, err := parseOptions(opts)
	if err != nil {
		return nil, err
	}
	return &Target{
		version: version, set: s, Daemons: node.Daemons{System: "nats", ByNode: map[string]node.Daemon{}}, log: slog.Default(),
		http:  &http.Client{Timeout: 2 * time.Second},
		state: &shared{used: map[string]bool{}},
	}, nil
}

// Name implements targets.Target.
func (t *Target) Name() string { return "nats" }

// Version is the nats-server release this target runs.
func (t *Target) Version() string { return t.version }

// Settings returns the effective options.
func (t *Target) Settings() map[string]string { return t.set.values() }

// Software is what every node needs installed.
func (t *Target) Software() (node.Software, error) { return Software(t.version) }

// Workloads lists the workloads NATS serves.
func (t *Target) Workloads() []string { return []string{"register", "queue"} }

// Faults lists the faults NATS supports: all but failover (JetStream
// elects its own leaders, there is nothing to promote). Clock faults reach
// nats-server through its pid file like any node.Daemon.
func (t *Target) Faults() []string {
	return []string{"partition", "kill", "pause", "clock", "packet", "power", "delay", "disk-full", "disk-error", "slow-disk", "corrupt"}
}

// DataDirs implements targets.DataDirer: the daemon's directory, holding the JetStream store.
func (t *Target) DataDirs() []string { return []string{"/var/lib/nats"} }

// LogFiles are the files on each node worth keeping.
func (t *Target) LogFiles() []string {
	return []string{node.Daemon{Name: "nats-server"}.LogPath(), confPath}
}

func daemon() node.Daemon {
	return node.Daemon{
		Name: "nats-server",
		Dir:  "/var/lib/nats",
		Argv: []string{"/usr/local/bin/nats-server", "-c", confPath},
	}
}

// Setup writes each node's config, starts nats-server everywhere, waits
// for a healthy cluster with a meta leader, then creates the queue stream,
// its consumer and the KV bucket and waits for their leaders.
func (t *Target) Setup(ctx context.Context, nodes []node.Node, log *slog.Logger) error {
	if log != nil {
		t.log = log
	}
	if t.set.replicas > len(nodes) {
		return fmt.Errorf("nats: replicas=%d needs at least %d nodes, the cluster has %d", t.set.replicas, t.set.replicas, len(nodes))
	}
	t.nodes = nodes
	peers := make([]netip.Addr, len(nodes))
	for i, n := range nodes {
		peers[i] = n.Addr()
		t.ByNode[n.Name()] = daemon() // here: the map is not written concurrently
	}
	err := node.Each(nodes, func(n node.Node) error {
		if err := n.WriteFile(ctx, confPath, []byte(renderConfig(n.Name(), peers, t.set.sync)), 0o644); err != nil {
			return fmt.Errorf("%s: write config: %w", n.Name(), err)
		}
		return t.Start(ctx, n)
	})
	if err != nil {
		return err
	}
	if err := t.WaitHealthy(ctx, 60*time.Second); err != nil {
		return err
	}
	if err := t.createStreams(ctx); err != nil {
		return err
	}
	return t.WaitHealthy(ctx, 60*time.Second)
}

// createStreams makes the queue stream, its consumer and the KV bucket,
// retrying while JetStream settles after start.
func (t *Target) createStreams(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var lastErr error
	for attempt := 0; ; attempt++ {
		n := t.nodes[attempt%len(t.nodes)]
		if lastErr = t.createOn(ctx, n); lastErr == nil {
			return nil
		}
		t.log.Debug("nats: creating streams", "node", n.Name(), "err", lastErr)
		select {
		case <-ctx.Done():
			return fmt.Errorf("nats: create streams: %w", lastErr)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (t *Target) placement() *jetstream.Placement {
	if t.set.replicas != 1 {
		return nil
	}
	// An R1 stream lives on one node: the first, so a test can tell which
	// node's kill makes it unavailable.
	return &jetstream.Placement{Tags: []string{"node:" + t.nodes[0].Name()}}
}

func (t *Target) createOn(ctx context.Context, n node.Node) error {
	nc, err := connect(n)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("%s: jetstream: %w", n.Name(), err)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := ensureStreams(cctx, js, t.set, t.placement()); err != nil {
		return fmt.Errorf("%s: %w", n.Name(), err)
	}
	return nil
}

// ensureStreams creates, or updates to s, the queue stream, its consumer
// and the KV bucket, placed as p says (nil: anywhere).
func ensureStreams(ctx context.Context, js jetstream.JetStream, s settings, p *jetstream.Placement) error {
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       QueueStream,
		Subjects:   []string{queuePrefix + ">"},
		Retention:  jetstream.WorkQueuePolicy,
		Storage:    jetstream.FileStorage,
		Replicas:   s.replicas,
		Duplicates: s.dedupe,
		Placement:  p,
	})
	if err != nil {
		return fmt.Errorf("create stream %s: %w", QueueStream, err)
	}
	_, err = js.CreateOrUpdateConsumer(ctx, QueueStream, jetstream.ConsumerConfig{
		Durable:       QueueConsumer,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxDeliver:    -1,
		MaxAckPending: -1,
		MaxWaiting:    512,
		Replicas:      s.replicas,
	})
	if err != nil {
		return fmt.Errorf("create consumer %s: %w", QueueConsumer, err)
	}
	_, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:    Bucket,
		History:   1,
		Storage:   jetstream.FileStorage,
		Replicas:  s.replicas,
		Placement: p,
	})
	if err != nil {
		return fmt.Errorf("create KV bucket %s: %w", Bucket, err)
	}
	// KV buckets allow direct gets from any replica; kv-reads=leader turns
	// that off on the bucket's stream, and clients then ask the leader.
	st, err := js.Stream(ctx, kvStream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", kvStream, err)
	}
	cfg := st.CachedInfo().Config
	if want := s.kvReads == ReadsDirect; cfg.AllowDirect != want {
		cfg.AllowDirect = want
		if _, err := js.UpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("set AllowDirect=%v on %s: %w", want, kvStream, err)
		}
	}
	return nil
}

// WaitHealthy polls, with backoff, until every node's /healthz is ok and
// every node knows the same meta leader, or the limit passes.
func (t *Target) WaitHealthy(ctx context.Context, limit time.Duration) error {
	return node.Poll(ctx, limit, "nats health", t.log, t.healthy)
}

func (t *Target) healthy(ctx context.Context) error {
	leaders := make([]string, len(t.nodes))
	err := node.Each(t.nodes, func(n node.Node) error {
		var h struct {
			Status string `json:"status"`
			Error  string `json:"error"`
		}
		if err := t.getJSON(ctx, n, "/healthz", &h); err != nil {
			return err
		}
		if h.Status != "ok" {
			return fmt.Errorf("%s: healthz %s: %s", n.Name(), h.Status, h.Error)
		}
		jz, err := t.jsz(ctx, n)
		if err != nil {
			return err
		}
		if jz.Meta.Leader == "" {
			return fmt.Errorf("%s: no JetStream meta leader", n.Name())
		}
		for i, m := range t.nodes {
			if m.Name() == n.Name() {
				leaders[i] = jz.Meta.Leader
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, l := range leaders[1:] {
		if l != leaders[0] {
			return fmt.Errorf("nodes disagree on the meta leader: %v", leaders)
		}
	}
	return nil
}

// jszInfo is the part of /jsz faultline reads.
type jszInfo struct {
	Meta struct {
		Leader string `json:"leader"`
	} `json:"meta_cluster"`
	Accounts []jszAccount `json:"account_details"`
}

type jszAccount struct {
	Streams []jszStream `json:"stream_detail"`
}

type jszStream struct {
	Name    string `json:"name"`
	Cluster struct {
		Leader string `json:"leader"`
	} `json:"cluster"`
}

func (t *Target) jsz(ctx context.Context, n node.Node) (jszInfo, error) {
	var jz jszInfo
	err := t.getJSON(ctx, n, "/jsz?accounts=true&streams=true", &jz)
	return jz, err
}

func (t *Target) getJSON(ctx context.Context, n node.Node, path string, v any) error {
	url := fmt.Sprintf("http://%s%s", netip.AddrPortFrom(n.Addr(), HTTPPort), path)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := t.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", n.Name(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("%s: GET %s: %w", n.Name(), path, err)
	}
	// /healthz answers 503 with a JSON body saying why.
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s: GET %s: %s: %w", n.Name(), path, resp.Status, err)
	}
	return nil
}

// Primaries names the nodes that believe they lead a stream the run uses
// (the queue stream, the KV bucket's), or the JetStream meta leader before
// any is used. Across a partition more than one node may say so.
func (t *Target) Primaries(ctx context.Context) ([]string, error) {
	used := t.state.usedStreams()
	var mu sync.Mutex
	var out []string
	err := node.Each(t.nodes, func(n node.Node) error {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		jz, err := t.jsz(cctx, n)
		if err != nil {
			return nil // an unreachable node is no primary we can see
		}
		if isPrimary(jz, n.Name(), used) {
			mu.Lock()
			out = append(out, n.Name())
			mu.Unlock()
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

// isPrimary says whether node name, by its own /jsz, leads one of the
// streams, or the meta group when streams is empty.
func isPrimary(jz jszInfo, name string, streams []string) bool {
	if len(streams) == 0 {
		return jz.Meta.Leader == name
	}
	for _, a := range jz.Accounts {
		for _, s := range a.Streams {
			for _, u := range streams {
				if s.Name == u && s.Cluster.Leader == name {
					return true
				}
			}
		}
	}
	return false
}

// connect opens a connection to node n only.
func connect(n node.Node) (*nats.Conn, error) {
	nc, err := connectTo(netip.AddrPortFrom(n.Addr(), ClientPort).String(), n.Name())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n.Name(), err)
	}
	return nc, nil
}

// connectTo opens a connection to the server at addr (host:port) only,
// called name there: reconnecting to it forever, with no buffering of
// publishes while disconnected (they would be replayed, unseen by the
// history) and no servers learnt from the cluster.
func connectTo(addr, name string) (*nats.Conn, error) {
	nc, err := nats.Connect("nats://"+addr,
		nats.Name("faultline-"+name),
		nats.ReconnectBufSize(-1),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(200*time.Millisecond),
		nats.IgnoreDiscoveredServers(),
		nats.Timeout(2*time.Second),
		nats.PingInterval(2*time.Second),
		nats.MaxPingsOutstanding(2),
	)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	return nc, nil
}

// NewClient opens a client pinned to node n, as Dial does for its address.
func (t *Target) NewClient(ctx context.Context, n node.Node) (workloads.Client, error) {
	nc, err := connect(n)
	if err != nil {
		return nil, err
	}
	c, err := newClient(nc, t.state, false, t.log)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n.Name(), err)
	}
	return c, nil
}
