package httpjson

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

// Echo implements workloads.EchoClient: POST /echo; the reply's echo is
// returned as the JSON value it is (nil when it has none), for the echo
// checker to compare with what was sent.
func (c *Client) Echo(ctx context.Context, msg string) (any, error) {
	var r struct {
		Echo json.RawMessage `json:"echo"`
	}
	if err := c.do(ctx, "POST", "/echo", map[string]string{"echo": msg}, &r); err != nil {
		return nil, err
	}
	if r.Echo == nil {
		return nil, nil
	}
	return decodeJSON(r.Echo)
}

// GenerateID implements workloads.IDClient: POST /ids; the reply's id is
// any JSON value, kept as it came (numbers keep their text). A 2xx reply
// without an id is indeterminate: the server may have used one up.
func (c *Client) GenerateID(ctx context.Context) (any, error) {
	var r struct {
		ID json.RawMessage `json:"id"`
	}
	if err := c.do(ctx, "POST", "/ids", nil, &r); err != nil {
		return nil, err
	}
	if r.ID == nil {
		return nil, fmt.Errorf("http-json POST /ids: reply lacks id")
	}
	return decodeJSON(r.ID)
}

func decodeJSON(raw json.RawMessage) (any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("http-json: reply value: %w", err)
	}
	return v, nil
}
