// Command maelstrom-shim runs one node program that speaks Maelstrom's
// protocol (JSON messages, one per line, on stdin and stdout) as a member
// of a real cluster: it sends the program init, carries its messages to
// the other nodes' shims over TCP, and serves clients on a TCP port. It is
// built into every node of faultline's maelstrom target; it uses the
// standard library only, so it builds offline.
//
// Usage:
//
//	maelstrom-shim -id n1 -peers n1=ADDR,n2=ADDR,... -client :PORT -peer :PORT [-init-timeout 5s]
//	               [-services HOST:PORT -service-names lin-kv,seq-kv,...] -- PROGRAM ARGS...
//
// A message the program sends to one of -service-names (Maelstrom's
// services) goes over one TCP connection to -services, the controller's
// service server; its replies come back on it to the program.
//
// The program's stderr goes to the shim's stderr (the daemon log). When
// the program exits, so does the shim, with one line saying why.
//
// The shim counts the messages it carries; a client message to dest
// "faultline-shim" of type "stats" is answered by the shim itself with
// the counts (stats_ok), for faultline's network statistics.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// maxLine bounds one message; a longer line is a broken program.
const maxLine = 16 << 20

// message is the envelope every Maelstrom message has; the body is kept
// raw so the shim forwards it untouched.
type message struct {
	Src  string          `json:"src"`
	Dest string          `json:"dest"`
	Body json.RawMessage `json:"body"`
}

// parseMessage checks that line is a Maelstrom message: a JSON object with
// src, dest and an object body carrying a type.
func parseMessage(line []byte) (message, error) {
	var m message
	if err := json.Unmarshal(line, &m); err != nil {
		return m, fmt.Errorf("not a JSON message: %w", err)
	}
	if m.Dest == "" {
		return m, errors.New("message without dest")
	}
	var b struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(m.Body, &b); err != nil || b.Type == "" {
		return m, errors.New("message body is not an object with a type")
	}
	return m, nil
}

// parseClientMessage parses a client's line; a message without dest is
// for the node behind this port, so a client need not know its id.
func parseClientMessage(line []byte, self string) (message, error) {
	var probe struct {
		Dest *string `json:"dest"`
	}
	if json.Unmarshal(line, &probe) == nil && (probe.Dest == nil || *probe.Dest == "") {
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(line, &raw); err != nil {
			return message{}, err
		}
		raw["dest"], _ = json.Marshal(self)
		line, _ = json.Marshal(raw)
	}
	return parseMessage(line)
}

// bodyType returns a message body's type and in_reply_to.
func bodyType(raw json.RawMessage) (string, int64) {
	var b struct {
		Type      string `json:"type"`
		InReplyTo int64  `json:"in_reply_to"`
	}
	_ = json.Unmarshal(raw, &b)
	return b.Type, b.InReplyTo
}

// readLine reads one newline-terminated line (without the newline),
// refusing lines longer than maxLine.
func readLine(r *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := r.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > maxLine {
			return nil, fmt.Errorf("line longer than %d bytes", maxLine)
		}
		switch {
		case err == nil:
			return bytes.TrimRight(buf, "\r\n"), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(buf) > 0:
			return bytes.TrimRight(buf, "\r\n"), nil
		default:
			return nil, err
		}
	}
}

// isClient reports whether id names a client (c1, c2, ...), not a node.
func isClient(id string) bool { return strings.HasPrefix(id, "c") }

// statsDest is the dest a client uses to ask the shim, not the node, for
// its message counts.
const statsDest = "faultline-shim"

// counts are the messages this shim carried since it started, by kind.
// Node messages are the program's own to other nodes; client messages are
// requests from clients and the program's replies to them (relaying a
// client's request or reply between shims is neither).
type counts struct {
	nodeSent      atomic.Int64 // printed by the program for another node
	nodeDelivered atomic.Int64 // from another node, handed to the program
	clientIn      atomic.Int64 // client requests handed to the program
	clientOut     atomic.Int64 // the program's replies to clients
}

// shim is one node's switchboard.
type shim struct {
	id string
	// incarnation tells this run of the shim from the one before a kill,
	// so a reader of the counts knows when they restarted from zero.
	incarnation int64
	counts      counts
	ids         []string         // every node id, sorted
	peers       map[string]*peer // other nodes by id
	stdin       chan []byte      // lines for the program, written by one goroutine
	logf        func(string, ...any)

	svc *serviceLink // nil without -services

	mu      sync.Mutex
	clients map[string]*clientConn // client id -> its connection here
}

// peer is the outgoing link to one other node: a queue that drops when
// full, as a congested network would, so the node never blocks on it.
type peer struct {
	id, addr string
	queue    chan []byte
}

type clientConn struct {
	mu sync.Mutex
	c  net.Conn
}

