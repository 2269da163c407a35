package history

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file is a small reader for EDN (extensible data notation), enough for
// the histories Jepsen writes: maps, vectors, lists, sets, keywords, symbols,
// strings, characters, numbers, nil/true/false, comments, #_ discards and
// tagged literals (records such as #jepsen.history.Op{...} read as the map).

// ednKeyword is an EDN keyword without its leading colon.
type ednKeyword string

// ednSymbol is an EDN symbol other than nil, true and false.
type ednSymbol string

// ednChar is an EDN character literal such as \a.
type ednChar rune

// ednVector, ednList and ednSet keep the three sequential collections apart
// so that values can be printed back as they were written.
type (
	ednVector []any
	ednList   []any
	ednSet    []any
)

// ednMap keeps its entries in the order they were read.
type ednMap struct {
	keys, vals []any
}

// get returns the value stored under keyword k.
func (m *ednMap) get(k string) (any, bool) {
	for i, key := range m.keys {
		if kw, ok := key.(ednKeyword); ok && string(kw) == k {
			return m.vals[i], true
		}
	}
	return nil, false
}

// ednTagged is a tagged literal: #tag value.
type ednTagged struct {
	tag string
	val any
}

// ednUnreadable is a form Clojure prints but cannot read back, #<...>.
type ednUnreadable string

// ednReader reads EDN forms one at a time from a byte stream.
type ednReader struct {
	r     *bufio.Reader
	line  int // 1-based line of the next byte
	depth int // forms being read, nested
}

// maxEDNDepth bounds nesting, so that hostile input cannot exhaust the
// stack (a fatal error, not a recoverable panic). Jepsen histories nest a
// handful of levels.
const maxEDNDepth = 1000

func newEDNReader(r io.Reader) *ednReader {
	return &ednReader{r: bufio.NewReaderSize(r, 64*1024), line: 1}
}

// errClose is returned by readForm when it meets a closing delimiter; the
// collection readers turn it into the end of their collection.
type errClose byte

func (e errClose) Error() string { return fmt.Sprintf("unexpected %q", byte(e)) }

func (d *ednReader) errorf(format string, args ...any) error {
	return fmt.Errorf("edn line %d: %s", d.line, fmt.Sprintf(format, args...))
}

func (d *ednReader) readByte() (byte, error) {
	b, err := d.r.ReadByte()
	if err == nil && b == '\n' {
		d.line++
	}
	return b, err
}

func (d *ednReader) unreadByte(b byte) {
	if d.r.UnreadByte() == nil && b == '\n' {
		d.line--
	}
}

func (d *ednReader) peek() (byte, error) {
	p, err := d.r.Peek(1)
	if err != nil {
		return 0, err
	}
	return p[0], nil
}

func isEDNSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == ',' || b == '\f' || b == '\v'
}

func isEDNDelim(b byte) bool {
	return isEDNSpace(b) || strings.IndexByte(`()[]{}";`, b) >= 0
}

// skip consumes whitespace, commas, ; comments and #_ discarded forms. It
// peeks rather than unreading, since bufio cannot unread after a Peek.
func (d *ednReader) skip() error {
	for {
		b, err := d.peek()
		if err != nil {
			return err
		}
		switch {
		case isEDNSpace(b):
			d.readByte()
		case b == ';':
			for b != '\n' {
				if b, err = d.readByte(); err != nil {
					return err
				}
			}
		case b == '#':
			if p, _ := d.r.Peek(2); len(p) < 2 || p[1] != '_' {
				return nil
			}
			d.readByte()
			d.readByte()
			if _, err := d.readForm(); err != nil {
				var c errClose
				switch {
				case err == io.EOF:
					return d.errorf("#_ at end of input")
				case errors.As(err, &c):
					return d.errorf("#_ before %q: nothing to discard", byte(c))
				}
				return err
			}
		default:
			return nil
		}
	}
}

