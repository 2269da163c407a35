package httpjson

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/faultline/faultline/workloads"
)

// The JSON bodies of docs/protocol.md, one type per shape.
type (
	valueReply struct {
		Found *bool  `json:"found"`
		Value *int64 `json:"value"`
	}
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
	elementsReply struct {
		Elements *[]int64 `json:"elements"`
	}
	deltaReq struct {
		Delta int64 `json:"delta"`
	}
	balancesBody struct {
		Balances map[string]int64 `json:"balances"`
	}
	transferReq struct {
		From   string `json:"from"`
		To     string `json:"to"`
		Amount int64  `json:"amount"`
	}
	microOp struct {
		F     string `json:"f"`
		Key   string `json:"key"`
		Value any    `json:"value,omitempty"`
	}
	microReply struct {
		F     string          `json:"f"`
		Key   string          `json:"key"`
		Value json.RawMessage `json:"value"` // a read's list or null; an append's is ignored
	}
	txnReq struct {
		Ops []microOp `json:"ops"`
	}
	txnReply struct {
		Ops []microReply `json:"ops"`
	}
	enqueueReq struct {
		Key string `json:"key"`
		ID  int64  `json:"id"`
	}
	dequeueReq struct {
		Consumer string `json:"consumer"`
		Max      int    `json:"max"`
	}
	idsBody struct {
		Consumer string   `json:"consumer,omitempty"`
		IDs      *[]int64 `json:"ids"`
	}
	acquireReq struct {
		Owner string `json:"owner"`
		TTLMS int64  `json:"ttl_ms"`
	}
	acquireReply struct {
		Token int64 `json:"token"`
	}
	ownerReq struct {
		Owner string `json:"owner"`
	}
)

func esc(key string) string { return url.PathEscape(key) }

// Read implements workloads.RegisterClient: GET /kv/{key}.
func (c *Client) Read(ctx context.Context, key string) (int64, bool, error) {
	var r valueReply
	if err := c.do(ctx, "GET", "/kv/"+esc(key), nil, &r); err != nil {
		return 0, false, err
	}
	if r.Found == nil || (*r.Found && r.Value == nil) {
		return 0, false, fmt.Errorf("http-json read %q: reply lacks found or value", key)
	}
	if !*r.Found {
		return 0, false, nil
	}
	return *r.Value, true, nil
}

// Write implements workloads.RegisterClient: PUT /kv/{key}.
func (c *Client) Write(ctx context.Context, key string, value int64) error {
	return c.do(ctx, "PUT", "/kv/"+esc(key), writeReq{value}, nil)
}

// CAS implements workloads.RegisterClient: POST /kv/{key}/cas; 409 is a
// comparison that failed.
func (c *Client) CAS(ctx context.Context, key string, old, new int64) (bool, error) {
	err := c.do(ctx, "POST", "/kv/"+esc(key)+"/cas", casReq{old, new}, nil)
	if answered(err) {
		return false, nil
	}
	return err == nil, err
}

// AddElement implements workloads.SetClient: POST /set/{key}.
func (c *Client) AddElement(ctx context.Context, key string, elem int64) error {
	return c.do(ctx, "POST", "/set/"+esc(key), addReq{elem}, nil)
}

// ReadSet implements workloads.SetClient: GET /set/{key}.
func (c *Client) ReadSet(ctx context.Context, key string) ([]int64, error) {
	var r elementsReply
	if err := c.do(ctx, "GET", "/set/"+esc(key), nil, &r); err != nil {
		return nil, err
	}
	if r.Elements == nil {
		return nil, fmt.Errorf("http-json set read %q: reply lacks elements", key)
	}
	return *r.Elements, nil
}

// Increment implements workloads.CounterClient: POST /counter/{key}.
func (c *Client) Increment(ctx context.Context, key string, delta int64) error {
	return c.do(ctx, "POST", "/counter/"+esc(key), deltaReq{delta}, nil)
}

// ReadCounter implements workloads.CounterClient: GET /counter/{key}.
func (c *Client) ReadCounter(ctx context.Context, key string) (int64, error) {
	var r valueReply
	if err := c.do(ctx, "GET", "/counter/"+esc(key), nil, &r); err != nil {
		return 0, err
	}
	if r.Value == nil {
		return 0, fmt.Errorf("http-json counter read %q: reply lacks value", key)
	}
	return *r.Value, nil
}

// CreateAccounts implements workloads.BankClient: PUT /bank.
func (c *Client) CreateAccounts(ctx context.Context, balances map[string]int64) error {
	return c.do(ctx, "PUT", "/bank", balancesBody{balances}, nil)
}

// Transfer implements workloads.BankClient: POST /bank/transfer; 409 is a
// transfer refused (it would overdraw).
func (c *Client) Transfer(ctx context.Context, from, to string, amount int64) error {
	return c.do(ctx, "POST", "/bank/transfer", transferReq{from, to, amount}, nil)
}

// ReadBalances implements workloads.BankClient: GET /bank.
func (c *Client) ReadBalances(ctx context.Context) (map[string]int64, error) {
	var r balancesBody
	if err := c.do(ctx, "GET", "/bank", nil, &r); err != nil {
		return nil, err
	}
	if r.Balances == nil {
		return nil, fmt.Errorf("http-json bank read: reply lacks balances")
	}
	return r.Balances, nil
}

