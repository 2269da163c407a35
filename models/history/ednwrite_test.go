package history

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// roundTrip writes ops as EDN and reads them back.
func roundTrip(t testing.TB, ops []Op, opt EDNOptions) ([]Op, string) {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteEDN(&buf, ops, opt); err != nil {
		t.Fatalf("WriteEDN: %v", err)
	}
	back, err := ReadEDN(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("ReadEDN of what WriteEDN wrote: %v\n%s", err, buf.String())
	}
	return back, buf.String()
}

// comparable is op as JSON, without the fields EDN does not carry back
// (Nodes and Answered: ReadEDN ignores them), so that int64 and
// json.Number, or []int64 and []any, compare equal.
func comparable(t testing.TB, op Op) string {
	t.Helper()
	op.Nodes, op.Answered = nil, false
	op.Value = canon(op.Value)
	b, err := json.Marshal(op)
	if err != nil {
		t.Fatalf("marshal %+v: %v", op, err)
	}
	return string(b)
}

// canon gives numbers one Go type each, so that JSON's -0 and 0, or 1.50
// and 1.5, compare equal.
func canon(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		if f, err := x.Float64(); err == nil {
			return f
		}
	case []any:
		out := make([]any, len(x))
		for i, it := range x {
			out[i] = canon(it)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, it := range x {
			out[k] = canon(it)
		}
		return out
	}
	return v
}

func sameOps(t testing.TB, want, got []Op) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d ops back, want %d", len(got), len(want))
	}
	for i := range want {
		if w, g := comparable(t, want[i]), comparable(t, got[i]); w != g {
			t.Errorf("op %d:\n got %s\nwant %s", i, g, w)
		}
	}
}

// sample has every shape faultline's workloads and nuker write, as kept in
// memory (Go types) rather than read from JSON.
func sample() []Op {
	return []Op{
		{Index: 0, Time: 5, Type: Invoke, Process: 0, F: "read", Key: "3", Node: "n1"},
		{Index: 1, Time: 7, Type: Invoke, Process: 1, F: "cas", Key: "3", Value: []int64{0, 4}, Node: "n2"},
		{Index: 2, Time: 9, Type: Invoke, Process: Nuker, F: "start-partition"},
		{Index: 2, Time: 9, Type: Info, Process: Nuker, F: PrimariesF, Value: []any{"n2"}},
		{Index: 3, Time: 11, Type: OK, Process: 0, F: "read", Key: "3", Value: int64(2), Node: "n1"},
		{Index: 4, Time: 12, Type: Info, Process: Nuker, F: "start-partition", Value: "isolated n1 from n2, n3", Nodes: []string{"n1"}},
		{Index: 5, Time: 13, Type: Fail, Process: 1, F: "cas", Key: "3", Value: []int64{0, 4}, Error: "compare failed: \"value\" differs\n\tat\\here", Answered: true, Node: "n2"},
		{Index: 6, Time: 14, Type: Invoke, Process: 2, F: "txn", Value: []any{[]any{"append", int64(1), int64(7)}, []any{"r", int64(2), nil}}},
		{Index: 7, Time: 15, Type: OK, Process: 2, F: "txn", Value: []any{[]any{"append", int64(1), int64(7)}, []any{"r", int64(2), []int64{1, 2}}}},
		{Index: 8, Time: 16, Type: Invoke, Process: 3, F: "transfer", Value: map[string]any{"from": "0", "to": "1", "amount": int64(5)}},
		{Index: 9, Time: 17, Type: Info, Process: 3, F: "transfer", Value: map[string]any{"from": "0", "to": "1", "amount": int64(5)}, Error: "timeout"},
		{Index: 10, Time: 18, Type: Invoke, Process: 4, F: "read"},
		{Index: 11, Time: 19, Type: OK, Process: 4, F: "read", Value: map[string]int64{"0": 10, "1": 90}},
		{Index: 12, Time: 20, Type: Invoke, Process: 5, F: "acquire", Key: "lock-1", Value: "w5"},
		{Index: 13, Time: 21, Type: OK, Process: 5, F: "acquire", Key: "lock-1", Value: map[string]any{"owner": "w5", "token": int64(3)}},
		{Index: 14, Time: 22, Type: Invoke, Process: 6, F: "enqueue", Key: "s1", Value: json.Number("12")},
		{Index: 15, Time: 23, Type: OK, Process: 6, F: "enqueue", Key: "s1", Value: json.Number("12")},
		{Index: 16, Time: 24, Type: Invoke, Process: Nuker, F: "stop-partition"},
		{Index: 17, Time: 25, Type: Info, Process: Nuker, F: "stop-partition", Nodes: []string{"n1"}},
		{Index: 18, Time: 26, Type: Invoke, Process: 7, F: "odd f/with space", Key: "k with \"quotes\"", Value: []any{1.5, true, "é☃", map[string]any{"not a name": int64(-1), "ok?": nil}}},
	}
}