// readForm reads the next form. It returns io.EOF when the input ends
// before a form starts and errClose at a closing delimiter.
func (d *ednReader) readForm() (any, error) {
	d.depth++
	defer func() { d.depth-- }()
	if d.depth > maxEDNDepth {
		return nil, d.errorf("nested more than %d levels deep", maxEDNDepth)
	}
	if err := d.skip(); err != nil {
		return nil, err
	}
	b, err := d.readByte()
	if err != nil {
		return nil, err
	}
	switch b {
	case '[':
		items, err := d.readSeq(']')
		return ednVector(items), err
	case '(':
		items, err := d.readSeq(')')
		return ednList(items), err
	case '{':
		return d.readMap()
	case ']', ')', '}':
		return nil, errClose(b)
	case '"':
		return d.readString()
	case '\\':
		return d.readChar()
	case ':':
		tok, err := d.readToken()
		if err != nil {
			return nil, err
		}
		if tok == "" {
			return nil, d.errorf("empty keyword")
		}
		return ednKeyword(strings.TrimPrefix(tok, ":")), nil
	case '#':
		return d.readDispatch()
	}
	d.unreadByte(b)
	tok, err := d.readToken()
	if err != nil {
		return nil, err
	}
	return d.atom(tok)
}

// readSeq reads forms up to the closing delimiter end.
func (d *ednReader) readSeq(end byte) ([]any, error) {
	start := d.line
	items := []any{}
	for {
		v, err := d.readForm()
		var c errClose
		switch {
		case errors.As(err, &c):
			if byte(c) != end {
				return nil, d.errorf("expected %q to close the collection opened on line %d, found %q", end, start, byte(c))
			}
			return items, nil
		case err == io.EOF:
			return nil, d.errorf("input ends inside the collection opened on line %d", start)
		case err != nil:
			return nil, err
		}
		items = append(items, v)
	}
}

func (d *ednReader) readMap() (*ednMap, error) {
	start := d.line
	items, err := d.readSeq('}')
	if err != nil {
		return nil, err
	}
	if len(items)%2 != 0 {
		return nil, fmt.Errorf("edn line %d: map has an odd number of forms", start)
	}
	m := &ednMap{keys: make([]any, 0, len(items)/2), vals: make([]any, 0, len(items)/2)}
	for i := 0; i < len(items); i += 2 {
		m.keys = append(m.keys, items[i])
		m.vals = append(m.vals, items[i+1])
	}
	return m, nil
}

// readDispatch reads what follows '#': a set, a symbolic value, an
// unreadable form, a regex, or a tagged literal.
func (d *ednReader) readDispatch() (any, error) {
	b, err := d.readByte()
	if err != nil {
		return nil, d.errorf("input ends after #")
	}
	switch b {
	case '{':
		items, err := d.readSeq('}')
		return ednSet(items), err
	case '#':
		tok, err := d.readToken()
		if err != nil {
			return nil, err
		}
		switch tok {
		case "Inf":
			return math.Inf(1), nil
		case "-Inf":
			return math.Inf(-1), nil
		case "NaN":
			return math.NaN(), nil
		}
		return nil, d.errorf("unknown symbolic value ##%s", tok)
	case '<':
		return d.readUnreadable()
	case '"':
		// A Clojure regex; keep its source text.
		return d.readString()
	}
	d.unreadByte(b)
	tag, err := d.readToken()
	if err != nil {
		return nil, err
	}
	if tag == "" {
		return nil, d.errorf("# followed by %q", b)
	}
	v, err := d.readForm()
	if err == io.EOF {
		return nil, d.errorf("input ends after tag #%s", tag)
	}
	if err != nil {
		return nil, err
	}
	return ednTagged{tag: tag, val: v}, nil
}

// readUnreadable reads Clojure's #<...> up to the matching '>'.
func (d *ednReader) readUnreadable() (any, error) {
	var sb strings.Builder
	depth := 1
	for {
		b, err := d.readByte()
		if err != nil {
			return nil, d.errorf("input ends inside #<...>")
		}
		switch b {
		case '<':
			depth++
		case '>':
			depth--
			if depth == 0 {
				return ednUnreadable(sb.String()), nil
			}
		}
		sb.WriteByte(b)
	}
}