// Transact implements workloads.TxnClient: POST /txn, all or nothing.
func (c *Client) Transact(ctx context.Context, ops []workloads.MicroOp) ([]workloads.MicroOp, error) {
	req := txnReq{Ops: make([]microOp, len(ops))}
	for i, m := range ops {
		req.Ops[i] = microOp{F: m.F, Key: m.Key}
		if m.F == workloads.MicroAppend {
			req.Ops[i].Value = m.Value
		}
	}
	var r txnReply
	if err := c.do(ctx, "POST", "/txn", req, &r); err != nil {
		return nil, err
	}
	if len(r.Ops) != len(ops) {
		// It committed (2xx) but the reply is not the transaction sent.
		return nil, fmt.Errorf("http-json txn: reply has %d micro-ops for %d sent", len(r.Ops), len(ops))
	}
	out := make([]workloads.MicroOp, len(ops))
	for i, m := range ops {
		got := r.Ops[i]
		if got.F != m.F || got.Key != m.Key {
			return nil, fmt.Errorf("http-json txn: reply micro-op %d is %s %q, sent %s %q", i, got.F, got.Key, m.F, m.Key)
		}
		out[i] = m
		if m.F == workloads.MicroRead {
			// null (or no value): the list does not exist.
			var read *[]int64
			if len(got.Value) > 0 {
				if err := json.Unmarshal(got.Value, &read); err != nil {
					return nil, fmt.Errorf("http-json txn: read of %q: %w", m.Key, err)
				}
			}
			out[i].Read = nil
			if read != nil {
				out[i].Read = append([]int64{}, *read...)
			}
		}
	}
	return out, nil
}

// Enqueue implements workloads.QueueClient: POST /queue/enqueue.
func (c *Client) Enqueue(ctx context.Context, key string, id int64) error {
	return c.do(ctx, "POST", "/queue/enqueue", enqueueReq{key, id}, nil)
}

// Dequeue implements workloads.QueueClient: POST /queue/dequeue. The
// server remembers what it delivered to this client's consumer id.
func (c *Client) Dequeue(ctx context.Context, max int) ([]int64, error) {
	var r idsBody
	if err := c.do(ctx, "POST", "/queue/dequeue", dequeueReq{c.id, max}, &r); err != nil {
		return nil, err
	}
	if r.IDs == nil {
		return nil, fmt.Errorf("http-json dequeue: reply lacks ids")
	}
	return *r.IDs, nil
}

// Ack implements workloads.QueueClient: POST /queue/ack.
func (c *Client) Ack(ctx context.Context, ids []int64) error {
	return c.do(ctx, "POST", "/queue/ack", idsBody{Consumer: c.id, IDs: &ids}, nil)
}

// Drain implements workloads.QueueClient: POST /queue/drain, which takes
// and acknowledges everything not yet acknowledged in one request.
func (c *Client) Drain(ctx context.Context) ([]int64, error) {
	var r idsBody
	if err := c.do(ctx, "POST", "/queue/drain", dequeueReq{Consumer: c.id}, &r); err != nil {
		return nil, err
	}
	if r.IDs == nil {
		return nil, fmt.Errorf("http-json drain: reply lacks ids")
	}
	return *r.IDs, nil
}

// Acquire implements workloads.LockClient: POST /lock/{name}/acquire; 409
// is a lock held by another owner.
func (c *Client) Acquire(ctx context.Context, name string, ttl time.Duration) (int64, bool, error) {
	var r acquireReply
	err := c.do(ctx, "POST", "/lock/"+esc(name)+"/acquire", acquireReq{c.nextOwner(name), ttl.Milliseconds()}, &r)
	if answered(err) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return r.Token, true, nil
}

// Release implements workloads.LockClient: POST /lock/{name}/release; 409
// is a lock this owner no longer held.
func (c *Client) Release(ctx context.Context, name string) (bool, error) {
	owner, ok := c.ownerOf(name)
	if !ok {
		// This client never took it, so it holds nothing to release; a
		// refusal instead would have the worker release again forever.
		return false, nil
	}
	err := c.do(ctx, "POST", "/lock/"+esc(name)+"/release", ownerReq{owner}, nil)
	if answered(err) {
		return false, nil
	}
	return err == nil, err
}

// Health asks GET /health; nil means the server serves.
func (c *Client) Health(ctx context.Context) error {
	return c.do(ctx, "GET", "/health", nil, nil)
}

// Primary asks the optional GET /primary which node leads, for the
// report's roles. An empty name means the server names none.
func (c *Client) Primary(ctx context.Context) (string, error) {
	var r struct {
		Primary string `json:"primary"`
	}
	if err := c.do(ctx, "GET", "/primary", nil, &r); err != nil {
		return "", err
	}
	return r.Primary, nil
}

// Health asks the http-json server at addr whether it serves (GET /health,
// 2xx), with Dial's options; for target health checks.
func Health(ctx context.Context, addr string, opts map[string]string) error {
	c, err := dial(ctx, addr, opts)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Health(ctx)
}

// Primary asks the http-json server at addr which node it takes for the
// primary (the optional GET /primary), with Dial's options.
func Primary(ctx context.Context, addr string, opts map[string]string) (string, error) {
	c, err := dial(ctx, addr, opts)
	if err != nil {
		return "", err
	}
	defer c.Close()
	return c.Primary(ctx)
}
