// Package sim runs a cluster of Maelstrom nodes inside one process for
// tests: each node reads and writes through pipes, exactly as it would on
// stdin and stdout, and a router carries its messages to the other nodes
// over links that a test can cut and heal, and to one client, c1.
package sim

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"example.com/maelstrom-examples/node"
)

// Setup registers a program's handlers on a fresh node; it is called again
// for a restarted node, which starts with no state.
type Setup func(n *node.Node)

type member struct {
	inbox  chan node.Message
	stdin  *io.PipeWriter
	cancel context.CancelFunc
	done   chan struct{}
}

// Cluster is a running set of nodes. Its methods are safe for concurrent use.
type Cluster struct {
	ctx   context.Context
	ids   []string
	setup Setup
	logw  io.Writer

	mu       sync.Mutex
	members  map[string]*member
	services map[string]Service
	cut      map[[2]string]bool
	waiting  map[int64]chan node.Message
	nextID   int64
	sent     int // node-to-node messages delivered
	dropped  int // node-to-node messages lost on a cut link
}

// Start starts one node per id, each set up by setup, and initialises them.
// Node logs go to logw. Close stops them.
func Start(ctx context.Context, ids []string, setup Setup, logw io.Writer) (*Cluster, error) {
	c := &Cluster{
		ctx:     ctx,
		ids:     append([]string(nil), ids...),
		setup:   setup,
		logw:    logw,
		members: make(map[string]*member),
		cut:     make(map[[2]string]bool),
		waiting: make(map[int64]chan node.Message),
	}
	for _, id := range ids {
		if err := c.startNode(ctx, id); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

func (c *Cluster) startNode(ctx context.Context, id string) error {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	nctx, cancel := context.WithCancel(c.ctx)
	m := &member{inbox: make(chan node.Message, 1<<16), stdin: inW, cancel: cancel, done: make(chan struct{})}
	n := node.New(inR, outW, c.logw)
	c.setup(n)

	c.mu.Lock()
	c.members[id] = m
	c.mu.Unlock()

	go func() {
		defer close(m.done)
		_ = n.Run(nctx)
		_ = outW.Close()
		_ = inR.Close()
	}()
	go c.route(outR)
	// The inbox decouples routers from readers so no cycle of full pipes
	// can block the cluster.
	go func() {
		for {
			select {
			case <-nctx.Done():
				return
			case msg := <-m.inbox:
				line, err := json.Marshal(msg)
				if err != nil {
					continue
				}
				if _, err := inW.Write(append(line, '\n')); err != nil {
					return
				}
			}
		}
	}()

	reply, err := c.Call(ctx, id, map[string]any{"type": "init", "node_id": id, "node_ids": c.ids})
	if err != nil {
		return fmt.Errorf("init %s: %w", id, err)
	}
	if reply.Type() != "init_ok" {
		return fmt.Errorf("init %s: got %s", id, reply.Body)
	}
	return nil
}

func (c *Cluster) route(out io.Reader) {
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		var msg node.Message
		if err := json.Unmarshal(sc.Bytes(), &msg); err != nil {
			fmt.Fprintf(c.logw, "sim: garbage on stdout: %q\n", sc.Text())
			continue
		}
		if node.IsClient(msg.Dest) {
			h, err := msg.Header()
			if err != nil || h.InReplyTo == nil {
				continue
			}
			c.mu.Lock()
			ch := c.waiting[*h.InReplyTo]
			delete(c.waiting, *h.InReplyTo)
			c.mu.Unlock()
			if ch != nil {
				ch <- msg
			}
			continue
		}
		c.mu.Lock()
		svc := c.services[msg.Dest]
		c.mu.Unlock()
		if svc != nil {
			c.serve(msg, svc)
			continue
		}
		c.mu.Lock()
		dest := c.members[msg.Dest]
		lost := c.cut[[2]string{msg.Src, msg.Dest}] || dest == nil
		if lost {
			c.dropped++
		} else {
			c.sent++
		}
		c.mu.Unlock()
		if !lost {
			select {
			case dest.inbox <- msg:
			default: // a full inbox loses the message, like a full socket buffer
			}
		}
	}
}

// Service answers a request body from node src with a reply body (a
// stand-in for one of Maelstrom's services, such as lin-kv, in tests).
type Service func(src string, body map[string]any) map[string]any

// Serve makes messages to name go to svc, whose replies go back to the
// sender, as Maelstrom's services do. Partitions never cut them off.
func (c *Cluster) Serve(name string, svc Service) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.services == nil {
		c.services = map[string]Service{}
	}
	c.services[name] = svc
}