// TestWriteEDNRoundTrip: every op shape comes back from ReadEDN as it was
// (same type, process, f, key, value, time, index, node and error).
func TestWriteEDNRoundTrip(t *testing.T) {
	ops := sample()
	back, text := roundTrip(t, ops, EDNOptions{})
	sameOps(t, ops, back)
	if t.Failed() {
		t.Logf("EDN:\n%s", text)
	}
}

// TestWriteEDNJepsenShapes: what Jepsen's tools read is written as they
// expect it: keywords for types and functions, :nemesis for the nuker (a
// fault's invocation :invoke, lone node information :info), Elle's
// micro-ops, cas [old new].
func TestWriteEDNJepsenShapes(t *testing.T) {
	_, text := roundTrip(t, sample(), EDNOptions{})
	lines := strings.Split(strings.TrimSpace(text), "\n")
	want := map[int]string{
		0:  `[{:type :invoke, :f :read, :value nil, :key "3", :time 5, :process 0, :index 0, :node "n1"}`,
		1:  ` {:type :invoke, :f :cas, :value [0 4], :key "3", :time 7, :process 1, :index 1, :node "n2"}`,
		2:  ` {:type :invoke, :f :start-partition, :value nil, :time 9, :process :nemesis, :index 2}`,
		3:  ` {:type :info, :f :primaries, :value ["n2"], :time 9, :process :nemesis, :index 2}`,
		5:  ` {:type :info, :f :start-partition, :value "isolated n1 from n2, n3", :time 12, :process :nemesis, :index 4, :nodes ["n1"]}`,
		7:  ` {:type :invoke, :f :txn, :value [[:append 1 7] [:r 2 nil]], :time 14, :process 2, :index 6}`,
		8:  ` {:type :ok, :f :txn, :value [[:append 1 7] [:r 2 [1 2]]], :time 15, :process 2, :index 7}`,
		9:  ` {:type :invoke, :f :transfer, :value {:amount 5, :from "0", :to "1"}, :time 16, :process 3, :index 8}`,
		12: ` {:type :ok, :f :read, :value {"0" 10, "1" 90}, :time 19, :process 4, :index 11}`,
		19: ` {:type :invoke, :f "odd f/with space", :value [1.5 true "é☃" {"not a name" -1, :ok? nil}], :key "k with \"quotes\"", :time 26, :process 7, :index 18}]`,
	}
	for i, w := range want {
		if i >= len(lines) || lines[i] != w {
			got := "(none)"
			if i < len(lines) {
				got = lines[i]
			}
			t.Errorf("line %d:\n got %s\nwant %s", i, got, w)
		}
	}
}

// TestWriteEDNIndependent: with Independent, a keyed op's value is
// Jepsen's [k v] tuple, and the kv model's reading of it (key from the
// tuple) is what the plain history says.
func TestWriteEDNIndependent(t *testing.T) {
	ops := []Op{
		{Index: 0, Type: Invoke, Process: 0, F: "read", Key: "3"},
		{Index: 1, Type: OK, Process: 0, F: "read", Key: "3", Value: int64(2)},
		{Index: 2, Type: Invoke, Process: 1, F: "cas", Key: "x", Value: []int64{1, 2}},
		{Index: 3, Type: Invoke, Process: Nuker, F: "start-kill"},
	}
	back, text := roundTrip(t, ops, EDNOptions{Independent: true})
	for i, w := range []string{
		`[{:type :invoke, :f :read, :value [3 nil], :time 0, :process 0, :index 0}`,
		` {:type :ok, :f :read, :value [3 2], :time 0, :process 0, :index 1}`,
		` {:type :invoke, :f :cas, :value ["x" [1 2]], :time 0, :process 1, :index 2}`,
		` {:type :invoke, :f :start-kill, :value nil, :time 0, :process :nemesis, :index 3}]`,
	} {
		if got := strings.Split(strings.TrimSpace(text), "\n")[i]; got != w {
			t.Errorf("line %d:\n got %s\nwant %s", i, got, w)
		}
	}
	if back[0].Key != "" || !reflect.DeepEqual(back[1].Value, []any{int64(3), int64(2)}) {
		t.Errorf("read back %+v, %+v: want no key and the [k v] tuple", back[0], back[1])
	}
}

// TestWriteEDNNumbers: integers of any size, floats and the symbolic
// values come back as numbers ReadEDN understands.
func TestWriteEDNNumbers(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want string
		back any
	}{
		{int64(math.MinInt64), "-9223372036854775808", int64(math.MinInt64)},
		{json.Number("18446744073709551616"), "18446744073709551616N", "18446744073709551616"},
		// As history.jsonl holds it: JSON writes 2.0 as 2.
		{2.0, "2", int64(2)},
		{2.5, "2.5", 2.5},
		{json.Number("1e3"), "1000.0", 1000.0},
		{json.Number("-0.25"), "-0.25", -0.25},
	} {
		back, text := roundTrip(t, []Op{{Type: Invoke, F: "write", Value: tc.in}}, EDNOptions{})
		if !strings.Contains(text, ":value "+tc.want+",") {
			t.Errorf("%v written as %s, want :value %s", tc.in, text, tc.want)
		}
		if !reflect.DeepEqual(back[0].Value, tc.back) {
			t.Errorf("%v read back as %#v, want %#v", tc.in, back[0].Value, tc.back)
		}
	}
}

