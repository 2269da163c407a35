package nats

import (
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/targets/targettest"
)

// TestDialWorkloads: the client serves every workload Dial claims.
func TestDialWorkloads(t *testing.T) {
	targettest.ServesWorkloads(t, &Client{}, DialWorkloads())
}

func TestParseDialOptions(t *testing.T) {
	tests := []struct {
		opts map[string]string
		want settings
		err  string
	}{
		{nil, defaultSettings(), ""},
		{map[string]string{"replicas": "1", "kv-reads": "leader", "dedupe": "30s"},
			settings{replicas: 1, sync: defaultSettings().sync, kvReads: ReadsLeader, dedupe: 30 * time.Second}, ""},
		{map[string]string{"replicas": "2"}, settings{}, "replicas"},
		{map[string]string{"sync": "always"}, settings{}, `unknown option "sync"`},
	}
	for _, tt := range tests {
		got, err := parseDialOptions(tt.opts)
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
