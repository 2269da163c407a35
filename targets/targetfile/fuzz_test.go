package targetfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: no input makes the reader panic, and every refusal is an
// *Error wrapping ErrInput with at least one problem.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{"", "---", "---\n...\n", "[]", "a", "name: [", base, base + "health: {}\nprimary: {}\n", "options: {a: [b]}\nstart: 1\n"} {
		f.Add([]byte(s))
	}
	protos := fakeProtocols()
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := ParseBytes("f.yaml", data, "testdata", protos)
		if err == nil {
			return
		}
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, ErrInput) || len(e.Problems) == 0 {
			t.Fatalf("refusal %T %v", err, err)
		}
	})
}
