package services

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"sync"
	"time"
)

// maxLine bounds one request, as the shim bounds a node's line.
const maxLine = 16 << 20

// writeTimeout is how long a reply may wait on a shim that does not read
// (a paused node) before its connection is dropped, as a network would.
const writeTimeout = 2 * time.Second

// Traffic is what one service exchanged with one node.
type Traffic struct {
	Requests int64 `json:"requests"` // messages the node sent it
	Replies  int64 `json:"replies"`  // replies written back to the node's shim
}

// Server serves the services over TCP: each shim keeps one connection
// and writes its node's requests on it, one Maelstrom message per line
// (dest the service's name); the replies come back on the same
// connection. It counts the messages per service and per calling node.
type Server struct {
	l        net.Listener
	services map[string]Service
	log      *slog.Logger

	mu      sync.Mutex
	traffic map[string]map[string]*Traffic // service -> node -> counts
	conns   map[net.Conn]struct{}
	closed  bool
	wg      sync.WaitGroup
}

// Default returns Maelstrom's default services, their randomness drawn
// from seed.
func Default(seed uint64) map[string]Service {
	return map[string]Service{
		LinKV:  NewLin(),
		SeqKV:  NewSeq(DefaultSeqWindow, seed),
		LWWKV:  NewLWW(DefaultLWWReplicas, seed),
		LinTSO: &TSO{},
	}
}

// Listen serves services on addr (host:port; port 0 picks one).
func Listen(addr string, services map[string]Service, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("maelstrom services: listen on %s: %w", addr, err)
	}
	s := &Server{l: l, services: services, log: log,
		traffic: map[string]map[string]*Traffic{}, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.l.Addr().String() }

// Names are the services' names, sorted.
func (s *Server) Names() []string { return slices.Sorted(maps.Keys(s.services)) }

// Traffic returns a copy of the counts so far: service -> node -> counts.
// It stays readable after Close.
func (s *Server) Traffic() map[string]map[string]Traffic {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]map[string]Traffic, len(s.traffic))
	for svc, byNode := range s.traffic {
		out[svc] = make(map[string]Traffic, len(byNode))
		for n, t := range byNode {
			out[svc][n] = *t
		}
	}
	return out
}

// Close stops serving: the listener and every connection close, and
// Close returns once their goroutines have ended.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	err := s.l.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.l.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Warn("maelstrom services: accept", "err", err)
			}
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(c)
	}
}

// message is a Maelstrom envelope.
type message struct {
	Src  string          `json:"src"`
	Dest string          `json:"dest"`
	Body json.RawMessage `json:"body"`
}

// serve answers one shim's requests in order; the services are in
// memory, so answering inline keeps each node's requests in the order it
// sent them.
func (s *Server) serve(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	r := bufio.NewReaderSize(c, 64<<10)
	w := bufio.NewWriter(c)
	pending := map[[2]string]int64{} // replies buffered, not yet flushed
	for {
		line, err := readLine(r)
		if err != nil {
			return
		}
		var m message
		if err := json.Unmarshal(line, &m); err != nil || m.Src == "" {
			s.log.Warn("maelstrom services: dropped a line that is not a message", "from", c.RemoteAddr().String(), "err", err)
			continue
		}
		reply, ok := s.handle(m)
		if !ok {
			continue
		}
		_ = c.SetWriteDeadline(time.Now().Add(writeTimeout))
		w.Write(reply)
		w.WriteByte('\n')
		if _, known := s.services[m.Dest]; known {
			pending[[2]string{m.Dest, m.Src}]++
		}
		// Flush only when no whole request is waiting: batches under load.
		if next, _ := r.Peek(r.Buffered()); bytes.IndexByte(next, '\n') >= 0 {
			continue
		}
		if err := w.Flush(); err != nil {
			s.log.Info("maelstrom services: reply to a node's shim", "node", m.Src, "err", err)
			return
		}
		for k, n := range pending {
			s.count(k[0], k[1], func(t *Traffic) { t.Replies += n })
		}
		clear(pending)
	}
}

// readLine reads one newline-terminated line without its newline,
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
		default:
			return nil, err
		}
	}
}

// handle answers one message. A message without msg_id expects no reply;
// one to a name that is not a service gets node-not-found, as Maelstrom's
// network answers a message to an unknown node.
func (s *Server) handle(m message) ([]byte, bool) {
	var h struct {
		MsgID *int64 `json:"msg_id"`
	}
	_ = json.Unmarshal(m.Body, &h)
	svc, known := s.services[m.Dest]
	var body map[string]any
	if known {
		s.count(m.Dest, m.Src, func(t *Traffic) { t.Requests++ })
		body = svc.Handle(m.Src, m.Body)
	} else {
		body = errorBody(1, "no service named %q (there are %v)", m.Dest, s.Names())
	}
	if h.MsgID == nil {
		return nil, false
	}
	body["in_reply_to"] = *h.MsgID
	raw, err := json.Marshal(body)
	if err != nil {
		raw, _ = json.Marshal(errorBody(13, "service could not encode its reply: %v", err))
	}
	out, _ := json.Marshal(message{Src: m.Dest, Dest: m.Src, Body: raw})
	return out, true
}

func (s *Server) count(svc, node string, f func(*Traffic)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	byNode := s.traffic[svc]
	if byNode == nil {
		byNode = map[string]*Traffic{}
		s.traffic[svc] = byNode
	}
	t := byNode[node]
	if t == nil {
		t = &Traffic{}
		byNode[node] = t
	}
	f(t)
}
