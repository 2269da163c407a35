package maelstrom

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/models/netstats"
)

// statsDest is the dest of a request the shim answers itself with its
// message counts (see the shim's statsReply).
const statsDest = "faultline-shim"

// statsEvery is how often the controller reads every shim's counts. A
// kill loses what a shim counted since its last reading.
const statsEvery = time.Second

// netNote says in results.json how the counts were taken.
const netNote = "Counted by each node's shim and read by the controller every second; a kill loses at most the last second of the killed node's counts, and a paused node's counts arrive when it resumes."

// shimCounts is one reading of a shim's counters, cumulative since the
// shim (incarnation) started.
type shimCounts struct {
	Incarnation   int64 `json:"incarnation"`
	NodeSent      int64 `json:"node_sent"`
	NodeDelivered int64 `json:"node_delivered"`
	ClientIn      int64 `json:"client_in"`
	ClientOut     int64 `json:"client_out"`
}

// netPoller reads every shim's counters on a timer and keeps the deltas
// as samples.
type netPoller struct {
	nodes []node.Node
	// unanswered is told of a node whose shim did not answer.
	unanswered func(context.Context, node.Node)
	// service returns the messages each node exchanged with services so
	// far (nil without services).
	service func() map[string]int64
	lastSvc map[string]int64
	stop    context.CancelFunc
	done    chan struct{}
	mu      sync.Mutex
	last    map[string]shimCounts
	out     []netstats.Sample
	conns   map[string]*Client
	closed  bool
}

// startNetPoller starts reading nodes' counters until stopped.
func startNetPoller(nodes []node.Node, unanswered func(context.Context, node.Node), service func() map[string]int64) *netPoller {
	ctx, cancel := context.WithCancel(context.Background())
	p := &netPoller{nodes: nodes, unanswered: unanswered, service: service, lastSvc: map[string]int64{}, stop: cancel, done: make(chan struct{}), last: map[string]shimCounts{}, conns: map[string]*Client{}}
	go func() {
		defer close(p.done)
		t := time.NewTicker(statsEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				p.pollAll(ctx)
			}
		}
	}()
	return p
}

// pollAll reads every node once, in parallel: a paused node must not
// delay the others' readings.
func (p *netPoller) pollAll(ctx context.Context) {
	var wg sync.WaitGroup
	for _, n := range p.nodes {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, statsEvery-100*time.Millisecond)
			defer cancel()
			c, err := p.read(cctx, n)
			if err != nil {
				// Paused, killed, or its program exited: read again next
				// time, after the target had a look.
				if p.unanswered != nil && ctx.Err() == nil {
					p.unanswered(ctx, n)
				}
				return
			}
			p.add(n.Name(), c, time.Now())
		})
	}
	wg.Wait()
	if p.service != nil {
		p.addService(p.service(), time.Now())
	}
}

// addService turns the services' counts per node (cumulative: they live
// in the controller, which no fault restarts) into samples.
func (p *netPoller) addService(counts map[string]int64, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	names := make([]string, 0, len(counts))
	for n := range counts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if d := counts[n] - p.lastSvc[n]; d > 0 {
			p.out = append(p.out, netstats.Sample{At: at, Node: n, Service: d})
		}
		p.lastSvc[n] = counts[n]
	}
}

// read asks n's shim for its counts.
func (p *netPoller) read(ctx context.Context, n node.Node) (shimCounts, error) {
	p.mu.Lock()
	c := p.conns[n.Name()]
	p.mu.Unlock()
	if c == nil {
		var err error
		c, err = dial(ctx, net.JoinHostPort(n.Addr().String(), strconv.Itoa(ClientPort)), map[string]string{"node": statsDest})
		if err != nil {
			return shimCounts{}, err
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			return shimCounts{}, fmt.Errorf("stopped")
		}
		p.conns[n.Name()] = c
		p.mu.Unlock()
	}
	body, err := c.call(ctx, "stats", nil)
	if err != nil {
		return shimCounts{}, err
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return shimCounts{}, err
	}
	var sc shimCounts
	if err := json.Unmarshal(raw, &sc); err != nil {
		return shimCounts{}, fmt.Errorf("stats reply: %w", err)
	}
	return sc, nil
}

// add turns a reading into a sample: the change since the last reading of
// the same incarnation, or all of it for a shim that restarted.
func (p *netPoller) add(name string, c shimCounts, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	prev, ok := p.last[name]
	if !ok || prev.Incarnation != c.Incarnation {
		prev = shimCounts{}
	}
	p.last[name] = c
	s := netstats.Sample{At: at, Node: name,
		NodeSent: c.NodeSent - prev.NodeSent, NodeDelivered: c.NodeDelivered - prev.NodeDelivered,
		ClientIn: c.ClientIn - prev.ClientIn, ClientOut: c.ClientOut - prev.ClientOut}
	if s.NodeSent|s.NodeDelivered|s.ClientIn|s.ClientOut == 0 {
		return
	}
	p.out = append(p.out, s)
}

// finish takes a last reading, stops the poller and returns the samples.
func (p *netPoller) finish(ctx context.Context) []netstats.Sample {
	p.halt()
	p.pollAll(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = map[string]*Client{}
	return append([]netstats.Sample(nil), p.out...)
}

// halt stops the timer and waits for a reading under way.
func (p *netPoller) halt() {
	p.stop()
	<-p.done
}

// close stops the poller and its connections.
func (p *netPoller) close() {
	p.halt()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = map[string]*Client{}
}

// Messages implements targets.MessageCounter: what every node's shim
// counted, as samples per node and second.
func (t *Target) Messages(ctx context.Context) (netstats.File, error) {
	if t.net == nil {
		return netstats.File{}, fmt.Errorf("maelstrom: no network statistics: the nodes never started")
	}
	return netstats.File{Samples: t.net.finish(ctx), Note: netNote}, nil
}
