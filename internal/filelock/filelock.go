// Package filelock serializes work between processes with advisory file
// locks: `go test ./...` runs packages as parallel processes, and two of them
// must not build the same image or binary at once.
package filelock

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// pollEvery is how often a waiting Lock retries.
const pollEvery = 200 * time.Millisecond

// Lock takes an exclusive lock on the file path (created, with its
// directory, when missing), waiting until it is free or ctx is done. onWait,
// when not nil, is called once if another process holds the lock. The lock
// is released by calling unlock, or by the kernel when the process exits, so
// a killed holder never leaves it stuck.
func Lock(ctx context.Context, path string, onWait func()) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	waited := false
	for {
		ok, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if ok {
			return func() { unlockFile(f); f.Close() }, nil
		}
		if !waited && onWait != nil {
			onWait()
		}
		waited = true
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for lock %s: %w", path, context.Cause(ctx))
		case <-time.After(pollEvery):
		}
	}
}
