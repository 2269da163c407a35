package httpjson

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/faultline/faultline/workloads"
)

// TransactRW implements workloads.RWTxnClient: POST /rw-txn, all or
// nothing, with the same rules as /txn; registers are a key space of their
// own, apart from /txn's lists.
func (c *Client) TransactRW(ctx context.Context, ops []workloads.RWMicroOp) ([]workloads.RWMicroOp, error) {
	req := txnReq{Ops: make([]microOp, len(ops))}
	for i, m := range ops {
		req.Ops[i] = microOp{F: m.F, Key: m.Key}
		if m.F == workloads.MicroWrite {
			req.Ops[i].Value = m.Value
		}
	}
	var r txnReply
	if err := c.do(ctx, "POST", "/rw-txn", req, &r); err != nil {
		return nil, err
	}
	if len(r.Ops) != len(ops) {
		return nil, fmt.Errorf("http-json rw-txn: reply has %d micro-ops for %d sent", len(r.Ops), len(ops))
	}
	out := make([]workloads.RWMicroOp, len(ops))
	for i, m := range ops {
		got := r.Ops[i]
		if got.F != m.F || got.Key != m.Key {
			return nil, fmt.Errorf("http-json rw-txn: reply micro-op %d is %s %q, sent %s %q", i, got.F, got.Key, m.F, m.Key)
		}
		out[i] = m
		if m.F == workloads.MicroRead {
			// null (or no value): the register was never written.
			var v *int64
			if len(got.Value) > 0 {
				if err := json.Unmarshal(got.Value, &v); err != nil {
					return nil, fmt.Errorf("http-json rw-txn: read of %q: %w", m.Key, err)
				}
			}
			out[i].Value, out[i].Found = 0, v != nil
			if v != nil {
				out[i].Value = *v
			}
		}
	}
	return out, nil
}
