package etcd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/faultline/faultline/targets/targettest"
)

func TestSoftwareVersions(t *testing.T) {
	tests := []struct {
		version string
		ok      bool
	}{
		{"", true},
		{DefaultVersion, true},
		{"v3.5.0", true},
		{"v3.7.3", true},
		{"v3.4.23", false}, // before the server module existed
		{"3.6.16", false},
		{"v3.6", false},
		{"latest", false},
	}
	for _, tt := range tests {
		sw, err := Software(tt.version)
		if (err == nil) != tt.ok {
			t.Errorf("Software(%q) err=%v, want ok=%v", tt.version, err, tt.ok)
			continue
		}
		if err == nil {
			want := tt.version
			if want == "" {
				want = DefaultVersion
			}
			if len(sw.Binaries) != 1 || sw.Binaries[0].Require[0] != serverModule+"@"+want {
				t.Errorf("Software(%q) = %+v", tt.version, sw)
			}
		}
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		opts map[string]string
		read string
		err  string
	}{
		{nil, ReadLinearizable, ""},
		{map[string]string{"read": "serializable"}, ReadSerializable, ""},
		{map[string]string{"read": "eventually"}, "", "read="},
		{map[string]string{"durability": "yes"}, "", "unknown option"},
	}
	for _, tt := range tests {
		tg, err := New("", tt.opts)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("New(%v) err=%v, want %q", tt.opts, err, tt.err)
			}
			continue
		}
		if err != nil || tg.Settings()["read"] != tt.read {
			t.Errorf("New(%v) = %v, %v", tt.opts, tg, err)
		}
	}
}

// TestClassify: only errors after which etcd certainly did nothing are
// definite; a timeout or a lost connection must stay indeterminate, or
// the checker raises false alarms (Jepsen issue #596).
func TestClassify(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		definite bool
	}{
		{"wrapped deadline", fmt.Errorf("put: %w", context.DeadlineExceeded), false},
		{"grpc deadline", status.Error(codes.DeadlineExceeded, "context deadline exceeded"), false},
		{"request timed out", rpctypes.ErrTimeout, false},
		{"leader changed", rpctypes.ErrLeaderChanged, false},
		{"connection reset after send", status.Error(codes.Unavailable, "error reading from server: read tcp: connection reset by peer"), false},
		{"no leader", rpctypes.ErrNoLeader, true},
		{"grpc no leader", rpctypes.ErrGRPCNoLeader, true},
		{"too many requests", rpctypes.ErrTooManyRequests, true},
		{"dial refused", status.Error(codes.Unavailable, `connection error: desc = "transport: Error while dialing: dial tcp 10.1.1.11:2379: connect: connection refused"`), true},
		{"other", errors.New("something odd"), false},
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
}