func (c *clientConn) send(line []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := c.c.Write(append(line, '\n'))
	return err
}

func main() {
	// The program is started from this thread, which never exits, so its
	// parent-death signal fires only when the shim dies (a kill fault).
	runtime.LockOSThread()
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "maelstrom-shim: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	id := flag.String("id", "", "this node's id, e.g. n1")
	peersFlag := flag.String("peers", "", "every node as id=host:port (its peer port), comma-separated")
	clientAddr := flag.String("client", ":7000", "address to serve clients on")
	peerAddr := flag.String("peer", ":7001", "address to accept other nodes' messages on")
	initTimeout := flag.Duration("init-timeout", 5*time.Second, "how long the program may take to answer init")
	svcAddr := flag.String("services", "", "host:port of the service server (Maelstrom's lin-kv, seq-kv, ...)")
	svcNames := flag.String("service-names", "", "the services' names, comma-separated: messages to them go to -services")
	flag.Parse()
	argv := flag.Args()
	if *id == "" || len(argv) == 0 {
		return errors.New("usage: maelstrom-shim -id ID -peers ID=ADDR,... -- PROGRAM ARGS")
	}
	s := &shim{id: *id, incarnation: time.Now().UnixNano(), peers: map[string]*peer{}, stdin: make(chan []byte, 4096), clients: map[string]*clientConn{}}
	s.logf = func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "maelstrom-shim %s: %s\n", time.Now().UTC().Format("15:04:05.000"), fmt.Sprintf(format, args...))
	}
	for _, kv := range strings.Split(*peersFlag, ",") {
		pid, addr, ok := strings.Cut(kv, "=")
		if !ok || pid == "" || addr == "" {
			return fmt.Errorf("-peers: %q is not id=host:port", kv)
		}
		s.ids = append(s.ids, pid)
		if pid != s.id {
			s.peers[pid] = &peer{id: pid, addr: addr, queue: make(chan []byte, 1024)}
		}
	}
	sort.Slice(s.ids, func(i, j int) bool { return nodeLess(s.ids[i], s.ids[j]) })
	if (*svcAddr == "") != (*svcNames == "") {
		return errors.New("-services and -service-names go together")
	}
	if *svcAddr != "" {
		s.svc = &serviceLink{addr: *svcAddr, names: map[string]bool{}, queue: make(chan []byte, 1024)}
		for _, name := range strings.Split(*svcNames, ",") {
			if _, isPeer := s.peers[name]; isPeer || name == s.id || isClient(name) {
				return fmt.Errorf("-service-names: %q is a node or client id", name)
			}
			s.svc.names[name] = true
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = os.Stderr
	// Its own process group, so the shim can end whatever it started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", argv[0], err)
	}
	exited := make(chan error, 1)
	out := bufio.NewReaderSize(outPipe, 64<<10)
	lines := make(chan []byte)
	readErr := make(chan error, 1)
	// lines is unbuffered: the program's output is read as fast as it is routed.
	go func() {
		for {
			line, err := readLine(out)
			if err != nil {
				readErr <- err
				// Wait only once stdout is drained, as os/exec asks.
				exited <- cmd.Wait()
				return
			}
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			lines <- line
		}
	}()

	if err := s.init(in, lines, readErr, exited, *initTimeout); err != nil {
		killGroup(cmd)
		return err
	}
	s.logf("%s answered init; serving clients on %s, peers on %s", argv[0], *clientAddr, *peerAddr)

	go s.writeStdin(in)
	for _, p := range s.peers {
		go p.run(ctx, s.logf)
	}
	if s.svc != nil {
		go s.svc.run(ctx, func(line []byte) { s.deliver(line, false) }, s.logf)
	}
	pl, err := net.Listen("tcp", *peerAddr)
	if err != nil {
		return err
	}
	go s.acceptPeers(pl)
	cl, err := net.Listen("tcp", *clientAddr)
	if err != nil {
		return err
	}
	go s.acceptClients(cl)

	for {
		select {
		case <-ctx.Done():
			_ = cmd.Process.Signal(syscall.SIGTERM)
			return nil
		case line := <-lines:
			s.route(line)
		case err := <-readErr:
			// stdout closed: the program is exiting; report how.
			select {
			case werr := <-exited:
				killGroup(cmd)
				return fmt.Errorf("node program exited: %v", exitText(werr))
			case <-time.After(5 * time.Second):
				killGroup(cmd)
				return fmt.Errorf("node program closed its stdout (%v)", err)
			}
		}
	}
}

