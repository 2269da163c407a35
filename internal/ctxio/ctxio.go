// Package ctxio makes reads stop when a context is done, so that parsing a
// long or endless input does not outlive the signal that cancelled it.
package ctxio

import (
	"context"
	"io"
)

// reader checks its context before each read of the reader it wraps.
type reader struct {
	ctx context.Context
	r   io.Reader
}

// NewReader returns a reader that reads from r until ctx is done and then
// returns ctx.Err() (context.Canceled or context.DeadlineExceeded) instead
// of reading. A read already blocked in r is not interrupted, so r should
// be one that does not block for long: a regular file, a buffer.
func NewReader(ctx context.Context, r io.Reader) io.Reader {
	return &reader{ctx: ctx, r: r}
}

func (r *reader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}
