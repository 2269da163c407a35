package harness

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/workloads"
)

// flakyPreparer fails its first failures calls.
type flakyPreparer struct {
	failures, calls int
}

func (p *flakyPreparer) Prepare(context.Context, workloads.Client) error {
	p.calls++
	if p.calls <= p.failures {
		return errors.New("no leader yet")
	}
	return nil
}

// TestPrepareRetries: set-up is retried with backoff until it succeeds,
// and given up with the last error when the limit passes.
func TestPrepareRetries(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tests := []struct {
		name     string
		failures int
		limit    time.Duration
		wantErr  string
	}{
		{"first try", 0, time.Second, ""},
		{"after two failures", 2, 5 * time.Second, ""},
		{"never", 1000, 300 * time.Millisecond, "no leader yet"},
	}
	for _, tt := range tests {
		p := &flakyPreparer{failures: tt.failures}
		err := prepare(context.Background(), p, nil, tt.limit, log)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: err %v, want %q", tt.name, err, tt.wantErr)
		case tt.wantErr == "" && p.calls != tt.failures+1:
			t.Errorf("%s: %d calls, want %d", tt.name, p.calls, tt.failures+1)
		}
	}
}