// init sends the program its init message and waits for init_ok.
func (s *shim) init(in io.Writer, lines <-chan []byte, readErr <-chan error, exited <-chan error, limit time.Duration) error {
	body, _ := json.Marshal(map[string]any{"type": "init", "msg_id": 1, "node_id": s.id, "node_ids": s.ids})
	msg, _ := json.Marshal(message{Src: "c0", Dest: s.id, Body: body})
	if _, err := in.Write(append(msg, '\n')); err != nil {
		return fmt.Errorf("node program did not take init: %w", err)
	}
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		select {
		case line := <-lines:
			m, err := parseMessage(line)
			if err != nil {
				return fmt.Errorf("node program printed something that is not a Maelstrom message before init_ok: %q (%v)", clip(line), err)
			}
			switch typ, irt := bodyType(m.Body); {
			case typ == "init_ok" && irt == 1:
				return nil
			case typ == "error":
				return fmt.Errorf("node program refused init: %s", clip(m.Body))
			default:
				s.logf("dropped %s to %s sent before init_ok", typ, m.Dest)
			}
		case <-readErr:
			select {
			case err := <-exited:
				return fmt.Errorf("node program exited before answering init: %s", exitText(err))
			case <-time.After(2 * time.Second):
				return errors.New("node program closed its stdout before answering init")
			}
		case <-timer.C:
			return fmt.Errorf("node program did not answer init within %s", limit)
		}
	}
}

// killGroup kills the node program and anything it started.
func killGroup(cmd *exec.Cmd) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

func clip(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

// nodeLess orders n2 before n10.
func nodeLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// writeStdin is the one writer of the program's stdin.
func (s *shim) writeStdin(in io.Writer) {
	for line := range s.stdin {
		if _, err := in.Write(append(line, '\n')); err != nil {
			s.logf("write to node program: %v", err)
			return
		}
	}
}

// deliver queues line for the program; with block false it drops the
// line when the program is not keeping up, as a network would.
func (s *shim) deliver(line []byte, block bool) {
	if block {
		s.stdin <- line
		return
	}
	select {
	case s.stdin <- line:
	default:
		s.logf("dropped a message: node program not reading its stdin")
	}
}

// route sends one line the program printed to where its dest is.
func (s *shim) route(line []byte) {
	m, err := parseMessage(line)
	if err != nil {
		s.logf("dropped stdout line that is not a Maelstrom message: %q (%v)", clip(line), err)
		return
	}
	switch {
	case m.Dest == s.id:
		s.deliver(line, false)
	case isClient(m.Dest):
		s.counts.clientOut.Add(1)
		if s.toClient(m.Dest, line) {
			return
		}
		// The client is connected elsewhere (a node answering a request
		// another node forwarded): every other shim gets a copy, and the
		// one holding the client delivers it.
		for _, p := range s.peers {
			p.send(line)
		}
	case s.svc != nil && s.svc.names[m.Dest]:
		s.svc.send(line)
	default:
		p, ok := s.peers[m.Dest]
		if !ok {
			s.logf("dropped a message to unknown node %q", m.Dest)
			return
		}
		s.counts.nodeSent.Add(1)
		p.send(line)
	}
}

// toClient writes line to the client's connection here, if it has one.
func (s *shim) toClient(id string, line []byte) bool {
	s.mu.Lock()
	c := s.clients[id]
	s.mu.Unlock()
	if c == nil {
		return false
	}
	if err := c.send(line); err != nil {
		s.logf("reply to %s: %v", id, err)
	}
	return true
}

func (p *peer) send(line []byte) {
	select {
	case p.queue <- line:
	default: // the link is down or slow: the message is lost
	}
}

// run keeps one connection to the peer and writes its queue to it. A
// message whose write fails is lost, as on a network; the link is dialed
// again, with a pause, on the next message.
func (p *peer) run(ctx context.Context, logf func(string, ...any)) {
	var conn net.Conn
	var w *bufio.Writer
	var down time.Time
	for {
		var line []byte
		select {
		case <-ctx.Done():
			return
		case line = <-p.queue:
		}
		if conn == nil {
			if time.Since(down) < 200*time.Millisecond {
				continue // dropped: the link failed just now
			}
			c, err := net.DialTimeout("tcp", p.addr, time.Second)
			if err != nil {
				down = time.Now()
				continue
			}
			conn, w = c, bufio.NewWriter(c)
		}
		_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
		w.Write(line)
		w.WriteByte('\n')
		// Flush when the queue is empty: batches under load, prompt otherwise.
		if len(p.queue) == 0 {
			if err := w.Flush(); err != nil {
				logf("link to %s: %v", p.id, err)
				conn.Close()
				conn, down = nil, time.Now()
			}
		}
	}
}

// serviceLink is the connection to the service server: requests go out
// through a queue that drops when full, as a peer's; replies come back on
// the same connection.
type serviceLink struct {
	addr  string
	names map[string]bool
	queue chan []byte
}

func (l *serviceLink) send(line []byte) {
	select {
	case l.queue <- line:
	default: // the server is unreachable or slow: the request is lost
	}
}

// run writes the queue to the server, dialing it again (with a pause)
// after a failure, and hands each reply to deliver. A request whose write
// fails is lost, and so are replies the broken connection held.
func (l *serviceLink) run(ctx context.Context, deliver func([]byte), logf func(string, ...any)) {
	var conn net.Conn
	var w *bufio.Writer
	var down time.Time
	broken := make(chan net.Conn, 1) // a reader saw its connection end
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for {
		var line []byte
		select {
		case <-ctx.Done():
			return
		case c := <-broken:
			if c == conn {
				conn.Close()
				conn, down = nil, time.Now()
			}
			continue
		case line = <-l.queue:
		}
		if conn == nil {
			if time.Since(down) < 200*time.Millisecond {
				continue // dropped: the link failed just now
			}
			c, err := net.DialTimeout("tcp", l.addr, time.Second)
			if err != nil {
				logf("services at %s: %v", l.addr, err)
				down = time.Now()
				continue
			}
			conn, w = c, bufio.NewWriter(c)
			go func() {
				r := bufio.NewReaderSize(c, 64<<10)
				for {
					line, err := readLine(r)
					if err != nil {
						broken <- c // buffered, and each reader sends once
						return
					}
					if _, err := parseMessage(line); err == nil {
						deliver(line)
					}
				}
			}()
		}
		_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
		w.Write(line)
		w.WriteByte('\n')
		if len(l.queue) == 0 {
			if err := w.Flush(); err != nil {
				logf("services at %s: %v", l.addr, err)
				conn.Close()
				conn, down = nil, time.Now()
			}
		}
	}
}

// acceptPeers reads messages other shims send.
func (s *shim) acceptPeers(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			s.logf("peer listener: %v", err)
			return
		}
		go func() {
			defer c.Close()
			r := bufio.NewReaderSize(c, 64<<10)
			for {
				line, err := readLine(r)
				if err != nil {
					return
				}
				m, err := parseMessage(line)
				if err != nil {
					continue
				}
				switch {
				case m.Dest == s.id:
					if isClient(m.Src) {
						s.counts.clientIn.Add(1) // a request relayed from the client's shim
					} else {
						s.counts.nodeDelivered.Add(1)
					}
					s.deliver(line, false)
				case isClient(m.Dest):
					s.toClient(m.Dest, line) // not ours: another shim has it
				}
			}
		}()
	}
}

