package main

import (
	"context"
	"fmt"
)

// interrupted returns the harness error (exit 3) of a command whose ctx
// was cancelled by a signal, whatever it returned (err, or a verdict of
// unknown from checkers that stopped): no verdict comes of a stopped
// check. It returns nil while ctx is live.
func interrupted(ctx context.Context, err error) error {
	if ctx.Err() == nil {
		return nil
	}
	if err == nil {
		err = context.Cause(ctx)
	}
	return harnessError{fmt.Errorf("interrupted, no verdict: %w", err)}
}
