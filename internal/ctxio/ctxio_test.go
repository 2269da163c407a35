package ctxio

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// endless yields the same bytes forever.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

func TestReaderStopsWhenDone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r := NewReader(ctx, endless{})
	buf := make([]byte, 16)
	if n, err := r.Read(buf); n != 16 || err != nil {
		t.Fatalf("before cancel: %d, %v", n, err)
	}
	cancel()
	if n, err := r.Read(buf); n != 0 || !errors.Is(err, context.Canceled) {
		t.Fatalf("after cancel: %d, %v; want 0, context.Canceled", n, err)
	}

	// io.Copy of an endless input ends once the deadline passes.
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, NewReader(ctx, endless{}))
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("copy: %v, want context.DeadlineExceeded", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("copy of an endless reader still running 10 s after its deadline")
	}

	// Not done: reads pass through, EOF included.
	got, err := io.ReadAll(NewReader(context.Background(), strings.NewReader("abc")))
	if string(got) != "abc" || err != nil {
		t.Fatalf("ReadAll: %q, %v", got, err)
	}
}