// readToken reads bytes up to the next delimiter.
func (d *ednReader) readToken() (string, error) {
	var sb strings.Builder
	for {
		b, err := d.readByte()
		if err == io.EOF {
			return sb.String(), nil
		}
		if err != nil {
			return "", err
		}
		if isEDNDelim(b) {
			d.unreadByte(b)
			return sb.String(), nil
		}
		sb.WriteByte(b)
	}
}

func (d *ednReader) readString() (string, error) {
	start := d.line
	var sb strings.Builder
	for {
		b, err := d.readByte()
		if err != nil {
			return "", fmt.Errorf("edn line %d: unterminated string", start)
		}
		switch b {
		case '"':
			return sb.String(), nil
		case '\\':
			e, err := d.readByte()
			if err != nil {
				return "", fmt.Errorf("edn line %d: unterminated string", start)
			}
			switch e {
			case 'n':
				sb.WriteByte('\n')
			case 't':
				sb.WriteByte('\t')
			case 'r':
				sb.WriteByte('\r')
			case 'b':
				sb.WriteByte('\b')
			case 'f':
				sb.WriteByte('\f')
			case 'u':
				var hex [4]byte
				for i := range hex {
					if hex[i], err = d.readByte(); err != nil {
						return "", fmt.Errorf("edn line %d: unterminated string", start)
					}
				}
				n, perr := strconv.ParseUint(string(hex[:]), 16, 32)
				if perr != nil {
					return "", d.errorf("bad \\u escape %q in string", hex[:])
				}
				sb.WriteRune(rune(n))
			default: // \" \\ and anything else stand for themselves
				sb.WriteByte(e)
			}
		default:
			sb.WriteByte(b)
		}
	}
}

func (d *ednReader) readChar() (any, error) {
	first, err := d.readByte()
	if err != nil {
		return nil, d.errorf("input ends after \\")
	}
	rest, err := d.readToken()
	if err != nil {
		return nil, err
	}
	tok := string(first) + rest
	switch tok {
	case "newline":
		return ednChar('\n'), nil
	case "space":
		return ednChar(' '), nil
	case "tab":
		return ednChar('\t'), nil
	case "return":
		return ednChar('\r'), nil
	case "formfeed":
		return ednChar('\f'), nil
	case "backspace":
		return ednChar('\b'), nil
	}
	if len(tok) == 5 && tok[0] == 'u' {
		if n, err := strconv.ParseUint(tok[1:], 16, 32); err == nil {
			return ednChar(rune(n)), nil
		}
	}
	r, size := utf8.DecodeRuneInString(tok)
	if size != len(tok) {
		return nil, d.errorf("unknown character literal \\%s", tok)
	}
	return ednChar(r), nil
}

// atom turns a token into nil, a boolean, a number or a symbol.
func (d *ednReader) atom(tok string) (any, error) {
	switch tok {
	case "nil":
		return nil, nil
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "":
		return nil, d.errorf("empty token")
	}
	c := tok[0]
	if c >= '0' && c <= '9' || (c == '+' || c == '-') && len(tok) > 1 && tok[1] >= '0' && tok[1] <= '9' {
		return d.number(tok)
	}
	return ednSymbol(tok), nil
}

func (d *ednReader) number(tok string) (any, error) {
	s := strings.TrimPrefix(tok, "+")
	switch {
	case strings.HasSuffix(s, "N"):
		n, ok := new(big.Int).SetString(strings.TrimSuffix(s, "N"), 10)
		if !ok {
			return nil, d.errorf("bad number %q", tok)
		}
		if n.IsInt64() {
			return n.Int64(), nil
		}
		return n, nil
	case strings.HasSuffix(s, "M"):
		s = strings.TrimSuffix(s, "M")
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, d.errorf("bad number %q", tok)
		}
		return f, nil
	case strings.Contains(s, "/"):
		num, den, _ := strings.Cut(s, "/")
		a, err1 := strconv.ParseFloat(num, 64)
		b, err2 := strconv.ParseFloat(den, 64)
		if err1 != nil || err2 != nil || b == 0 {
			return nil, d.errorf("bad ratio %q", tok)
		}
		return a / b, nil
	case strings.ContainsAny(s, ".eE") && !strings.HasPrefix(s, "0x") && !strings.HasPrefix(s, "-0x"):
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, d.errorf("bad number %q", tok)
		}
		return f, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	if n, ok := new(big.Int).SetString(s, 0); ok {
		if n.IsInt64() {
			return n.Int64(), nil
		}
		return n, nil
	}
	return nil, d.errorf("bad number %q", tok)
}