// acceptClients serves client connections: each line is a message from a
// client to this node.
func (s *shim) acceptClients(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			s.logf("client listener: %v", err)
			return
		}
		go s.serveClient(c)
	}
}

func (s *shim) serveClient(c net.Conn) {
	cc := &clientConn{c: c}
	var ids []string
	defer func() {
		s.mu.Lock()
		for _, id := range ids {
			if s.clients[id] == cc {
				delete(s.clients, id)
			}
		}
		s.mu.Unlock()
		c.Close()
	}()
	r := bufio.NewReaderSize(c, 64<<10)
	for {
		line, err := readLine(r)
		if err != nil {
			return
		}
		m, err := parseClientMessage(line, s.id)
		if err == nil {
			line, err = json.Marshal(m)
		}
		if err != nil || !isClient(m.Src) {
			body, _ := json.Marshal(map[string]any{"type": "error", "code": 12, "text": "shim: want a message from a client id c<N>"})
			reply, _ := json.Marshal(message{Src: s.id, Dest: m.Src, Body: body})
			_ = cc.send(reply)
			continue
		}
		if m.Dest == statsDest {
			_ = cc.send(s.statsReply(m))
			continue
		}
		s.mu.Lock()
		if s.clients[m.Src] != cc {
			s.clients[m.Src] = cc
			ids = append(ids, m.Src)
		}
		s.mu.Unlock()
		// Requests to another node go there over the network, as
		// Maelstrom's clients may address any node.
		if m.Dest != s.id {
			if p, ok := s.peers[m.Dest]; ok {
				p.send(line)
			}
			continue
		}
		s.counts.clientIn.Add(1)
		s.deliver(line, true)
	}
}

// statsReply answers a stats request with this shim's counts so far.
func (s *shim) statsReply(req message) []byte {
	var b struct {
		MsgID int64 `json:"msg_id"`
	}
	_ = json.Unmarshal(req.Body, &b)
	body, _ := json.Marshal(map[string]any{
		"type": "stats_ok", "in_reply_to": b.MsgID, "incarnation": s.incarnation,
		"node_sent": s.counts.nodeSent.Load(), "node_delivered": s.counts.nodeDelivered.Load(),
		"client_in": s.counts.clientIn.Load(), "client_out": s.counts.clientOut.Load(),
	})
	line, _ := json.Marshal(message{Src: statsDest, Dest: req.Src, Body: body})
	return line
}
