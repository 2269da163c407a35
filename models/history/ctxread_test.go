package history

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// endlessLog yields jepsen.util log lines forever, like a stream that
// never ends.
type endlessLog struct{ off int }

const logLine = "INFO  jepsen.util - 3\t:invoke\t:read\tnil\n"

func (e *endlessLog) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], logLine[e.off:])
		n += c
		e.off = (e.off + c) % len(logLine)
	}
	return n, nil
}

func TestReadAnyFromStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, _, err := ReadAnyFrom(ctx, &endlessLog{}, "endless")
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "endless: reading stopped") {
			t.Fatalf("err %v, want the name and context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("reading an endless history still running 10 s after cancel")
	}
}

func TestOpenRegularRefusesOtherFiles(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "history.jsonl")
	if err := os.WriteFile(file, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		want string // "" when it opens
	}{
		{file, ""},
		{link, ""},
		{dir, "is not a regular file (a directory)"},
		{fifo, "is not a regular file (a FIFO)"},
		{"/dev/urandom", "is not a regular file (a character device)"},
		{filepath.Join(dir, "missing"), "no such file"},
	} {
		t.Run(filepath.Base(tc.path), func(t *testing.T) {
			// A FIFO would block os.Open: bound the test.
			done := make(chan error, 1)
			go func() {
				f, err := OpenRegular(tc.path)
				if err == nil {
					f.Close()
				}
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("still opening after 10 s")
			}
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("err %v, want none", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if tc.want != "" && tc.want != "no such file" {
				if _, _, err := ReadAny(tc.path); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("ReadAny: %v, want %q", err, tc.want)
				}
			}
		})
	}
}
