// Package termsafe keeps text from histories and run directories from
// driving the terminal it is printed on: control characters (ESC starting
// a CSI or OSC sequence, BEL, CR, backspace, the C1 controls) and bytes
// that are not UTF-8 are shown as visible escapes such as \x1b instead of
// being sent raw. Printable text, valid UTF-8 included, is unchanged.
package termsafe

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode/utf8"
)

// String returns s with every control character, newline and tab
// included, and every byte that is not UTF-8 shown as an escape: for one
// field of a line.
func String(s string) string {
	var b strings.Builder
	appendSafe(&b, []byte(s), false)
	return b.String()
}

// appendSafe writes p to b with control characters and invalid bytes
// escaped; keepLines keeps newlines and tabs, which lay out whole lines.
func appendSafe(b *strings.Builder, p []byte, keepLines bool) {
	for len(p) > 0 {
		r, size := utf8.DecodeRune(p)
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(b, `\x%02x`, p[0])
		case keepLines && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(b, `\x%02x`, r)
		case r >= 0x80 && r < 0xa0:
			// C1 controls: U+009B is a CSI on terminals that take them.
			fmt.Fprintf(b, `\u%04x`, r)
		case r == 0x2028 || r == 0x2029 || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069):
			// Line separators and bidirectional overrides reorder or
			// break what is shown.
			fmt.Fprintf(b, `\u%04x`, r)
		default:
			b.Write(p[:size])
		}
		p = p[size:]
	}
}

// Writer escapes what is written through it, keeping newlines and tabs.
// It is safe for use by several goroutines (progress lines of parallel
// runs share one).
type Writer struct {
	mu    sync.Mutex
	w     io.Writer
	carry []byte // the start of a rune cut by the end of the last write
}

// NewWriter returns a Writer to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write writes p with control characters escaped. It reports len(p) on
// success, since what reaches w is longer than p.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	buf := append(w.carry, p...)
	w.carry = nil
	// Keep back a rune cut short by the end of p for the next write.
	if cut := incompleteTail(buf); cut > 0 {
		w.carry = append([]byte(nil), buf[len(buf)-cut:]...)
		buf = buf[:len(buf)-cut]
	}
	var b strings.Builder
	appendSafe(&b, buf, true)
	if _, err := io.WriteString(w.w, b.String()); err != nil {
		return 0, err
	}
	return len(p), nil
}

// incompleteTail returns the length of a UTF-8 sequence at the end of p
// that is valid so far but short of bytes, or 0.
func incompleteTail(p []byte) int {
	for n := 1; n < utf8.UTFMax && n <= len(p); n++ {
		c := p[len(p)-n]
		if c < 0x80 {
			return 0
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(p[len(p)-n:]) {
				return n
			}
			return 0
		}
	}
	return 0
}
