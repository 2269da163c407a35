package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"sort"
	"strconv"
	"strings"
)

// EDNOptions tunes WriteEDN.
type EDNOptions struct {
	// Independent writes the key of a keyed client op into its value as
	// Jepsen's independent workloads do, :value [k v] (a read invocation
	// [k nil]), instead of a :key entry. faultline reads such a history back
	// with the kv model only; use it to check a register history with
	// Jepsen's jepsen.independent/checker around Knossos.
	Independent bool
}

// WriteEDN writes ops as a Jepsen history.edn: a vector of op maps, one per
// line, in the shape Jepsen, Knossos and Elle read and that ReadEDN reads
// back to the same ops:
//
//	{:type :invoke, :f :read, :value nil, :key "3", :time 1200, :process 0, :index 0, :node "n1"}
//
// Types, functions and map keys that are names become keywords; the nuker's
// ops have :process :nemesis and keep their types: a fault's invocation is
// :invoke (Jepsen writes :info there, but jepsen.history pairs an :invoke
// with its :info completion alike), so that ReadEDN tells it from the lone
// :info ops (primaries, clock offsets) the nuker also writes. A list-append
// transaction's micro-ops are written as Elle's [[:append k v] [:r k [1 2]]].
// A keyed op carries :key (a string), which Jepsen's checkers ignore and
// ReadEDN restores; see EDNOptions.Independent for Jepsen's [k v] tuples.
// Values are written as JSON would carry them: integers, strings, vectors
// and maps; the fields :error, :node and :nodes appear when set.
func WriteEDN(w io.Writer, ops []Op, opt EDNOptions) error {
	bw := bufio.NewWriterSize(w, 64*1024)
	var sb strings.Builder
	bw.WriteString("[")
	for i, op := range ops {
		sb.Reset()
		if err := writeOpEDN(&sb, op, opt); err != nil {
			return fmt.Errorf("op %d: %w", op.Index, err)
		}
		if i > 0 {
			bw.WriteString("\n ")
		}
		bw.WriteString(sb.String())
	}
	bw.WriteString("]\n")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write edn: %w", err)
	}
	return nil
}

// writeOpEDN writes one op map, keys in the order Jepsen prints them.
func writeOpEDN(sb *strings.Builder, op Op, opt EDNOptions) error {
	if !op.Type.Valid() {
		return fmt.Errorf("unknown op type %q", op.Type)
	}
	if op.Process < 0 && op.Process != Nuker {
		// No reader takes it back: client processes count from 0.
		return fmt.Errorf("process %d is neither a client (0 or more) nor the nuker", op.Process)
	}
	v, err := normalValue(op.Value)
	if err != nil {
		return err
	}
	key := op.Key
	if opt.Independent && key != "" && op.Process != Nuker {
		v, key = []any{keyValue(key), v}, ""
	}
	sb.WriteString("{:type :")
	sb.WriteString(string(op.Type))
	sb.WriteString(", :f ")
	writeName(sb, op.F)
	sb.WriteString(", :value ")
	if op.F == "txn" {
		writeTxn(sb, v)
	} else {
		writeValue(sb, v)
	}
	if key != "" {
		sb.WriteString(", :key ")
		writeString(sb, key)
	}
	sb.WriteString(", :time ")
	sb.WriteString(strconv.FormatInt(op.Time, 10))
	sb.WriteString(", :process ")
	if op.Process == Nuker {
		sb.WriteString(":nemesis")
	} else {
		sb.WriteString(strconv.Itoa(int(op.Process)))
	}
	sb.WriteString(", :index ")
	sb.WriteString(strconv.FormatInt(op.Index, 10))
	if op.Node != "" {
		sb.WriteString(", :node ")
		writeString(sb, op.Node)
	}
	if len(op.Nodes) > 0 {
		sb.WriteString(", :nodes [")
		for i, n := range op.Nodes {
			if i > 0 {
				sb.WriteByte(' ')
			}
			writeString(sb, n)
		}
		sb.WriteByte(']')
	}
	if op.Error != "" {
		sb.WriteString(", :error ")
		writeString(sb, op.Error)
	}
	if op.Answered {
		sb.WriteString(", :answered true")
	}
	sb.WriteByte('}')
	return nil
}

