package nats

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/workloads"
)

// Client serves the register (on the KV bucket) and queue workloads on one
// node. A worker uses its client from one goroutine.
type Client struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	kv     jetstream.KeyValue // bound on first read
	state  *shared
	lookup bool             // CAS may read a revision it does not know (Dial's clients)
	held   map[int64]string // dequeued, unacknowledged message id -> its ack subject
	log    *slog.Logger
}

var (
	_ workloads.RegisterClient = (*Client)(nil)
	_ workloads.QueueClient    = (*Client)(nil)
)

// Close closes the connection.
func (c *Client) Close() error {
	c.nc.Close()
	return nil
}

// errDisconnected is the answer while the client's node is unreachable:
// nothing is sent (there is no reconnect buffer).
var errDisconnected = workloads.Definite(nats.ErrReconnectBufExceeded)

// connected waits, briefly, for the connection to its node: while the node
// is down every publish fails at once, and without the wait the worker
// would spin through thousands of refused ops a second.
func (c *Client) connected(ctx context.Context) error {
	if c.nc.IsConnected() {
		return nil
	}
	wait := time.NewTimer(500 * time.Millisecond)
	defer wait.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !c.nc.IsConnected() {
		select {
		case <-ctx.Done():
			return errDisconnected
		case <-wait.C:
			return errDisconnected
		case <-tick.C:
		}
	}
	return nil
}

// publish sends m to JetStream and waits for its ack, without the
// library's re-sends on "no responders" (they would be invisible to the
// history).
func (c *Client) publish(ctx context.Context, m *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	if err := c.connected(ctx); err != nil {
		return nil, err
	}
	return c.js.PublishMsg(ctx, m, append(opts, jetstream.WithRetryAttempts(0))...)
}

// --- register on the KV bucket ---

func kvSubject(key string) string { return "$KV." + Bucket + "." + key }

// Read gets the key from the bucket: from any replica (direct get) or the
// stream leader, as the bucket's AllowDirect says (option kv-reads).
func (c *Client) Read(ctx context.Context, key string) (int64, bool, error) {
	c.state.use(kvStream)
	if err := c.connected(ctx); err != nil {
		return 0, false, err
	}
	if err := c.bindKV(ctx); err != nil {
		return 0, false, err
	}
	e, err := c.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, classify(err)
	}
	v, err := strconv.ParseInt(string(e.Value()), 10, 64)
	if err != nil {
		return 0, false, workloads.Definite(fmt.Errorf("key %s holds %q, not an integer", key, e.Value()))
	}
	c.state.revs.Remember(key, v, e.Revision())
	return v, true, nil
}

// bindKV binds the client to the KV bucket, once.
func (c *Client) bindKV(ctx context.Context) error {
	if c.kv != nil {
		return nil
	}
	kv, err := c.js.KeyValue(ctx, Bucket)
	if err != nil {
		return classify(fmt.Errorf("bind KV bucket: %w", err))
	}
	c.kv = kv
	return nil
}

// Write puts the key.
func (c *Client) Write(ctx context.Context, key string, value int64) error {
	c.state.use(kvStream)
	ack, err := c.publish(ctx, &nats.Msg{Subject: kvSubject(key), Data: []byte(strconv.FormatInt(value, 10))})
	if err != nil {
		return classify(err)
	}
	c.state.revs.Remember(key, value, ack.Sequence)
	return nil
}

