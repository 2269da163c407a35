package maelstrom

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/faultline/faultline/workloads"
)

var (
	_ workloads.TxnClient   = (*Client)(nil)
	_ workloads.RWTxnClient = (*Client)(nil)
)

// txnKey is the integer Maelstrom's txn workloads use for a faultline key:
// the list-append and rw-register workloads name keys by decimal integers,
// so the key is that integer and the reply's key maps back to the same
// string.
func txnKey(key string) (int64, error) {
	k, err := strconv.ParseInt(key, 10, 64)
	if err != nil {
		return 0, workloads.Definite(fmt.Errorf("maelstrom txn: key %q is not an integer", key))
	}
	return k, nil
}

// txn sends a txn request of micro-ops [f, k, v] and returns the reply's
// micro-ops, checked against the request: same length, and each the same
// function and key. A reply that does not match may still mean the
// transaction committed, so that error is indeterminate.
func (c *Client) txn(ctx context.Context, req [][3]any) ([][3]json.RawMessage, error) {
	body, err := c.call(ctx, "txn", map[string]any{"txn": req})
	if err != nil {
		return nil, classify(err)
	}
	var got [][3]json.RawMessage
	if err := json.Unmarshal(body["txn"], &got); err != nil {
		return nil, fmt.Errorf("maelstrom txn_ok: txn %s is not a list of [f, k, v]: %w", clip(body["txn"]), err)
	}
	if len(got) != len(req) {
		return nil, fmt.Errorf("maelstrom txn_ok: %d micro-ops for the %d sent", len(got), len(req))
	}
	for i, m := range got {
		var f string
		var k int64
		if json.Unmarshal(m[0], &f) != nil || f != req[i][0] || json.Unmarshal(m[1], &k) != nil || k != req[i][1] {
			return nil, fmt.Errorf("maelstrom txn_ok: micro-op %d is [%s, %s, …], want [%q, %d, …]", i, clip(m[0]), clip(m[1]), req[i][0], req[i][1])
		}
	}
	return got, nil
}

// isNull reports whether a JSON value is null (or absent).
func isNull(v json.RawMessage) bool {
	return len(bytes.TrimSpace(v)) == 0 || bytes.Equal(bytes.TrimSpace(v), []byte("null"))
}

// txnMicro encodes one micro-op of a txn request: [f, k, v] for the
// workload's write kind (append or w), [r, k, null] for a read.
func txnMicro(f, key string, v int64, write string) ([3]any, error) {
	k, err := txnKey(key)
	if err != nil {
		return [3]any{}, err
	}
	switch f {
	case write:
		return [3]any{f, k, v}, nil
	case workloads.MicroRead:
		return [3]any{f, k, nil}, nil
	}
	return [3]any{}, workloads.Definite(fmt.Errorf("maelstrom txn: unknown micro-op %q", f))
}

// Transact implements workloads.TxnClient as txn-list-append's txn:
// ["r", k, null] and ["append", k, v]; a read comes back as a list of
// integers, or null for a list never appended to. Error 30
// (txn-conflict) is definite.
func (c *Client) Transact(ctx context.Context, ops []workloads.MicroOp) ([]workloads.MicroOp, error) {
	req := make([][3]any, len(ops))
	for i, m := range ops {
		var err error
		if req[i], err = txnMicro(m.F, m.Key, m.Value, workloads.MicroAppend); err != nil {
			return nil, err
		}
	}
	got, err := c.txn(ctx, req)
	if err != nil {
		return nil, err
	}
	out := make([]workloads.MicroOp, len(ops))
	for i, m := range ops {
		out[i] = m
		if m.F != workloads.MicroRead || isNull(got[i][2]) {
			continue
		}
		var l []int64
		if err := json.Unmarshal(got[i][2], &l); err != nil {
			return nil, fmt.Errorf("maelstrom txn_ok: read of key %s returned %s, not a list of integers: %w", m.Key, clip(got[i][2]), err)
		}
		if l == nil {
			l = []int64{}
		}
		out[i].Read = l
	}
	return out, nil
}

// TransactRW implements workloads.RWTxnClient as txn-rw-register's txn:
// ["r", k, null] and ["w", k, v]; a read comes back as an integer, or
// null for a key never written.
func (c *Client) TransactRW(ctx context.Context, ops []workloads.RWMicroOp) ([]workloads.RWMicroOp, error) {
	req := make([][3]any, len(ops))
	for i, m := range ops {
		var err error
		if req[i], err = txnMicro(m.F, m.Key, m.Value, workloads.MicroWrite); err != nil {
			return nil, err
		}
	}
	got, err := c.txn(ctx, req)
	if err != nil {
		return nil, err
	}
	out := make([]workloads.RWMicroOp, len(ops))
	for i, m := range ops {
		out[i] = m
		if m.F != workloads.MicroRead {
			continue
		}
		out[i].Value, out[i].Found = 0, false
		if isNull(got[i][2]) {
			continue
		}
		if err := json.Unmarshal(got[i][2], &out[i].Value); err != nil {
			return nil, fmt.Errorf("maelstrom txn_ok: read of key %s returned %s, not an integer: %w", m.Key, clip(got[i][2]), err)
		}
		out[i].Found = true
	}
	return out, nil
}
