package models

import (
	"context"
	"testing"
	"time"
)

// TestNarrow: the time a key may take comes from the caller (check
// --timeout, the spec's check_timeout) through ctx: a zero limit adds no cap
// of its own, so a 2 m or 10 m budget is not cut to a hidden fixed limit
// (linear and sequential bound each key with Narrow).
func TestNarrow(t *testing.T) {
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		budget  time.Duration
		want    time.Duration // the key's deadline, from now; 0 for none
	}{
		{"2m from ctx", 0, 2 * time.Minute, 2 * time.Minute},
		{"10m from ctx", 0, 10 * time.Minute, 10 * time.Minute},
		{"no deadline at all", 0, 0, 0},
		{"explicit per-key cap below ctx", 50 * time.Millisecond, 2 * time.Minute, 50 * time.Millisecond},
		{"explicit cap above ctx", 5 * time.Minute, 2 * time.Minute, 2 * time.Minute},
		{"negative: no cap", -1, 3 * time.Minute, 3 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.budget > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.budget)
				defer cancel()
			}
			start := time.Now()
			kctx, cancel := Narrow(ctx, tc.timeout)
			defer cancel()
			dl, ok := kctx.Deadline()
			if tc.want == 0 {
				if ok {
					t.Fatalf("key deadline %v from now, want none", dl.Sub(start))
				}
				return
			}
			if !ok {
				t.Fatalf("no key deadline, want %v", tc.want)
			}
			if got := dl.Sub(start); got < tc.want-5*time.Second || got > tc.want+time.Second {
				t.Fatalf("key deadline %v from now, want %v", got.Round(time.Second), tc.want)
			}
		})
	}
}
