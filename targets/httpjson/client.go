// Package httpjson is the client of http-json, faultline's own client
// protocol (docs/protocol.md): HTTP/1.1 with JSON bodies, one endpoint per
// operation of every workload, and status codes that say whether an
// operation took effect (2xx), certainly did not (409 answered, 503
// refused), or may have (anything else). Any system that implements the
// endpoints it needs can be tested with faultline without Go code.
package httpjson

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/faultline/faultline/workloads"
)

// Name is the protocol's name in target files and the protocol catalog.
const Name = "http-json"

// DefaultPort is the port an http-json server usually listens on.
const DefaultPort = 8080

// maxBody bounds a response body: a set read or a drain late in a long run
// is large, but a reply beyond this is a broken server, not data.
const maxBody = 16 << 20

// DialOptions returns the options Dial accepts, with their meaning for
// `faultline list`.
func DialOptions() map[string]string {
	return map[string]string{
		"prefix":  "path prefix before every endpoint, e.g. /api (default none)",
		"timeout": "upper bound on one request, a Go duration such as 2s (default: the op's own deadline only)",
	}
}

// DialWorkloads names the workloads a Dial'd client serves: all of them.
func DialWorkloads() []string {
	return []string{"register", "set", "broadcast", "g-set", "counter", "g-counter", "pn-counter", "bank", "list-append", "rw-register", "queue", "lock", "kafka", "echo", "unique-ids"}
}

// Client is one worker's connection to one http-json server. It implements
// the client interface of every workload.
type Client struct {
	base string // http://host:port plus the path prefix
	hc   *http.Client
	id   string // unique per client: lock owners and the queue consumer derive from it

	mu     sync.Mutex
	seq    int64
	owners map[string]string // lock name -> owner of this client's last acquire of it
}

var (
	_ workloads.RegisterClient = (*Client)(nil)
	_ workloads.SetClient      = (*Client)(nil)
	_ workloads.CounterClient  = (*Client)(nil)
	_ workloads.BankClient     = (*Client)(nil)
	_ workloads.TxnClient      = (*Client)(nil)
	_ workloads.QueueClient    = (*Client)(nil)
	_ workloads.LockClient     = (*Client)(nil)
)

// Dial returns a client for the http-json server at addr (host:port). It
// does not connect: the first operation does, so a node that is down when
// a worker starts costs that operation, not the worker.
func Dial(ctx context.Context, addr string, opts map[string]string) (workloads.Client, error) {
	return dial(ctx, addr, opts)
}

func dial(_ context.Context, addr string, opts map[string]string) (*Client, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("http-json: address %q: %w", addr, err)
	}
	var prefix string
	var timeout time.Duration
	for k, v := range opts {
		switch k {
		case "prefix":
			if v != "" && !strings.HasPrefix(v, "/") {
				return nil, fmt.Errorf("http-json: option prefix=%q must start with /", v)
			}
			prefix = strings.TrimRight(v, "/")
		case "timeout":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return nil, fmt.Errorf("http-json: option timeout=%q is not a positive duration", v)
			}
			timeout = d
		default:
			return nil, fmt.Errorf("http-json: unknown option %q (known: prefix, timeout)", k)
		}
	}
	var idb [6]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return nil, fmt.Errorf("http-json: client id: %w", err)
	}
	tr := &http.Transport{
		Proxy:               nil, // a proxy between faultline and a node would hide the node's faults
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 1, // one op outstanding per client
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	return &Client{
		base: "http://" + addr + prefix,
		hc: &http.Client{
			Transport: tr,
			Timeout:   timeout,
			// Following a redirect sends the request a second time.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		id:     "fl-" + hex.EncodeToString(idb[:]),
		owners: map[string]string{},
	}, nil
}

// Close implements workloads.Client.
func (c *Client) Close() error {
	c.hc.CloseIdleConnections()
	return nil
}

// errorBody is the body of a non-2xx reply.
type errorBody struct {
	Error string `json:"error"`
}

// do sends one request and classifies its outcome as the protocol says:
// a 2xx decodes into out and returns nil; 409 returns an error marked
// workloads.Answer; 503, or a failure before a connection was obtained,
// one marked workloads.Definite; anything else a plain (indeterminate)
// error. It never retries.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	what := method + " " + path
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return workloads.Definite(fmt.Errorf("http-json %s: encode request: %w", what, err))
		}
		body = bytes.NewReader(b)
	}
	if err := ctx.Err(); err != nil {
		return workloads.Definite(fmt.Errorf("http-json %s: not sent: %w", what, err))
	}
	// Bytes can only leave once the transport has a connection: an error
	// before that means the server never saw the request.
	var gotConn atomic.Bool
	trace := &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { gotConn.Store(true) }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), method, c.base+path, body)
	if err != nil {
		return workloads.Definite(fmt.Errorf("http-json %s: %w", what, err))
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		if !gotConn.Load() || dialFailed(err) {
			return workloads.Definite(fmt.Errorf("http-json %s: not sent: %w", what, err))
		}
		return fmt.Errorf("http-json %s: %w", what, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return fmt.Errorf("http-json %s: status %d, reading the reply: %w", what, resp.StatusCode, err)
	}
	if len(data) > maxBody {
		return fmt.Errorf("http-json %s: status %d, reply larger than %d bytes", what, resp.StatusCode, maxBody)
	}
	switch code := resp.StatusCode; {
	case code >= 200 && code <= 299:
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(data, out); err != nil {
			// The op may have been applied; only the reply is unreadable.
			return fmt.Errorf("http-json %s: status %d, reply not understood: %w", what, code, err)
		}
		return nil
	case code == http.StatusConflict:
		return workloads.Answer(fmt.Errorf("http-json %s: answered no (409): %s", what, reason(data)))
	case code == http.StatusServiceUnavailable:
		return workloads.Definite(fmt.Errorf("http-json %s: refused, not applied (503): %s", what, reason(data)))
	default:
		return fmt.Errorf("http-json %s: status %d, outcome unknown: %s", what, code, reason(data))
	}
}

// dialFailed reports whether the transport's last attempt failed to
// connect. The transport makes a second attempt on a new connection only
// when nothing of the request was written on a pooled one (or, for a GET,
// which changes nothing, when the pooled one broke): so a failed dial at
// the end means the server never saw a write.
func dialFailed(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// reason is a short text for an error reply: its "error" field, or the
// start of the body.
func reason(data []byte) string {
	var eb errorBody
	if json.Unmarshal(data, &eb) == nil && eb.Error != "" {
		return truncate(eb.Error)
	}
	if s := strings.TrimSpace(string(data)); s != "" {
		return truncate(s)
	}
	return "no reason given"
}

func truncate(s string) string {
	const n = 200
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// nextOwner returns a fresh owner id for an acquire of name and remembers
// it for the release: each attempt is its own owner, as in the lock
// workload's history, so a lease left by an abandoned attempt is never
// mistaken for this one's.
func (c *Client) nextOwner(name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	o := fmt.Sprintf("%s.%d", c.id, c.seq)
	c.owners[name] = o
	return o
}

func (c *Client) ownerOf(name string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	o, ok := c.owners[name]
	return o, ok
}

// answered reports whether err is the server's 409.
func answered(err error) bool { return err != nil && workloads.IsAnswered(err) }
