package httpjson

import (
	"context"
	"fmt"

	"github.com/faultline/faultline/workloads"
)

// The kafka workload's bodies (docs/protocol.md, "Logs").
type (
	logSendReq struct {
		Key string `json:"key"`
		Msg int64  `json:"msg"`
	}
	logSendReply struct {
		Offset *int64 `json:"offset"`
	}
	logOffsetsBody struct {
		Offsets *map[string]int64 `json:"offsets"`
	}
	logPollReply struct {
		Msgs *map[string][][2]int64 `json:"msgs"`
	}
	logKeysReq struct {
		Keys []string `json:"keys"`
	}
)

var _ workloads.LogClient = (*Client)(nil)

// Send implements workloads.LogClient: POST /log/send.
func (c *Client) Send(ctx context.Context, key string, msg int64) (int64, error) {
	var r logSendReply
	if err := c.do(ctx, "POST", "/log/send", logSendReq{key, msg}, &r); err != nil {
		return 0, err
	}
	if r.Offset == nil {
		// The message may be in the log: not a definite failure.
		return 0, fmt.Errorf("http-json send: reply lacks offset")
	}
	return *r.Offset, nil
}

// Poll implements workloads.LogClient: POST /log/poll.
func (c *Client) Poll(ctx context.Context, offsets map[string]int64) (map[string][]workloads.LogEntry, error) {
	var r logPollReply
	if err := c.do(ctx, "POST", "/log/poll", logOffsetsBody{&offsets}, &r); err != nil {
		return nil, err
	}
	if r.Msgs == nil {
		return nil, fmt.Errorf("http-json poll: reply lacks msgs")
	}
	out := make(map[string][]workloads.LogEntry, len(*r.Msgs))
	for k, pairs := range *r.Msgs {
		es := make([]workloads.LogEntry, len(pairs))
		for i, p := range pairs {
			es[i] = workloads.LogEntry{Offset: p[0], Msg: p[1]}
		}
		out[k] = es
	}
	return out, nil
}

// CommitOffsets implements workloads.LogClient: POST /log/commit.
func (c *Client) CommitOffsets(ctx context.Context, offsets map[string]int64) error {
	return c.do(ctx, "POST", "/log/commit", logOffsetsBody{&offsets}, nil)
}

// ListCommittedOffsets implements workloads.LogClient: POST /log/committed.
func (c *Client) ListCommittedOffsets(ctx context.Context, keys []string) (map[string]int64, error) {
	if keys == nil {
		keys = []string{}
	}
	var r logOffsetsBody
	if err := c.do(ctx, "POST", "/log/committed", logKeysReq{keys}, &r); err != nil {
		return nil, err
	}
	if r.Offsets == nil {
		return nil, fmt.Errorf("http-json committed: reply lacks offsets")
	}
	return *r.Offsets, nil
}
