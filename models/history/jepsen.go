package history

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Names of the history formats ReadAny recognises, as `faultline check
// --format` spells them.
const (
	// FormatFaultline is faultline's own JSON-lines history (see Read).
	FormatFaultline = "faultline"
	// FormatJepsenEDN is Jepsen's history.edn (see ReadEDN).
	FormatJepsenEDN = "jepsen-edn"
	// FormatJepsenLog is jepsen.util log lines (see ReadJepsenLog).
	FormatJepsenLog = "jepsen-log"
)

// ReadEDN reads a Jepsen history written as EDN: a vector or list of op maps
// (history.edn), or op maps one after another with no enclosing collection.
// An op map may span several lines and may be a tagged record such as
// #jepsen.history.Op{...}. Keys used: :process (an integer, or :nemesis,
// which becomes Nuker), :type, :f, :value, and when present :time (ns),
// :index, :error and :node. Ops without :index are numbered by position.
//
// Values are converted as Jepsen's JSON export does: nil stays nil, integers
// become int64, vectors []any, keywords their names, maps map[string]any.
// A value such as [k v] from Jepsen's independent checker is kept as the
// two-element list it is; the importer does not guess keys.
//
// Jepsen writes both halves of a nemesis op as :info; the first of each pair
// becomes Invoke here, as faultline's own nuker writes them.
func ReadEDN(r io.Reader) ([]Op, error) {
	d := newEDNReader(r)
	if err := d.skip(); err != nil {
		if err == io.EOF {
			return nil, errors.New("edn: empty input")
		}
		return nil, err
	}
	var ops []Op
	add := func(v any, line int) error {
		op, err := opFromEDN(v, int64(len(ops)))
		if err != nil {
			return fmt.Errorf("edn line %d: op %d: %w", line, len(ops), err)
		}
		ops = append(ops, op)
		return nil
	}
	b, err := d.peek()
	if err != nil {
		return nil, fmt.Errorf("edn: %w", err)
	}
	if b == '[' || b == '(' {
		// A single collection of ops: read it element by element so a long
		// history is never held twice.
		d.readByte()
		end := byte(']')
		if b == '(' {
			end = ')'
		}
		start := d.line
		for {
			if err := d.skip(); err != nil {
				return nil, d.errorf("input ends inside the history opened on line %d", start)
			}
			line := d.line
			v, err := d.readForm()
			var c errClose
			if errors.As(err, &c) {
				if byte(c) != end {
					return nil, d.errorf("expected %q to close the history opened on line %d, found %q", end, start, byte(c))
				}
				break
			}
			if err == io.EOF {
				return nil, d.errorf("input ends inside the history opened on line %d", start)
			}
			if err != nil {
				return nil, err
			}
			if err := add(v, line); err != nil {
				return nil, err
			}
		}
		if err := d.skip(); err != io.EOF {
			if err == nil {
				return nil, d.errorf("unexpected input after the history's closing %q", end)
			}
			return nil, err
		}
	} else {
		for {
			if err := d.skip(); err == io.EOF {
				break
			} else if err != nil {
				return nil, err
			}
			line := d.line
			v, err := d.readForm()
			if err != nil {
				var c errClose
				if errors.As(err, &c) {
					return nil, d.errorf("unexpected %q", byte(c))
				}
				return nil, err
			}
			if err := add(v, line); err != nil {
				return nil, err
			}
		}
	}
	pairNemesis(ops)
	return ops, nil
}

// opFromEDN converts one op map; pos is its position in the history.
func opFromEDN(v any, pos int64) (Op, error) {
	for {
		t, ok := v.(ednTagged)
		if !ok {
			break
		}
		v = t.val
	}
	m, ok := v.(*ednMap)
	if !ok {
		return Op{}, fmt.Errorf("expected an op map, found %s", clip(ednText(v)))
	}
	op := Op{Index: pos}
	pv, ok := m.get("process")
	if !ok {
		return Op{}, errors.New("no :process")
	}
	p, err := jepsenProcess(pv)
	if err != nil {
		return Op{}, err
	}
	op.Process = p
	tv, ok := m.get("type")
	if !ok {
		return Op{}, errors.New("no :type")
	}
	if op.Type, err = jepsenType(tv); err != nil {
		return Op{}, err
	}
	fv, ok := m.get("f")
	if !ok {
		return Op{}, errors.New("no :f")
	}
	op.F = ednName(fv)
	if vv, ok := m.get("value"); ok {
		op.Value = plainValue(vv)
	}
	if t, ok := m.get("time"); ok {
		n, ok := t.(int64)
		if !ok {
			return Op{}, fmt.Errorf(":time %s is not an integer", clip(ednText(t)))
		}
		op.Time = n
	}
	if i, ok := m.get("index"); ok {
		n, ok := i.(int64)
		if !ok {
			return Op{}, fmt.Errorf(":index %s is not an integer", clip(ednText(i)))
		}
		op.Index = n
	}
	if e, ok := m.get("error"); ok && e != nil {
		if s, ok := e.(string); ok {
			op.Error = s
		} else {
			op.Error = ednText(e)
		}
	}
	if n, ok := m.get("node"); ok && n != nil {
		op.Node = ednName(n)
	}
	// :key is not Jepsen's: faultline export writes it for keyed ops.
	if k, ok := m.get("key"); ok && k != nil {
		op.Key = ednName(k)
	}
	return op, nil
}

