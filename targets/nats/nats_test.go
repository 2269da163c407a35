package nats

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/targets/targettest"
	"github.com/faultline/faultline/workloads"
)

func TestSoftwareVersions(t *testing.T) {
	tests := []struct {
		version string
		ok      bool
	}{
		{"", true},
		{DefaultVersion, true},
		{"v2.12.1", true},
		{"v2.10.0", true},
		{"v2.9.25", false}, // before sync_interval: always
		{"2.12.1", false},
		{"v2.12", false},
		{"latest", false},
	}
	for _, tt := range tests {
		sw, err := Software(tt.version)
		if (err == nil) != tt.ok {
			t.Errorf("Software(%q) err=%v, want ok=%v", tt.version, err, tt.ok)
			continue
		}
		if err != nil {
			continue
		}
		want := tt.version
		if want == "" {
			want = DefaultVersion
		}
		b := sw.Binaries
		if len(b) != 1 || b[0].Require[0] != serverModule+"@"+want || b[0].Package != serverModule || b[0].Main != "" {
			t.Errorf("Software(%q) = %+v", tt.version, sw)
		}
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		opts map[string]string
		want map[string]string // settings that must result
		err  string
	}{
		{nil, map[string]string{"replicas": "3", "sync": "2m", "kv-reads": "direct", "dedupe": "2m0s"}, ""},
		{map[string]string{"replicas": "1"}, map[string]string{"replicas": "1"}, ""},
		{map[string]string{"replicas": "5", "sync": "always"}, map[string]string{"replicas": "5", "sync": "always"}, ""},
		{map[string]string{"sync": "10s", "kv-reads": "leader", "dedupe": "30s"}, map[string]string{"sync": "10s", "kv-reads": "leader", "dedupe": "30s"}, ""},
		{map[string]string{"replicas": "2"}, nil, "replicas="},
		{map[string]string{"replicas": "three"}, nil, "replicas="},
		{map[string]string{"sync": "sometimes"}, nil, "sync="},
		{map[string]string{"sync": "-1s"}, nil, "sync="},
		{map[string]string{"kv-reads": "follower"}, nil, "kv-reads="},
		{map[string]string{"dedupe": "1ms"}, nil, "dedupe="},
		{map[string]string{"durability": "yes"}, nil, "unknown option"},
	}
	for _, tt := range tests {
		tg, err := New("", tt.opts)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || strings.Contains(err.Error(), "\n") {
				t.Errorf("New(%v) err=%v, want one line with %q", tt.opts, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("New(%v): %v", tt.opts, err)
			continue
		}
		got := tg.Settings()
		for k, v := range tt.want {
			if got[k] != v {
				t.Errorf("New(%v): %s=%q, want %q", tt.opts, k, got[k], v)
			}
		}
	}
	for k := range Options() {
		if _, ok := defaultSettings().values()[k]; !ok {
			t.Errorf("option %s is described but has no setting", k)
		}
	}
	if _, err := New("v1.0.0", nil); err == nil {
		t.Error("New accepted version v1.0.0")
	}
}

func TestRenderConfig(t *testing.T) {
	peers := []netip.Addr{netip.MustParseAddr("10.1.0.2"), netip.MustParseAddr("10.1.0.3"), netip.MustParseAddr("10.1.0.4")}
	tests := []struct {
		sync string
		want []string
	}{
		{"always", []string{"sync_interval: always"}},
		{"2m", []string{"sync_interval: 2m"}},
	}
	for _, tt := range tests {
		conf := renderConfig("n2", peers, tt.sync)
		want := append(tt.want,
			`server_name: "n2"`, `listen: "0.0.0.0:4222"`, `http: "0.0.0.0:8222"`, `server_tags: ["node:n2"]`,
			`store_dir: "/var/lib/nats/jetstream"`, `listen: "0.0.0.0:6222"`, "no_advertise: true",
			"nats-route://10.1.0.2:6222", "nats-route://10.1.0.3:6222", "nats-route://10.1.0.4:6222")
		for _, w := range want {
			if !strings.Contains(conf, w) {
				t.Errorf("config (sync %s) lacks %q:\n%s", tt.sync, w, conf)
			}
		}
	}
}

// TestClassify: only errors after which NATS certainly did nothing are
// definite; a timeout must stay indeterminate, or the checker raises
// false alarms.
func TestClassify(t *testing.T) {
	apiErr := &jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}
	tests := []struct {
		name     string
		err      error
		definite bool
	}{
		{"wrapped deadline", fmt.Errorf("publish: %w", context.DeadlineExceeded), false},
		{"nats timeout", nats.ErrTimeout, false},
		{"async publish timeout", jetstream.ErrAsyncPublishTimeout, false},
		{"other", errors.New("something odd"), false},
		{"no stream response", jetstream.ErrNoStreamResponse, true},
		{"no responders", nats.ErrNoResponders, true},
		{"connection closed", nats.ErrConnectionClosed, true},
		{"reconnecting, no buffer", nats.ErrReconnectBufExceeded, true},
		{"api error", fmt.Errorf("nats: %w", apiErr), true},
		{"wrong last sequence", fmt.Errorf("nats: %w", &jetstream.APIError{Code: 400, ErrorCode: jetstream.JSErrCodeStreamWrongLastSequence}), true},
		{"stream not found", jetstream.ErrStreamNotFound, true},
		{"already definite", workloads.Definite(errors.New("refused")), true},
	}
	var cases []targettest.ClassCase
	for _, tt := range tests {
		want := targettest.Indeterminate
		if tt.definite {
			want = targettest.Definite
		}
		cases = append(cases, targettest.ClassCase{Name: tt.name, Err: tt.err, Want: want})
	}
	// The kit adds the rules every target shares (timeouts and
	// cancellations stay indeterminate, causes are kept, nil is nil).
	targettest.Classify(t, classify, cases)
	for _, code := range []jetstream.ErrorCode{10071, 10164} { // R1 and replicated streams
		if !isWrongLastSequence(fmt.Errorf("nats: %w", &jetstream.APIError{Code: 400, ErrorCode: code})) {
			t.Errorf("err_code %d is not taken for a revision mismatch", code)
		}
	}
	if isWrongLastSequence(apiErr) || isWrongLastSequence(context.DeadlineExceeded) {
		t.Error("isWrongLastSequence takes other errors for a mismatch")
	}
}

func TestIsPrimary(t *testing.T) {
	var jz jszInfo
	jz.Meta.Leader = "n1"
	st := jszStream{Name: QueueStream}
	st.Cluster.Leader = "n2"
	jz.Accounts = []jszAccount{{Streams: []jszStream{st}}}
	tests := []struct {
		node    string
		streams []string
		want    bool
	}{
		{"n1", nil, true},
		{"n2", nil, false},
		{"n2", []string{QueueStream}, true},
		{"n1", []string{QueueStream}, false},
		{"n2", []string{kvStream}, false},
	}
	for _, tt := range tests {
		if got := isPrimary(jz, tt.node, tt.streams); got != tt.want {
			t.Errorf("isPrimary(%s, %v) = %v, want %v", tt.node, tt.streams, got, tt.want)
		}
	}
}
