package etcd

import (
	"context"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/faultline/faultline/workloads"
)

// TestClassifyLock: a transaction on a lease the cluster no longer has is
// refused whole; the rest follows classify.
func TestClassifyLock(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		definite bool
	}{
		{"lease not found", rpctypes.ErrLeaseNotFound, true},
		{"grpc lease not found", rpctypes.ErrGRPCLeaseNotFound, true},
		{"no leader", rpctypes.ErrGRPCNoLeader, true},
		{"deadline", context.DeadlineExceeded, false},
		{"request timed out", rpctypes.ErrTimeout, false},
	}
	for _, tt := range tests {
		if got := workloads.IsDefinite(classifyLock(tt.err)); got != tt.definite {
			t.Errorf("%s: definite=%v, want %v", tt.name, got, tt.definite)
		}
	}
}

func TestTTLSeconds(t *testing.T) {
	tests := []struct {
		ttl  time.Duration
		want int
	}{
		{0, 1}, {300 * time.Millisecond, 1}, {time.Second, 1}, {1500 * time.Millisecond, 2}, {5 * time.Second, 5},
	}
	for _, tt := range tests {
		if got := ttlSeconds(tt.ttl); got != tt.want {
			t.Errorf("ttlSeconds(%s) = %d, want %d", tt.ttl, got, tt.want)
		}
	}
}

// TestSetKeys: a set's element keys lie under its own prefix only ("1/"
// is not a prefix of "10/").
func TestSetKeys(t *testing.T) {
	if k := setKey("1", 42); k != "set/1/42" {
		t.Errorf("setKey = %q", k)
	}
}
