package redis

import (
	"strings"
	"testing"

	"github.com/faultline/faultline/targets/targettest"
)

// TestDialWorkloads: the client serves every workload Dial claims.
func TestDialWorkloads(t *testing.T) {
	targettest.ServesWorkloads(t, &Client{}, DialWorkloads())
}

func TestParseDialOptions(t *testing.T) {
	tests := []struct {
		opts map[string]string
		want clientConfig
		err  string
	}{
		{nil, clientConfig{addr: "a:6379", id: "a:6379"}, ""},
		{map[string]string{"wait": "2"}, clientConfig{addr: "a:6379", id: "a:6379", wait: 2}, ""},
		{map[string]string{"sentinel": "mymaster"}, clientConfig{addr: "a:6379", id: "a:6379", master: "mymaster"}, ""},
		{map[string]string{"wait": "x"}, clientConfig{}, "wait"},
		{map[string]string{"sentinel": " "}, clientConfig{}, "sentinel"},
		{map[string]string{"replica-reads": "true"}, clientConfig{}, `unknown option "replica-reads"`},
	}
	for _, tt := range tests {
		got, err := parseDialOptions("a:6379", tt.opts)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parseDialOptions(%v) = %v; want an error with %q", tt.opts, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseDialOptions(%v) = %+v, %v; want %+v", tt.opts, got, err, tt.want)
		}
	}
}

// TestNewClient: reads go where writes go unless a read address is given;
// owner ids start with the client's id and differ between clients.
func TestNewClient(t *testing.T) {
	c := newClient(clientConfig{addr: "10.0.0.2:6379", wait: 1, id: "n1"})
	defer c.Close()
	if c.r != c.w || c.wait != 1 || !strings.HasPrefix(c.id, "n1-") {
		t.Errorf("client: r==w %v, wait %d, id %q", c.r == c.w, c.wait, c.id)
	}
	if got := c.w.Options().Addr; got != "10.0.0.2:6379" {
		t.Errorf("writes go to %s", got)
	}
	d := newClient(clientConfig{addr: "10.0.0.2:6379", readAddr: "10.0.0.3:6379", id: "n1"})
	defer d.Close()
	if d.r == d.w || d.r.Options().Addr != "10.0.0.3:6379" {
		t.Errorf("reads go to %s, want 10.0.0.3:6379 apart from writes", d.r.Options().Addr)
	}
	if d.id == c.id {
		t.Errorf("two clients share the owner id %q", c.id)
	}
	// go-redis turns MaxRetries -1 into 0 (one attempt); its default 3.
	if w := d.w.Options(); w.MaxRetries != 0 {
		t.Errorf("MaxRetries = %d: retries re-send writes", w.MaxRetries)
	}
}
