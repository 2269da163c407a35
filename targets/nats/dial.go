package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/workloads"
)

// DialOptions describes the options Dial takes: the target's that shape
// the streams it creates (sync is the server's own setting).
func DialOptions() map[string]string {
	all := Options()
	return map[string]string{"replicas": all["replicas"], "kv-reads": all["kv-reads"], "dedupe": all["dedupe"]}
}

// DialWorkloads names the workloads a Client serves.
func DialWorkloads() []string { return []string{"register", "queue"} }

// parseDialOptions checks opts against DialOptions; an unknown option or
// a bad value is refused in one line.
func parseDialOptions(opts map[string]string) (settings, error) {
	known := DialOptions()
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the same error for the same options
	for _, k := range keys {
		if _, ok := known[k]; !ok {
			names := make([]string, 0, len(known))
			for n := range known {
				names = append(names, n)
			}
			sort.Strings(names)
			return settings{}, fmt.Errorf("nats: unknown option %q (known: %s)", k, strings.Join(names, ", "))
		}
	}
	return parseOptions(opts)
}

// prepareTimeout bounds the creation of the streams when Dial does it.
const prepareTimeout = 30 * time.Second

// Dial opens a client that speaks NATS JetStream to the server at addr
// (host:port) only: the client protocol apart from faultline's own
// cluster, for any server that speaks it. It creates the queue stream
// (FAULTLINE_QUEUE, subjects queue.>), its durable pull consumer (workers)
// and the KV bucket (faultline) unless they exist as the options say.
// Without the cluster's shared record of which revision holds which value,
// a compare-and-set whose value this client has not seen looks the
// revision up with a read first (see CAS). Options are DialOptions; an
// unknown one is refused before anything is sent.
func Dial(ctx context.Context, addr string, opts map[string]string) (workloads.Client, error) {
	s, err := parseDialOptions(opts)
	if err != nil {
		return nil, err
	}
	nc, err := connectTo(addr, addr)
	if err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	c, err := newClient(nc, &shared{used: map[string]bool{}}, true, slog.Default())
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats: %s: %w", addr, err)
	}
	pctx, cancel := context.WithTimeout(ctx, prepareTimeout)
	defer cancel()
	if err := prepare(pctx, c.js, s); err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats: %s: %w", addr, err)
	}
	return c, nil
}

// prepare makes the streams, consumer and bucket as s says unless they
// exist so already, retrying while JetStream settles (no meta leader yet,
// not enough peers up).
func prepare(ctx context.Context, js jetstream.JetStream, s settings) error {
	for {
		err := streamsReady(ctx, js, s)
		if err != nil {
			err = ensureStreams(ctx, js, s, nil)
		}
		var apiErr *jetstream.APIError
		if err == nil || errors.As(err, &apiErr) && apiErr.Code == 500 {
			// A 500 refuses the configuration itself (e.g. R3 on a single
			// server): waiting will not change it.
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// streamsReady says (nil) whether the queue stream, its consumer and the
// KV bucket exist with the replicas and KV reads s asks for.
func streamsReady(ctx context.Context, js jetstream.JetStream, s settings) error {
	for _, name := range []string{QueueStream, kvStream} {
		st, err := js.Stream(ctx, name)
		if err != nil {
			return err
		}
		cfg := st.CachedInfo().Config
		if cfg.Replicas != s.replicas {
			return fmt.Errorf("stream %s has %d replicas, not %d", name, cfg.Replicas, s.replicas)
		}
		if name == kvStream && cfg.AllowDirect != (s.kvReads == ReadsDirect) {
			return fmt.Errorf("stream %s: AllowDirect=%v", name, cfg.AllowDirect)
		}
	}
	_, err := js.Consumer(ctx, QueueStream, QueueConsumer)
	return err
}

// newClient is the one constructor of Client, for NewClient and Dial, on
// the connection nc; clients of one run share state; lookup lets CAS read
// a revision it does not know.
func newClient(nc *nats.Conn, state *shared, lookup bool, log *slog.Logger) (*Client, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return &Client{nc: nc, js: js, state: state, lookup: lookup, held: map[int64]string{}, log: log}, nil
}

// lookupRevision reads the key: when it holds old, its revision is the one
// that wrote old (values are unique per key), whether or not the read is
// stale. A read changes nothing, so its errors are definite for the cas
// that needed it.
func (c *Client) lookupRevision(ctx context.Context, key string, old int64) (uint64, bool, error) {
	if err := c.bindKV(ctx); err != nil {
		return 0, false, workloads.Definite(err)
	}
	e, err := c.kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return 0, false, nil
	case err != nil:
		return 0, false, workloads.Definite(fmt.Errorf("cas %s: look up the revision holding %d: %w", key, old, err))
	}
	if v, perr := strconv.ParseInt(string(e.Value()), 10, 64); perr != nil || v != old {
		return 0, false, nil
	}
	c.state.revs.Remember(key, old, e.Revision())
	return e.Revision(), true, nil
}