// CAS sets the key to new if it holds old, as one conditional publish: it
// expects the key's last revision to be the one that wrote old. Values are
// unique per key, so that revision is the only one holding old, and the
// publish succeeds exactly when the key still holds old; no read is
// involved, so a stale read cannot make a cas wrong. The revision is known
// from the op that wrote or read old (the generator only offers values an
// ok op saw).
func (c *Client) CAS(ctx context.Context, key string, old, new int64) (bool, error) {
	c.state.use(kvStream)
	if old == 0 {
		// Workloads never write 0, and an unset key holds nothing: the
		// comparison certainly fails.
		return false, nil
	}
	rev, ok := c.state.revs.Of(key, old)
	if !ok && c.lookup {
		if err := c.connected(ctx); err != nil {
			return false, err
		}
		var err error
		if rev, ok, err = c.lookupRevision(ctx, key, old); err != nil {
			return false, err
		}
	}
	if !ok {
		// Nothing sent; but without a revision we cannot say the value
		// differs, so the outcome is left open rather than guessed.
		return false, fmt.Errorf("cas %s: no known revision holds %d", key, old)
	}
	ack, err := c.publish(ctx, &nats.Msg{Subject: kvSubject(key), Data: []byte(strconv.FormatInt(new, 10))},
		jetstream.WithExpectLastSequencePerSubject(rev))
	if isWrongLastSequence(err) {
		return false, nil
	}
	if err != nil {
		return false, classify(err)
	}
	c.state.revs.Remember(key, new, ack.Sequence)
	return true, nil
}

// isWrongLastSequence says whether err is the stream's refusal of a
// publish whose expected last revision was not the key's: 10071, or 10164
// from replicated streams (jetstream.ErrKeyRevisionMismatch covers both).
func isWrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// --- queue ---

// Enqueue publishes message id on subject queue.<key> with the id as
// Nats-Msg-Id (deduplicated within the stream's window).
func (c *Client) Enqueue(ctx context.Context, key string, id int64) error {
	c.state.use(QueueStream)
	if key == "" {
		key = "default"
	}
	s := strconv.FormatInt(id, 10)
	_, err := c.publish(ctx, &nats.Msg{Subject: queuePrefix + key, Data: []byte(s)}, jetstream.WithMsgID(s))
	return classify(err)
}

// pulled is one message a pull delivered.
type pulled struct {
	id    int64
	reply string // the subject its ack goes to
}

// Status codes of JetStream pull responses.
const (
	statusNoMessages   = "404"
	statusTimeout      = "408"
	statusConflict     = "409"
	statusNoResponders = "503"
	statusHeartbeat    = "100"
)

// pull asks the consumer for up to batch messages that are available now.
// It speaks the pull protocol itself rather than through the jetstream
// package's Fetch, which ends a batch without an error when no reply comes
// at all: that would record an unanswered pull as an empty queue.
func (c *Client) pull(ctx context.Context, batch int) ([]pulled, error) {
	if err := c.connected(ctx); err != nil {
		return nil, err
	}
	inbox := c.nc.NewInbox()
	sub, err := c.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, classify(err)
	}
	defer sub.Unsubscribe()
	body, _ := json.Marshal(map[string]any{"batch": batch, "no_wait": true})
	subj := fmt.Sprintf("$JS.API.CONSUMER.MSG.NEXT.%s.%s", QueueStream, QueueConsumer)
	if err := c.nc.PublishRequest(subj, inbox, body); err != nil {
		return nil, classify(err)
	}
	var got []pulled
	for len(got) < batch {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			// Messages may be on their way: unknown what was taken.
			return got, err
		}
		switch status := m.Header.Get("Status"); {
		case status == "":
		case status == statusHeartbeat:
			continue
		case status == statusNoMessages || status == statusTimeout:
			return got, nil
		case status == statusNoResponders:
			return got, workloads.Definite(fmt.Errorf("pull: %w", nats.ErrNoResponders))
		case status == statusConflict:
			// The server ended the request (leadership change, consumer
			// gone): nothing else is on its way.
			return got, workloads.Definite(fmt.Errorf("pull: %s %s", status, m.Header.Get("Description")))
		default:
			return got, fmt.Errorf("pull: status %s %s", status, m.Header.Get("Description"))
		}
		id, err := strconv.ParseInt(string(m.Data), 10, 64)
		if err != nil {
			return got, fmt.Errorf("pull: message %q is not an id", m.Data)
		}
		got = append(got, pulled{id: id, reply: m.Reply})
	}
	return got, nil
}

// Dequeue takes up to max available messages, unacknowledged.
func (c *Client) Dequeue(ctx context.Context, max int) ([]int64, error) {
	c.state.use(QueueStream)
	got, err := c.pull(ctx, max)
	ids := make([]int64, 0, len(got))
	for _, p := range got {
		c.held[p.id] = p.reply
		ids = append(ids, p.id)
	}
	return ids, classify(err)
}