// TestWriteEDNRejects: an op of unknown type or a value JSON cannot carry
// is an error naming the op, not a history ReadEDN would refuse.
func TestWriteEDNRejects(t *testing.T) {
	for _, op := range []Op{
		{Index: 4, Type: "done", F: "read"},
		{Index: 4, Type: OK, F: "read", Value: math.Inf(1)},
		{Index: 4, Type: OK, F: "read", Value: make(chan int)},
		{Index: 4, Type: OK, F: "read", Process: -129},
	} {
		err := WriteEDN(&bytes.Buffer{}, []Op{op}, EDNOptions{})
		if err == nil || !strings.Contains(err.Error(), "op 4") {
			t.Errorf("%+v: error %v, want one naming op 4", op, err)
		}
	}
}

// TestIsKeyword: names become keywords only when ReadEDN reads the keyword
// back as the same name.
func TestIsKeyword(t *testing.T) {
	for s, want := range map[string]bool{
		"read": true, "start-partition": true, "ok?": true, "a.b": true, "-": true, "+": true, "x1": true,
		"": false, "1": false, "-1": false, "+2": false, ".5": false, "a b": false, "a/b": false, "a:b": false,
		"é": false, "a#": false, "a,b": false, `a"`: false,
	} {
		if got := isKeyword(s); got != want {
			t.Errorf("isKeyword(%q) = %v, want %v", s, got, want)
		}
		if !want || s == "" {
			continue
		}
		d := newEDNReader(strings.NewReader(":" + s))
		v, err := d.readForm()
		if err != nil || v != ednKeyword(s) {
			t.Errorf(":%s reads as %#v, %v", s, v, err)
		}
	}
}

// FuzzWriteEDNRoundTrip: for any op WriteEDN accepts, ReadEDN gives the op
// back (strings as valid UTF-8, which is all a JSON history can hold).
func FuzzWriteEDNRoundTrip(f *testing.F) {
	f.Add(int64(0), int64(5), uint8(0), int64(0), "read", "3", "n1", "", `null`)
	f.Add(int64(1), int64(7), uint8(1), int64(-1), "start-partition", "", "", "boom", `"grudge"`)
	f.Add(int64(2), int64(9), uint8(2), int64(4), "txn", "", "n2", "", `[["append",1,2],["r",2,[1,2]]]`)
	f.Add(int64(3), int64(9), uint8(3), int64(4), "odd f", "k\"1", "n\\2", "err\n", `{"a":1,"b c":[1.5,true,null,"x"],"0":{}}`)
	f.Fuzz(func(t *testing.T, index, tm int64, typ uint8, proc int64, fn, key, node, errText, valueJSON string) {
		types := []Type{Invoke, OK, Fail, Info}
		op := Op{Index: index, Time: tm, Type: types[int(typ)%len(types)], Process: Process(proc), F: fn, Key: key, Node: node, Error: errText}
		if op.Process == Nuker {
			// ReadEDN types the nuker's ops by pairing; one alone is an invoke.
			op.Type = Invoke
		}
		if int64(op.Process) != proc || op.F == "" || (op.Process < 0 && op.Process != Nuker) {
			return
		}
		for _, s := range []string{fn, key, node, errText} {
			if !utf8.ValidString(s) {
				return
			}
		}
		d := json.NewDecoder(strings.NewReader(valueJSON))
		d.UseNumber()
		if err := d.Decode(&op.Value); err != nil || d.More() || hasHugeOrOddNumber(op.Value) {
			return
		}
		back, _ := roundTrip(t, []Op{op}, EDNOptions{})
		sameOps(t, []Op{op}, back)
	})
}

// hasHugeOrOddNumber reports numbers whose type EDN does not keep: integers
// beyond 64 bits (read back as decimal strings) and floats that print as
// integers in JSON (1e3 comes back as 1000.0).
func hasHugeOrOddNumber(v any) bool {
	switch x := v.(type) {
	case json.Number:
		if _, err := x.Int64(); err == nil {
			return false
		}
		f, err := x.Float64()
		return err != nil || f == math.Trunc(f)
	case []any:
		for _, it := range x {
			if hasHugeOrOddNumber(it) {
				return true
			}
		}
	case map[string]any:
		for _, it := range x {
			if hasHugeOrOddNumber(it) {
				return true
			}
		}
	}
	return false
}
