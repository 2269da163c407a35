package maelstrom

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/faultline/faultline/workloads"
)

var (
	_ workloads.EchoClient = (*Client)(nil)
	_ workloads.IDClient   = (*Client)(nil)
)

// Echo implements workloads.EchoClient as Maelstrom's echo: the reply's
// echo field is returned as the JSON value it is (nil when it has none),
// for the echo checker to compare with what was sent.
func (c *Client) Echo(ctx context.Context, msg string) (any, error) {
	body, err := c.call(ctx, "echo", map[string]any{"echo": msg})
	if err != nil {
		return nil, classify(err)
	}
	raw, ok := body["echo"]
	if !ok {
		return nil, nil
	}
	return decodeValue(raw)
}

// GenerateID implements workloads.IDClient as Maelstrom's unique-ids
// generate: the reply's id, any JSON value, kept as it came (numbers as
// json.Number). A generate_ok without an id is indeterminate: the node
// may have used one up.
func (c *Client) GenerateID(ctx context.Context) (any, error) {
	body, err := c.call(ctx, "generate", nil)
	if err != nil {
		return nil, classify(err)
	}
	raw, ok := body["id"]
	if !ok {
		return nil, fmt.Errorf("maelstrom generate: generate_ok without an id")
	}
	return decodeValue(raw)
}

// decodeValue decodes a JSON value keeping numbers' text.
func decodeValue(raw json.RawMessage) (any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("maelstrom: reply value %s: %w", clip(raw), err)
	}
	return v, nil
}