// ednText prints v back as EDN, for error strings and values that have no
// plainer Go form.
func ednText(v any) string {
	var sb strings.Builder
	writeEDN(&sb, v)
	return sb.String()
}

func writeEDN(sb *strings.Builder, v any) {
	seq := func(open, close string, items []any) {
		sb.WriteString(open)
		for i, it := range items {
			if i > 0 {
				sb.WriteByte(' ')
			}
			writeEDN(sb, it)
		}
		sb.WriteString(close)
	}
	switch x := v.(type) {
	case nil:
		sb.WriteString("nil")
	case bool:
		sb.WriteString(strconv.FormatBool(x))
	case int64:
		sb.WriteString(strconv.FormatInt(x, 10))
	case float64:
		sb.WriteString(strconv.FormatFloat(x, 'g', -1, 64))
	case *big.Int:
		sb.WriteString(x.String())
		sb.WriteByte('N')
	case string:
		sb.WriteString(strconv.Quote(x))
	case ednKeyword:
		sb.WriteByte(':')
		sb.WriteString(string(x))
	case ednSymbol:
		sb.WriteString(string(x))
	case ednChar:
		sb.WriteByte('\\')
		sb.WriteRune(rune(x))
	case ednVector:
		seq("[", "]", x)
	case ednList:
		seq("(", ")", x)
	case ednSet:
		seq("#{", "}", x)
	case *ednMap:
		sb.WriteByte('{')
		for i := range x.keys {
			if i > 0 {
				sb.WriteString(", ")
			}
			writeEDN(sb, x.keys[i])
			sb.WriteByte(' ')
			writeEDN(sb, x.vals[i])
		}
		sb.WriteByte('}')
	case ednTagged:
		sb.WriteByte('#')
		sb.WriteString(x.tag)
		if _, isMap := x.val.(*ednMap); !isMap {
			sb.WriteByte(' ')
		}
		writeEDN(sb, x.val)
	case ednUnreadable:
		sb.WriteString("#<")
		sb.WriteString(string(x))
		sb.WriteByte('>')
	default:
		fmt.Fprint(sb, x)
	}
}

// plainValue converts an EDN value to the Go values an Op carries, the way
// Jepsen's own JSON export does: integers become int64, collections []any,
// maps map[string]any, keywords and symbols their names, tagged literals
// their value. Integers too big for int64 become decimal strings.
func plainValue(v any) any {
	switch x := v.(type) {
	case nil, bool, int64, float64, string:
		return x
	case *big.Int:
		return x.String()
	case ednKeyword:
		return string(x)
	case ednSymbol:
		return string(x)
	case ednChar:
		return string(rune(x))
	case ednUnreadable:
		return "#<" + string(x) + ">"
	case ednVector:
		return plainSeq(x)
	case ednList:
		return plainSeq(x)
	case ednSet:
		out := plainSeq(x)
		// Sets have no order; sort for a stable rendering.
		sort.SliceStable(out, func(i, j int) bool { return fmt.Sprint(out[i]) < fmt.Sprint(out[j]) })
		return out
	case *ednMap:
		out := make(map[string]any, len(x.keys))
		for i, k := range x.keys {
			var name string
			switch kk := k.(type) {
			case ednKeyword:
				name = string(kk)
			case string:
				name = kk
			default:
				name = ednText(k)
			}
			out[name] = plainValue(x.vals[i])
		}
		return out
	case ednTagged:
		return plainValue(x.val)
	}
	return fmt.Sprint(v)
}

func plainSeq(items []any) []any {
	out := make([]any, len(items))
	for i, it := range items {
		out[i] = plainValue(it)
	}
	return out
}