func (c *Cluster) serve(msg node.Message, svc Service) {
	var body map[string]any
	if err := json.Unmarshal(msg.Body, &body); err != nil {
		return
	}
	reply := svc(msg.Src, body)
	if reply == nil || body["msg_id"] == nil {
		return
	}
	reply["in_reply_to"] = body["msg_id"]
	raw, err := json.Marshal(reply)
	if err != nil {
		return
	}
	c.mu.Lock()
	dest := c.members[msg.Src]
	c.mu.Unlock()
	if dest != nil {
		select {
		case dest.inbox <- node.Message{Src: msg.Dest, Dest: msg.Src, Body: raw}:
		default:
		}
	}
}

// Call sends body from client c1 to node id and waits for the reply.
func (c *Cluster) Call(ctx context.Context, id string, body map[string]any) (node.Message, error) {
	c.mu.Lock()
	c.nextID++
	msgID := c.nextID
	ch := make(chan node.Message, 1)
	c.waiting[msgID] = ch
	m := c.members[id]
	c.mu.Unlock()
	if m == nil {
		return node.Message{}, fmt.Errorf("no node %s", id)
	}
	full := map[string]any{"msg_id": msgID}
	for k, v := range body {
		full[k] = v
	}
	raw, err := json.Marshal(full)
	if err != nil {
		return node.Message{}, fmt.Errorf("encode request: %w", err)
	}
	m.inbox <- node.Message{Src: "c1", Dest: id, Body: raw}
	select {
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.waiting, msgID)
		c.mu.Unlock()
		return node.Message{}, fmt.Errorf("call %s on %s: %w", body["type"], id, ctx.Err())
	case reply := <-ch:
		return reply, nil
	}
}

// Cut drops every message between a and b, both ways, until Heal.
func (c *Cluster) Cut(a, b string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut[[2]string{a, b}] = true
	c.cut[[2]string{b, a}] = true
}

// Isolate cuts every link of id.
func (c *Cluster) Isolate(id string) {
	for _, other := range c.ids {
		if other != id {
			c.Cut(id, other)
		}
	}
}

// Heal restores every link.
func (c *Cluster) Heal() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.cut)
}

// Restart kills node id, losing its state, and starts and initialises a
// fresh one under the same id, as a crashed process restarted would be.
func (c *Cluster) Restart(ctx context.Context, id string) error {
	c.mu.Lock()
	m := c.members[id]
	delete(c.members, id)
	c.mu.Unlock()
	if m == nil {
		return fmt.Errorf("no node %s", id)
	}
	m.cancel()
	_ = m.stdin.Close()
	<-m.done
	return c.startNode(ctx, id)
}

// Stats returns how many node-to-node messages were delivered and dropped.
func (c *Cluster) Stats() (sent, dropped int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sent, c.dropped
}

// Close stops every node and waits for them.
func (c *Cluster) Close() {
	c.mu.Lock()
	ms := make([]*member, 0, len(c.members))
	for _, m := range c.members {
		ms = append(ms, m)
	}
	c.mu.Unlock()
	for _, m := range ms {
		m.cancel()
		_ = m.stdin.Close()
	}
	for _, m := range ms {
		<-m.done
	}
}

// ErrorCode returns the code of an error reply, or an error if msg is not one.
func ErrorCode(msg node.Message) (int, error) {
	h, err := msg.Header()
	if err != nil {
		return 0, err
	}
	if h.Type != "error" || h.Code == nil {
		return 0, errors.New("not an error reply: " + strings.TrimSpace(string(msg.Body)))
	}
	return *h.Code, nil
}

// ReadSet sends a broadcast-workload read to id and returns the messages it
// holds, as compact JSON texts.
func (c *Cluster) ReadSet(ctx context.Context, id string) (map[string]bool, error) {
	reply, err := c.Call(ctx, id, map[string]any{"type": "read"})
	if err != nil {
		return nil, err
	}
	var body struct {
		Type     string            `json:"type"`
		Messages []json.RawMessage `json:"messages"`
	}
	if err := reply.Decode(&body); err != nil {
		return nil, err
	}
	if body.Type != "read_ok" {
		return nil, fmt.Errorf("read on %s: %s", id, reply.Body)
	}
	set := make(map[string]bool, len(body.Messages))
	for _, m := range body.Messages {
		set[strings.TrimSpace(string(m))] = true
	}
	return set, nil
}

// Topology sends every node a topology message making a ring, as the
// broadcast workload does at the start of a test.
func (c *Cluster) Topology(ctx context.Context) error {
	topo := map[string][]string{}
	for i, id := range c.ids {
		topo[id] = []string{c.ids[(i+1)%len(c.ids)]}
	}
	for _, id := range c.ids {
		reply, err := c.Call(ctx, id, map[string]any{"type": "topology", "topology": topo})
		if err != nil {
			return err
		}
		if reply.Type() != "topology_ok" {
			return fmt.Errorf("topology on %s: %s", id, reply.Body)
		}
	}
	return nil
}
