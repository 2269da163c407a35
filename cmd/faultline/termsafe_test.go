package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline/faultline/models/history"
)

// TestCheckOutputHasNoTerminalEscapes: a history from elsewhere whose key,
// values and file name carry ESC/OSC sequences (here OSC 52, which writes
// the clipboard, and a clear screen) is checked; what faultline prints
// holds the escapes as visible text, never a raw ESC or BEL.
func TestCheckOutputHasNoTerminalEscapes(t *testing.T) {
	key := "k\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J"
	p := filepath.Join(t.TempDir(), "hist\x1b[31m.jsonl")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w, err := history.NewWriter(f)
	if err != nil {
		t.Fatal(err)
	}
	// A write of 1 completes, then a read returns the never-written 2: an
	// anomaly on the key, so the key is printed.
	for _, op := range []history.Op{
		{Process: 0, Type: history.Invoke, F: "write", Key: key, Value: int64(1)},
		{Process: 0, Type: history.OK, F: "write", Key: key, Value: int64(1)},
		{Process: 1, Type: history.Invoke, F: "read", Key: key},
		{Process: 1, Type: history.OK, F: "read", Key: key, Value: int64(2)},
	} {
		if _, err := w.Append(op); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run([]string{"faultline", "check", "--model", "cas-register", p}, &out, &errb)
	all := out.String() + errb.String()
	if code != ExitInvalid {
		t.Fatalf("exit %d, want %d:\n%s", code, ExitInvalid, all)
	}
	for _, c := range []byte{0x1b, 0x07, '\r'} {
		if i := strings.IndexByte(all, c); i >= 0 {
			t.Errorf("raw %q at byte %d of the output: %q", c, i, all)
		}
	}
	if !strings.Contains(all, `\x1b]52;c;cm0gLXJmIH4=\x07`) {
		t.Errorf("output lacks the key as visible text:\n%s", all)
	}
}
