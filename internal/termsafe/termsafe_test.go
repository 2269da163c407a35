package termsafe

import (
	"bytes"
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "key-7 read 3", "key-7 read 3"},
		{"utf-8 stays", "clé 数据 ✓ ÿ ü", "clé 数据 ✓ ÿ ü"},
		{"clear screen", "\x1b[2J\x1b[Hgone", `\x1b[2J\x1b[Hgone`},
		{"osc 52 clipboard with BEL", "\x1b]52;c;ZWNobyBwd25lZA==\x07", `\x1b]52;c;ZWNobyBwd25lZA==\x07`},
		{"osc with ST", "\x1b]0;title\x1b\\", `\x1b]0;title\x1b\`},
		{"bell", "ding\a", `ding\x07`},
		{"carriage return overwrites", "VALID\rINVALID", `VALID\x0dINVALID`},
		{"backspace", "ab\bc", `ab\x08c`},
		{"newline and tab in a field", "a\nb\tc", `a\x0ab\x09c`},
		{"delete", "a\x7f", `a\x7f`},
		{"C1 CSI as UTF-8", "a\u009b2J", `a\u009b2J`},
		{"raw 8-bit CSI byte", "a\x9b2J", `a\x9b2J`},
		{"invalid UTF-8", "a\xffb\xc3", `a\xffb\xc3`},
		{"bidi override", "abc\u202Edcba", `abc\u202edcba`},
		{"NUL", "a\x00b", `a\x00b`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := String(tc.in); got != tc.want {
				t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestWriter(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out)
	in := "test \x1b]52;c;aGk=\x07: INVALID\n\tkey \x1b[2Jk\r\n"
	n, err := w.Write([]byte(in))
	if err != nil || n != len(in) {
		t.Fatalf("Write: %d, %v", n, err)
	}
	want := "test \\x1b]52;c;aGk=\\x07: INVALID\n\tkey \\x1b[2Jk\\x0d\n"
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}

	// A rune cut between two writes arrives whole.
	out.Reset()
	s := "é数✓"
	for i := range len(s) {
		w.Write([]byte{s[i]})
	}
	if out.String() != s {
		t.Errorf("byte by byte: %q, want %q", out.String(), s)
	}
	if strings.ContainsRune(out.String(), 0x1b) {
		t.Error("raw ESC")
	}
}