// ack acknowledges one delivery and waits for the server to confirm it
// (AckSync): a confirmed ack is one the consumer has applied.
func (c *Client) ack(ctx context.Context, reply string) error {
	if err := c.connected(ctx); err != nil {
		return err
	}
	_, err := c.nc.RequestWithContext(ctx, reply, []byte("+ACK"))
	return classify(err)
}

// Ack acknowledges messages this client dequeued, one confirmed ack each.
func (c *Client) Ack(ctx context.Context, ids []int64) error {
	for i, id := range ids {
		reply, ok := c.held[id]
		if !ok {
			err := fmt.Errorf("ack of message %d: not dequeued by this client", id)
			if i == 0 {
				return workloads.Definite(err)
			}
			return err // some acks took effect
		}
		if err := c.ack(ctx, reply); err != nil {
			if i > 0 && workloads.IsDefinite(err) {
				// Earlier acks took effect: the op as a whole did.
				return fmt.Errorf("ack of message %d after %d acked: %s", id, i, err.Error())
			}
			return err
		}
		delete(c.held, id)
	}
	return nil
}

// drainBatch is how many messages one pull of a drain asks for.
const drainBatch = 64

// Drain takes and acknowledges everything left. It ends ok only when a
// pull found nothing and the consumer has nothing pending or awaiting an
// ack: messages delivered to a client that never acked them come back
// after the ack wait, so it waits for them.
func (c *Client) Drain(ctx context.Context) ([]int64, error) {
	c.state.use(QueueStream)
	var ids []int64
	for {
		got, err := c.pull(ctx, drainBatch)
		// One confirmed ack per message, all of a batch in flight at once:
		// one by one, a backlog of hundreds outlasts the op's deadline.
		ackErrs := make([]error, len(got))
		var wg sync.WaitGroup
		for i, p := range got {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ackErrs[i] = c.ackUntilDone(ctx, p.reply)
			}()
		}
		wg.Wait()
		var ackErr error
		for i, p := range got {
			if ackErrs[i] != nil {
				// Not listed: unknown whether it was acknowledged.
				ackErr = cmp.Or(ackErr, fmt.Errorf("drain: ack of message %d: %w", p.id, ackErrs[i]))
				continue
			}
			ids = append(ids, p.id)
		}
		if ackErr != nil {
			return ids, ackErr
		}
		if err != nil {
			return ids, classify(err)
		}
		if len(got) > 0 {
			continue
		}
		cons, err := c.js.Consumer(ctx, QueueStream, QueueConsumer)
		if err != nil {
			return ids, classify(err)
		}
		info := cons.CachedInfo()
		if info.NumPending == 0 && info.NumAckPending == 0 {
			return ids, nil
		}
		select {
		case <-ctx.Done():
			return ids, fmt.Errorf("drain cut short with %d pending, %d awaiting ack: %w", info.NumPending, info.NumAckPending, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// ackUntilDone repeats a confirmed ack until the server confirms it or ctx
// ends: acks are idempotent, so repeating one is safe.
func (c *Client) ackUntilDone(ctx context.Context, reply string) error {
	for {
		actx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		err := c.ack(actx, reply)
		cancel()
		if err == nil || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// classify marks the errors after which NATS certainly did not apply a
// request: the server's own error answers (*jetstream.APIError), nobody
// listening (no responders), and a connection that was closed or
// reconnecting before anything was sent (no reconnect buffer). Timeouts
// and everything else stay indeterminate.
func classify(err error) error {
	if err == nil || workloads.IsDefinite(err) {
		return err
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled), errors.Is(err, nats.ErrTimeout):
		return err
	case errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrNoResponders),
		errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrReconnectBufExceeded),
		errors.Is(err, nats.ErrConnectionDraining), errors.Is(err, nats.ErrNoServers),
		errors.Is(err, nats.ErrInvalidConnection):
		return workloads.Definite(err)
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return workloads.Definite(err)
	}
	var jsErr jetstream.JetStreamError
	if errors.As(err, &jsErr) && jsErr.APIError() != nil {
		return workloads.Definite(err)
	}
	return err
}
