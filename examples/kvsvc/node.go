package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"time"
)

// Timings. replLag is how long a node gathers changes before it sends them
// to a peer: asynchronous replication with a batching window, so in unsafe
// mode a read from another node is stale for that long after every write,
// not only in a rare race.
const (
	replLag        = 100 * time.Millisecond
	replTimeout    = time.Second
	forwardTimeout = 5 * time.Second
	maxBody        = 1 << 20
)

// peer is one member of the cluster.
type peer struct{ name, addr string }

// config is what the flags say.
type config struct {
	name  string
	peers []peer // in --peers order; the first is the primary in safe mode
	data  string
	mode  string // "safe" or "unsafe"
}

// node is one kvsvc server.
type node struct {
	cfg    config
	logger *log.Logger
	hc     *http.Client // forwards and replication

	mu sync.Mutex // orders every op this node applies
	st *store

	outbox map[string]chan change // peer name -> changes to send (this node's own only)
}

func newNode(cfg config, logger *log.Logger) (*node, error) {
	st, err := openStore(cfg.data)
	if err != nil {
		return nil, err
	}
	n := &node{cfg: cfg, logger: logger, st: st, outbox: map[string]chan change{},
		// A short connect timeout: a primary cut off by a partition turns
		// into a quick 503 rather than a client's timeout.
		hc: &http.Client{Transport: &http.Transport{Proxy: nil,
			DialContext: (&net.Dialer{Timeout: time.Second}).DialContext}}}
	for _, p := range cfg.peers {
		if p.name != cfg.name {
			n.outbox[p.name] = make(chan change, 100000)
		}
	}
	return n, nil
}

func (n *node) safe() bool      { return n.cfg.mode == "safe" }
func (n *node) primary() peer   { return n.cfg.peers[0] }
func (n *node) isPrimary() bool { return n.primary().name == n.cfg.name }

// replicate starts one sender per peer, until ctx ends.
func (n *node) replicate(ctx context.Context) {
	for _, p := range n.cfg.peers {
		if ch := n.outbox[p.name]; ch != nil {
			go n.sender(ctx, p, ch)
		}
	}
}

// sender sends a peer every change gathered in each replLag window, once:
// fire and forget. A batch that fails is lost, so a partition leaves the
// peer behind for good. One log line when a peer starts failing, one when
// it answers again.
func (n *node) sender(ctx context.Context, p peer, ch chan change) {
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(replLag):
		}
		var batch []change
	gather:
		for {
			select {
			case c := <-ch:
				batch = append(batch, c)
			default:
				break gather
			}
		}
		if len(batch) == 0 {
			continue
		}
		err := n.send(ctx, p, batch)
		switch {
		case err != nil && !failing:
			n.logger.Printf("peer %s: replication failing, %d changes lost: %v", p.name, len(batch), err)
		case err == nil && failing:
			n.logger.Printf("peer %s: replication works again", p.name)
		}
		failing = err != nil
	}
}

