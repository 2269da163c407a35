package maelstrom

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/faultline/faultline/workloads"
)

// The kafka workload, spoken as Maelstrom's kafka requests (send, poll,
// commit_offsets, list_committed_offsets; doc/workloads.md).

var _ workloads.LogClient = (*Client)(nil)

// Send implements workloads.LogClient: send {key, msg} -> send_ok {offset}.
func (c *Client) Send(ctx context.Context, key string, msg int64) (int64, error) {
	body, err := c.call(ctx, "send", map[string]any{"key": key, "msg": msg})
	if err != nil {
		return 0, classify(err)
	}
	var off *int64
	if err := json.Unmarshal(body["offset"], &off); err != nil || off == nil {
		// The node took the message but said nothing usable: it may be in
		// the log, so this is not a definite failure.
		return 0, fmt.Errorf("maelstrom send_ok: offset %s is not an integer", clip(body["offset"]))
	}
	return *off, nil
}

// Poll implements workloads.LogClient: poll {offsets} -> poll_ok {msgs:
// {key: [[offset, msg], ...]}}.
func (c *Client) Poll(ctx context.Context, offsets map[string]int64) (map[string][]workloads.LogEntry, error) {
	body, err := c.call(ctx, "poll", map[string]any{"offsets": offsets})
	if err != nil {
		return nil, classify(err)
	}
	var msgs map[string][][2]int64
	if raw := body["msgs"]; raw == nil {
		// No messages anywhere: a node may leave the map out.
	} else if err := json.Unmarshal(raw, &msgs); err != nil {
		return nil, workloads.Definite(fmt.Errorf("maelstrom poll_ok: msgs %s is not a map of keys to [offset, msg] integer pairs: %w", clip(body["msgs"]), err))
	}
	out := make(map[string][]workloads.LogEntry, len(msgs))
	for k, pairs := range msgs {
		es := make([]workloads.LogEntry, len(pairs))
		for i, p := range pairs {
			es[i] = workloads.LogEntry{Offset: p[0], Msg: p[1]}
		}
		out[k] = es
	}
	return out, nil
}

// CommitOffsets implements workloads.LogClient: commit_offsets {offsets}
// -> commit_offsets_ok.
func (c *Client) CommitOffsets(ctx context.Context, offsets map[string]int64) error {
	_, err := c.call(ctx, "commit_offsets", map[string]any{"offsets": offsets})
	return classify(err)
}

// ListCommittedOffsets implements workloads.LogClient:
// list_committed_offsets {keys} -> list_committed_offsets_ok {offsets}.
func (c *Client) ListCommittedOffsets(ctx context.Context, keys []string) (map[string]int64, error) {
	if keys == nil {
		keys = []string{}
	}
	body, err := c.call(ctx, "list_committed_offsets", map[string]any{"keys": keys})
	if err != nil {
		return nil, classify(err)
	}
	var offs map[string]int64
	if raw := body["offsets"]; raw == nil {
		// Nothing committed yet: a node may leave the map out.
	} else if err := json.Unmarshal(raw, &offs); err != nil {
		return nil, workloads.Definite(fmt.Errorf("maelstrom list_committed_offsets_ok: offsets %s is not a map of keys to integers: %w", clip(body["offsets"]), err))
	}
	if offs == nil {
		offs = map[string]int64{}
	}
	return offs, nil
}
