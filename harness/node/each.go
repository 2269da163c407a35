package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Each runs f on every node at once and joins their errors.
func Each(nodes []Node, f func(Node) error) error {
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(n)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Poll calls check, with backoff from 100 ms up to 2 s, until it succeeds
// or limit passes (or ctx ends); the error then says what was not ready
// and check's last error. Targets wait for health and readiness with it.
func Poll(ctx context.Context, limit time.Duration, what string, log *slog.Logger, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := check(ctx)
		if err == nil {
			log.Debug("ready", "what", what, "attempts", attempt)
			return nil
		}
		var p permanentError
		if errors.As(err, &p) {
			return fmt.Errorf("%s: %w", what, p.err)
		}
		log.Debug("not ready yet", "what", what, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s: %w", what, limit, err)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

// permanentError stops Poll at once: waiting longer cannot help.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err so that Poll returns it at once instead of retrying
// (a process that exited will not become healthy by waiting).
func Permanent(err error) error { return permanentError{err} }