func (n *node) send(ctx context.Context, p peer, batch []change) error {
	body, err := json.Marshal(batch)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, replTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", "http://"+p.addr+"/internal/replicate", bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := n.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// commit makes c durable and applied, and queues it for every peer. The
// caller holds n.mu. A log that cannot be written ends the process: an
// answer after that could not be honest.
func (n *node) commit(c change) {
	if err := n.st.commit(c); err != nil {
		n.logger.Fatalf("%s: %v", n.cfg.name, err)
	}
	for _, ch := range n.outbox {
		select {
		case ch <- c:
		default: // a peer far behind loses changes, as fire and forget does
		}
	}
}

// reply writes v (or {}) as JSON with status code.
func reply(w http.ResponseWriter, code int, v any) {
	if v == nil {
		v = struct{}{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

type errBody struct {
	Error string `json:"error"`
}

// op is one client operation: f runs under the node's lock with the
// decoded body and returns the status and reply.
type op[T any] func(r *http.Request, in T) (int, any)

// serve handles an http-json op: in safe mode a follower forwards it to
// the primary; otherwise it runs here, under the lock.
func serve[T any](n *node, f op[T]) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			reply(w, http.StatusBadRequest, errBody{err.Error()})
			return
		}
		if n.safe() && !n.isPrimary() {
			n.forward(w, r, body)
			return
		}
		var in T
		if len(body) > 0 {
			if err := json.Unmarshal(body, &in); err != nil {
				reply(w, http.StatusBadRequest, errBody{err.Error()})
				return
			}
		}
		n.mu.Lock()
		code, out := f(r, in)
		n.mu.Unlock()
		reply(w, code, out)
	}
}

// forward sends the request to the primary and relays its answer. A
// forward that fails before a connection to the primary exists was never
// seen by it: 503, not applied. After that the outcome is unknown: 504.
func (n *node) forward(w http.ResponseWriter, r *http.Request, body []byte) {
	var sent atomic.Bool
	ctx, cancel := context.WithTimeout(r.Context(), forwardTimeout)
	defer cancel()
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { sent.Store(true) }})
	req, err := http.NewRequestWithContext(ctx, r.Method, "http://"+n.primary().addr+r.URL.Path, bytes.NewReader(body))
	if err != nil {
		reply(w, http.StatusServiceUnavailable, errBody{err.Error()})
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.hc.Do(req)
	if err != nil {
		code := http.StatusGatewayTimeout
		if !sent.Load() || dialFailed(err) {
			code = http.StatusServiceUnavailable
		}
		reply(w, code, errBody{"forward to primary " + n.primary().name + ": " + err.Error()})
		return
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		reply(w, http.StatusGatewayTimeout, errBody{"reply from primary: " + err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(out)
}

// dialFailed reports whether the last attempt of a request failed to
// connect. Go's transport tries a second connection only when nothing of
// the request was written on the first (or, for a GET, which changes
// nothing, after a pooled connection broke), so then the primary never
// saw a write.
func dialFailed(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// Request bodies of http-json (docs/protocol.md in faultline).
type (
	writeReq struct {
		Value int64 `json:"value"`
	}
	casReq struct {
		Old int64 `json:"old"`
		New int64 `json:"new"`
	}
	addReq struct {
		Element int64 `json:"element"`
	}
	deltaReq struct {
		Delta int64 `json:"delta"`
	}
	none struct{}
)

func (n *node) handler() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) { reply(w, 200, nil) })
	m.HandleFunc("GET /primary", func(w http.ResponseWriter, _ *http.Request) {
		if !n.safe() {
			reply(w, http.StatusNotFound, errBody{"unsafe mode has no primary"})
			return
		}
		reply(w, 200, map[string]string{"primary": n.primary().name})
	})
	m.HandleFunc("GET /kv/{key}", serve(n, func(r *http.Request, _ none) (int, any) {
		v, ok := n.st.regs[r.PathValue("key")]
		if !ok {
			return 200, map[string]any{"found": false}
		}
		return 200, map[string]any{"found": true, "value": v}
	}))
	m.HandleFunc("PUT /kv/{key}", serve(n, func(r *http.Request, in writeReq) (int, any) {
		n.commit(change{"put", r.PathValue("key"), in.Value})
		return 200, nil
	}))
	m.HandleFunc("POST /kv/{key}/cas", serve(n, func(r *http.Request, in casReq) (int, any) {
		k := r.PathValue("key")
		if v, ok := n.st.regs[k]; !ok || v != in.Old {
			return http.StatusConflict, errBody{"value differs"}
		}
		n.commit(change{"put", k, in.New})
		return 200, nil
	}))
	m.HandleFunc("POST /set/{key}", serve(n, func(r *http.Request, in addReq) (int, any) {
		n.commit(change{"add", r.PathValue("key"), in.Element})
		return 200, nil
	}))
	m.HandleFunc("GET /set/{key}", serve(n, func(r *http.Request, _ none) (int, any) {
		return 200, map[string]any{"elements": append([]int64{}, n.st.sets[r.PathValue("key")]...)}
	}))
	m.HandleFunc("POST /counter/{key}", serve(n, func(r *http.Request, in deltaReq) (int, any) {
		n.commit(change{"incr", r.PathValue("key"), in.Delta})
		return 200, nil
	}))
	m.HandleFunc("GET /counter/{key}", serve(n, func(r *http.Request, _ none) (int, any) {
		return 200, map[string]any{"value": n.st.counters[r.PathValue("key")]}
	}))
	// A peer's own changes, applied and logged here but never passed on.
	m.HandleFunc("POST /internal/replicate", func(w http.ResponseWriter, r *http.Request) {
		var batch []change
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64*maxBody)).Decode(&batch); err != nil {
			reply(w, http.StatusBadRequest, errBody{err.Error()})
			return
		}
		n.mu.Lock()
		if err := n.st.commit(batch...); err != nil {
			n.logger.Fatalf("%s: %v", n.cfg.name, err)
		}
		n.mu.Unlock()
		reply(w, 200, nil)
	})
	return m
}

func (n *node) close() error { return n.st.close() }