// normalValue brings a value to the types JSON decoding gives (json.Number,
// string, bool, nil, []any, map[string]any), so that an op kept in memory
// (int64, []int64, map[string]int64, ...) is written exactly as the same op
// read from history.jsonl.
func normalValue(v any) (any, error) {
	switch v.(type) {
	case nil, json.Number, string, bool:
		return v, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("value %v: %w", v, err)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var out any
	if err := d.Decode(&out); err != nil {
		return nil, fmt.Errorf("value %v: %w", v, err)
	}
	return out, nil
}

// keyValue is how an independent key is written: an integer when the key is
// one (Jepsen's keys usually are), else the string. Both read back as the
// same key name.
func keyValue(k string) any {
	if n, err := strconv.ParseInt(k, 10, 64); err == nil && strconv.FormatInt(n, 10) == k {
		return json.Number(k)
	}
	return k
}

// writeTxn writes a transaction's micro-ops [f k v] with f as a keyword, as
// Elle reads them; anything else is written as a plain value.
func writeTxn(sb *strings.Builder, v any) {
	mops, ok := v.([]any)
	if !ok {
		writeValue(sb, v)
		return
	}
	sb.WriteByte('[')
	for i, m := range mops {
		if i > 0 {
			sb.WriteByte(' ')
		}
		mop, ok := m.([]any)
		f, isName := "", false
		if ok && len(mop) > 0 {
			f, isName = mop[0].(string)
		}
		if !isName || !isKeyword(f) {
			writeValue(sb, m)
			continue
		}
		sb.WriteString("[:")
		sb.WriteString(f)
		for _, x := range mop[1:] {
			sb.WriteByte(' ')
			writeValue(sb, x)
		}
		sb.WriteByte(']')
	}
	sb.WriteByte(']')
}

// writeValue writes a normalised value: integers and floats as EDN numbers,
// strings as strings, lists as vectors, maps with keyword keys where the key
// is a name (string keys otherwise), in sorted key order.
func writeValue(sb *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		sb.WriteString("nil")
	case bool:
		sb.WriteString(strconv.FormatBool(x))
	case json.Number:
		writeNumber(sb, string(x))
	case string:
		writeString(sb, x)
	case []any:
		sb.WriteByte('[')
		for i, it := range x {
			if i > 0 {
				sb.WriteByte(' ')
			}
			writeValue(sb, it)
		}
		sb.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		sb.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				sb.WriteString(", ")
			}
			writeName(sb, k)
			sb.WriteByte(' ')
			writeValue(sb, x[k])
		}
		sb.WriteByte('}')
	default:
		// normalValue leaves no other type; print something readable.
		writeString(sb, fmt.Sprint(x))
	}
}

// writeNumber writes a JSON number as EDN: an integer as is (with Clojure's
// N suffix beyond 64 bits, which ReadEDN reads as a decimal string), any
// other number as a float.
func writeNumber(sb *strings.Builder, s string) {
	if _, err := strconv.ParseInt(s, 10, 64); err == nil {
		sb.WriteString(s)
		return
	}
	if n, ok := new(big.Int).SetString(s, 10); ok {
		sb.WriteString(n.String())
		sb.WriteByte('N')
		return
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		writeString(sb, s)
		return
	}
	t := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(t, ".eEIN") {
		t += ".0"
	}
	if strings.ContainsAny(t, "IN") { // Inf, NaN
		switch {
		case f > 0:
			t = "##Inf"
		case f < 0:
			t = "##-Inf"
		default:
			t = "##NaN"
		}
	}
	sb.WriteString(t)
}

// writeName writes s as a keyword when it is a valid keyword name, else as
// a string; ReadEDN turns both into the same name.
func writeName(sb *strings.Builder, s string) {
	if isKeyword(s) {
		sb.WriteByte(':')
		sb.WriteString(s)
		return
	}
	writeString(sb, s)
}

// isKeyword reports whether :s reads back as the keyword named s: a
// non-empty name of letters, digits and *+!-_?<>=. that does not start like
// a number; no / (a namespace) or : so the name is kept whole.
func isKeyword(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', strings.IndexByte("*+!-_?<>=", c) >= 0:
		case c >= '0' && c <= '9' || c == '.':
			if i == 0 {
				return false
			}
		default:
			return false
		}
	}
	if (s[0] == '+' || s[0] == '-') && len(s) > 1 && s[1] >= '0' && s[1] <= '9' {
		return false
	}
	return true
}

// writeString writes s as an EDN string literal, escaping what ReadEDN
// unescapes; other characters are written as themselves (EDN is UTF-8).
func writeString(sb *strings.Builder, s string) {
	sb.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			sb.WriteString(`\"`)
		case '\\':
			sb.WriteString(`\\`)
		case '\n':
			sb.WriteString(`\n`)
		case '\t':
			sb.WriteString(`\t`)
		case '\r':
			sb.WriteString(`\r`)
		case '\b':
			sb.WriteString(`\b`)
		case '\f':
			sb.WriteString(`\f`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(sb, `\u%04x`, r)
			} else {
				sb.WriteRune(r)
			}
		}
	}
	sb.WriteByte('"')
}
