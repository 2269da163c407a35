package etcd

import (
	"context"
	"testing"

	"github.com/faultline/faultline/targets/targettest"
)

// TestDialWorkloads: the client serves every workload Dial claims.
func TestDialWorkloads(t *testing.T) {
	targettest.ServesWorkloads(t, &Client{}, DialWorkloads())
}

// TestDialOptions: Dial takes exactly the read option, refused before any
// connection when bad.
func TestDialOptions(t *testing.T) {
	tests := []struct {
		opts map[string]string
		want string // the read mode, or "" for a refusal
	}{
		{nil, ReadLinearizable},
		{map[string]string{"read": "serializable"}, ReadSerializable},
		{map[string]string{"read": "linearizable"}, ReadLinearizable},
		{map[string]string{"read": "stale"}, ""},
		{map[string]string{"consistency": "l"}, ""},
		{map[string]string{"upgrade-to": "v3.7.3"}, ""}, // the target's, not a client's
	}
	for _, tt := range tests {
		got, err := parseRead(tt.opts, DialOptions())
		if tt.want == "" {
			if err == nil {
				t.Errorf("parseRead(%v) accepted", tt.opts)
			}
			if _, derr := Dial(context.Background(), "127.0.0.1:1", tt.opts); derr == nil || derr.Error() != err.Error() {
				t.Errorf("Dial(%v) = %v, want the option's refusal", tt.opts, derr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseRead(%v) = %q, %v; want %q", tt.opts, got, err, tt.want)
		}
	}
}