func jepsenProcess(v any) (Process, error) {
	switch x := v.(type) {
	case int64:
		if x >= 0 && x <= math.MaxInt32 {
			return Process(x), nil
		}
	case ednKeyword:
		if x == "nemesis" {
			return Nuker, nil
		}
	case string:
		if x == "nemesis" || x == "nuker" {
			return Nuker, nil
		}
	}
	return 0, fmt.Errorf(":process %s is neither a client number (0 or more) nor :nemesis", clip(ednText(v)))
}

func jepsenType(v any) (Type, error) {
	t := Type(ednName(v))
	if !t.Valid() {
		return "", fmt.Errorf(":type %s is not :invoke, :ok, :fail or :info", clip(ednText(v)))
	}
	return t, nil
}

// ednName returns the name of a keyword or symbol, a string as is, and any
// other value printed as EDN.
func ednName(v any) string {
	switch x := v.(type) {
	case ednKeyword:
		return string(x)
	case ednSymbol:
		return string(x)
	case string:
		return x
	}
	return ednText(v)
}

func clip(s string) string {
	const max = 60
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// pairNemesis marks the first of each pair of the nemesis's :info ops as
// the invocation: Jepsen logs both halves as :info, faultline's nuker (and
// FaultWindows) expect invoke then completion.
func pairNemesis(ops []Op) {
	// A history that has nemesis invocations (faultline's export) says
	// itself which ops are invocations; its lone infos stay infos.
	for _, op := range ops {
		if op.Process == Nuker && op.Type == Invoke {
			return
		}
	}
	open := false
	for i := range ops {
		op := &ops[i]
		if op.Process != Nuker {
			continue
		}
		switch {
		case op.Type == Invoke:
			open = true
		case !open && op.Type == Info:
			op.Type = Invoke
			open = true
		default:
			open = false
		}
	}
}

// jepsenLogLine matches the op a jepsen.util log line reports: anything up
// to "jepsen.util -" (or "jepsen.util:"), then process, type, f and the rest
// (the value, and possibly a tab and an error). Lines of the same fields
// without the logger prefix (Jepsen's history.txt) match too.
var jepsenLogLine = regexp.MustCompile(`^(?:.*\bjepsen\.util\s*[-:]\s+)?(\d+|:nemesis)\s+:(invoke|ok|fail|info)\s+:?(\S+)(?:\s+(.*?))?\s*$`)

// jepsenLogTime matches a timestamp at the start of a log line.
var jepsenLogTime = regexp.MustCompile(`^(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d)(?:[,.](\d{1,9}))?`)

// ReadJepsenLog reads the ops that jepsen.util logs, one per line, e.g.
//
//	INFO  jepsen.util - 3	:invoke	:cas	[1 4]
//
// with or without a timestamp in front, fields separated by tabs or spaces.
// Lines that do not look like an op are ignored. When lines carry
// timestamps, Time is the time since the first one; otherwise it is 0.
// It is ReadJepsenLogInfo without the info: a torn last op line is dropped.
func ReadJepsenLog(r io.Reader) ([]Op, error) {
	ops, _, err := ReadJepsenLogInfo(r)
	return ops, err
}

// ReadJepsenLogInfo reads jepsen.util log lines as ReadJepsenLog does. A
// last op line without its newline may have been cut anywhere (":ok :read
// 12" cut to ":ok :read 1" reads as another value): it is dropped and
// reported in ReadInfo.Torn.
func ReadJepsenLogInfo(r io.Reader) ([]Op, ReadInfo, error) {
	var info ReadInfo
	br := bufio.NewReaderSize(r, 64*1024)
	var ops []Op
	var t0 time.Time
	line := 0
	for {
		b, nl, err := readLine(br, maxLogLine)
		if err == io.EOF {
			break
		}
		line++
		if err != nil {
			return nil, info, fmt.Errorf("jepsen log line %d: %w", line, err)
		}
		text := strings.TrimRight(string(b), "\r")
		m := jepsenLogLine.FindStringSubmatch(text)
		if m == nil {
			continue
		}
		if !nl {
			info.Torn = &TornLine{Line: line, Bytes: len(b)}
			break
		}
		op := Op{Index: int64(len(ops)), Type: Type(m[2]), F: m[3]}
		if m[1] == ":nemesis" {
			op.Process = Nuker
		} else {
			p, err := strconv.Atoi(m[1])
			if err != nil {
				return nil, info, fmt.Errorf("jepsen log line %d: process %q: %w", line, m[1], err)
			}
			op.Process = Process(p)
		}
		op.Value, op.Error = logValue(m[4])
		if tm := jepsenLogTime.FindStringSubmatch(text); tm != nil {
			stamp := strings.Replace(tm[1], "T", " ", 1)
			if tm[2] != "" {
				stamp += "." + tm[2]
			}
			if t, err := time.Parse("2006-01-02 15:04:05.999999999", stamp); err == nil {
				if t0.IsZero() {
					t0 = t
				}
				op.Time = t.Sub(t0).Nanoseconds()
			}
		}
		ops = append(ops, op)
	}
	pairNemesis(ops)
	return ops, info, nil
}

// maxLogLine bounds one line of a jepsen.util log.
const maxLogLine = 16 << 20

// logValue parses the value field of a log line as EDN. What follows the
// value (jepsen.util puts an op's error there) becomes the error; a value
// that is not readable EDN (a pretty-printed value cut at the line's end)
// is kept as its text.
func logValue(s string) (any, string) {
	if s == "" {
		return nil, ""
	}
	d := newEDNReader(strings.NewReader(s))
	v, err := d.readForm()
	if err != nil {
		return s, ""
	}
	rest, _ := io.ReadAll(d.r)
	return plainValue(v), strings.TrimSpace(string(rest))
}

// ReadAny reads a history file in any format faultline knows, chosen by its
// content: faultline's JSON lines (FormatFaultline), Jepsen EDN (FormatJepsenEDN) or
// jepsen.util log lines (FormatJepsenLog). It returns the ops and the name of
// the format. It is ReadAnyInfo without the info.
func ReadAny(path string) ([]Op, string, error) {
	ops, format, _, err := ReadAnyInfo(path)
	return ops, format, err
}

// ReadAnyInfo reads a history file as ReadAny does and also returns what
// was found about the file: for faultline's format its end record, and for
// faultline's format and jepsen.util logs a torn last line, dropped (see
// ReadWithInfo and ReadJepsenLogInfo). An EDN history has no lines to tear:
// one cut short does not parse, and is an error.
func ReadAnyInfo(path string) ([]Op, string, ReadInfo, error) {
	return ReadAnyInfoContext(context.Background(), path)
}

// readAnyInfo is ReadAnyInfo's parser; path labels errors.
func readAnyInfo(f io.Reader, path string) ([]Op, string, ReadInfo, error) {
	var none ReadInfo
	br := bufio.NewReaderSize(f, 64*1024)
	head, err := br.Peek(64 * 1024)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, "", none, fmt.Errorf("%s: %w", path, err)
	}
	switch sniff(head) {
	case FormatFaultline:
		ops, info, err := ReadWithInfo(br)
		if err != nil {
			return nil, "", none, fmt.Errorf("%s: %w", path, err)
		}
		return ops, FormatFaultline, info, nil
	case FormatJepsenEDN:
		ops, err := ReadEDN(br)
		if err != nil {
			return nil, "", none, fmt.Errorf("%s: jepsen EDN history: %w", path, err)
		}
		return ops, FormatJepsenEDN, none, nil
	case "json":
		return nil, "", none, fmt.Errorf("%s: line 1: JSON without the faultline history header line {\"format\":%q,...}", path, Format)
	}
	ops, info, err := ReadJepsenLogInfo(br)
	if err != nil {
		return nil, "", none, fmt.Errorf("%s: %w", path, err)
	}
	if len(ops) == 0 {
		if info.Torn != nil {
			return nil, "", none, fmt.Errorf("%s: line %d: the only op line is torn (no newline at its end)", path, info.Torn.Line)
		}
		return nil, "", none, fmt.Errorf("%s: not a history: neither faultline JSON lines, Jepsen EDN, nor jepsen.util log lines with ops", path)
	}
	return ops, FormatJepsenLog, info, nil
}

// sniff names the format the start of a file suggests: FormatFaultline, FormatJepsenEDN,
// "json" for JSON that lacks faultline's header, or "" for anything else.
func sniff(head []byte) string {
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	// Skip blank lines and EDN comments.
	for {
		head = bytes.TrimLeft(head, " \t\r\n,")
		if len(head) == 0 || head[0] != ';' {
			break
		}
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			head = head[i+1:]
		} else {
			head = nil
		}
	}
	if len(head) == 0 {
		return ""
	}
	first := head
	if i := bytes.IndexByte(first, '\n'); i >= 0 {
		first = first[:i]
	}
	switch head[0] {
	case '{':
		if bytes.HasPrefix(bytes.TrimLeft(head[1:], " \t\r\n"), []byte(`"`)) {
			if bytes.Contains(first, []byte(`"format"`)) && bytes.Contains(first, []byte(Format)) {
				return FormatFaultline
			}
			return "json"
		}
		return FormatJepsenEDN
	case '[', '(', '#':
		return FormatJepsenEDN
	}
	return ""
}
