package history

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestEDNValues(t *testing.T) {
	tests := []struct {
		in   string
		want any // after plainValue
	}{
		{`nil`, nil},
		{`true`, true},
		{`-42`, int64(-42)},
		{`+7`, int64(7)},
		{`42N`, int64(42)},
		{`123456789012345678901234567890`, "123456789012345678901234567890"},
		{`1.5`, 1.5},
		{`2e3`, 2000.0},
		{`1.25M`, 1.25},
		{`1/4`, 0.25},
		{`##Inf`, math.Inf(1)},
		{`"a\"b\\c\n\u00e9"`, "a\"b\\c\né"},
		{`\a`, "a"},
		{`\newline`, "\n"},
		{`:timed-out`, "timed-out"},
		{`:jepsen.foo/bar`, "jepsen.foo/bar"},
		{`sym`, "sym"},
		{`[1 2 3]`, []any{int64(1), int64(2), int64(3)}},
		{`(1, 2)`, []any{int64(1), int64(2)}},
		{`#{3 1 2}`, []any{int64(1), int64(2), int64(3)}},
		{`[1 #_ 2 3]`, []any{int64(1), int64(3)}},
		{`[1 #_ #_ 2 3 4]`, []any{int64(1), int64(4)}},
		{`[1 ; comment ]` + "\n" + `2]`, []any{int64(1), int64(2)}},
		{`{:a 1, "b" [nil]}`, map[string]any{"a": int64(1), "b": []any{nil}}},
		{`#inst "2020-01-01"`, "2020-01-01"},
		{`#object[java.lang.Exception 0x1 "boom"]`, []any{"java.lang.Exception", int64(1), "boom"}},
		{`#<Exception boom>`, "#<Exception boom>"},
		{`[7 [1 2]]`, []any{int64(7), []any{int64(1), int64(2)}}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			d := newEDNReader(strings.NewReader(tt.in))
			v, err := d.readForm()
			if err != nil {
				t.Fatalf("read %q: %v", tt.in, err)
			}
			if got := plainValue(v); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("read %q = %#v, want %#v", tt.in, got, tt.want)
			}
		})
	}
}

func TestEDNText(t *testing.T) {
	in := `{:a [1 "x" :k], :b #{nil}, :c (1.5 \z), :d #tag{:e 1}}`
	v, err := newEDNReader(strings.NewReader(in)).readForm()
	if err != nil {
		t.Fatal(err)
	}
	want := `{:a [1 "x" :k], :b #{nil}, :c (1.5 \z), :d #tag{:e 1}}`
	if got := ednText(v); got != want {
		t.Errorf("ednText = %s, want %s", got, want)
	}
}

func TestReadEDN(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Op
	}{
		{
			name: "vector",
			in:   `[{:process 0, :type :invoke, :f :write, :value 3} {:process 0, :type :ok, :f :write, :value 3}]`,
			want: []Op{
				{Index: 0, Process: 0, Type: Invoke, F: "write", Value: int64(3)},
				{Index: 1, Process: 0, Type: OK, F: "write", Value: int64(3)},
			},
		},
		{
			name: "ops one per line without a collection",
			in:   "{:index 10, :time 5, :process 1, :type :invoke, :f :read, :value nil}\n{:index 11, :time 9, :process 1, :type :fail, :f :read, :value nil, :error :timeout}\n",
			want: []Op{
				{Index: 10, Time: 5, Process: 1, Type: Invoke, F: "read"},
				{Index: 11, Time: 9, Process: 1, Type: Fail, F: "read", Error: ":timeout"},
			},
		},
		{
			name: "cas and independent tuple values kept as lists",
			in:   `[{:process 2, :type :invoke, :f :cas, :value [1 2]} {:process 3, :type :invoke, :f :read, :value [7 nil]}]`,
			want: []Op{
				{Index: 0, Process: 2, Type: Invoke, F: "cas", Value: []any{int64(1), int64(2)}},
				{Index: 1, Process: 3, Type: Invoke, F: "read", Value: []any{int64(7), nil}},
			},
		},
		{
			name: "empty history",
			in:   `[]`,
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadEDN(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestReadEDNErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"unterminated string", `[{:process 0, :type :invoke, :f :write, :value "x}]`, "line 1: unterminated string"},
		{"odd map", "[\n{:process 0 :type}]", "line 2: map has an odd number"},
		{"mismatched close", `[{:process 0, :type :ok, :f :read)]`, `expected '}'`},
		{"unclosed history", `[{:process 0, :type :ok, :f :read}`, "input ends inside the history"},
		{"trailing input", `[] {:a 1}`, "unexpected input after"},
		{"no process", `[{:type :ok, :f :read}]`, "op 0: no :process"},
		{"bad process", `[{:process :x, :type :ok, :f :read}]`, ":process :x is neither"},
		{"bad type", `[{:process 1, :type :done, :f :read}]`, ":type :done is not"},
		{"not a map", `[{:process 1, :type :ok, :f :read} 7]`, "op 1: expected an op map, found 7"},
		{"empty", "  ; nothing\n", "empty input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadEDN(strings.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestReadEDNFile(t *testing.T) {
	ops, format, err := ReadAny(filepath.Join("testdata", "list-multiline.edn"))
	if err != nil {
		t.Fatal(err)
	}
	if format != FormatJepsenEDN {
		t.Errorf("format %q, want %q", format, FormatJepsenEDN)
	}
	want := []Op{
		{Index: 0, Time: 100, Type: Invoke, Process: 0, F: "write", Value: int64(1)},
		{Index: 1, Time: 250, Type: OK, Process: 0, F: "write", Value: int64(1)},
		{Index: 2, Time: 300, Type: Invoke, Process: 1, F: "cas", Value: []any{int64(1), int64(2)}},
		{Index: 3, Time: 320, Type: Invoke, Process: Nuker, F: "start"},
		{Index: 4, Time: 330, Type: Info, Process: Nuker, F: "start", Value: "Cut off {:n1 #{:n2 :n3}}"},
		{Index: 5, Time: 400, Type: Info, Process: 1, F: "cas", Value: []any{int64(1), int64(2)}, Error: `[:timeout "no \"reply\"\n"]`},
		{Index: 6, Time: 500, Type: Invoke, Process: 2, F: "read", Node: "n2"},
		{Index: 7, Time: 600, Type: OK, Process: 2, F: "read", Value: int64(2), Node: "n2"},
		{Index: 8, Time: 700, Type: Invoke, Process: Nuker, F: "stop"},
		{Index: 9, Time: 710, Type: Info, Process: Nuker, F: "stop", Value: "fully connected"},
	}
	if !reflect.DeepEqual(ops, want) {
		t.Errorf("ops:\n%#v\nwant\n%#v", ops, want)
	}
	ws := FaultWindows(ops)
	wantW := []Window{{Kind: JepsenNemesis, Start: 320, End: 710, Value: "Cut off {:n1 #{:n2 :n3}}", Effective: 330, Healing: 700, StartOp: 3, EndOp: 9}}
	if !reflect.DeepEqual(ws, wantW) {
		t.Errorf("windows %#v, want %#v", ws, wantW)
	}
}

func TestReadJepsenLog(t *testing.T) {
	ops, format, err := ReadAny(filepath.Join("testdata", "jepsen.log"))
	if err != nil {
		t.Fatal(err)
	}
	if format != FormatJepsenLog {
		t.Errorf("format %q, want %q", format, FormatJepsenLog)
	}
	want := []Op{
		{Index: 0, Type: Invoke, Process: 3, F: "cas", Value: []any{int64(1), int64(4)}},
		{Index: 1, Type: OK, Process: 3, F: "cas", Value: []any{int64(1), int64(4)}},
		{Index: 2, Type: Invoke, Process: 0, F: "read"},
		{Index: 3, Type: OK, Process: 0, F: "read", Value: int64(4)},
		{Index: 4, Type: Invoke, Process: 1, F: "write", Value: int64(2)},
		{Index: 5, Type: Info, Process: 1, F: "write", Value: "timed-out", Error: "indeterminate: socket timeout"},
		{Index: 6, Type: Invoke, Process: Nuker, F: "start"},
		{Index: 7, Type: Info, Process: Nuker, F: "start", Value: "partitioned"},
		{Index: 8, Type: Invoke, Process: 7, F: "write", Value: "{:a [1 2] oops"},
	}
	if !reflect.DeepEqual(ops, want) {
		t.Errorf("ops:\n%#v\nwant\n%#v", ops, want)
	}
}

func TestReadJepsenLogTime(t *testing.T) {
	in := "2017-03-20 11:04:11,600{GMT}\tINFO\t[w] jepsen.util: 3\t:invoke\t:read\tnil\n" +
		"2017-03-20 11:04:12,850{GMT}\tINFO\t[w] jepsen.util: 3\t:ok\t:read\t1\n"
	ops, err := ReadJepsenLog(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 2 || ops[0].Time != 0 || ops[1].Time != 1_250_000_000 {
		t.Fatalf("ops %+v: want times 0 and 1.25s", ops)
	}
}

func TestReadAny(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var sb strings.Builder
	w, err := NewWriter(&sb)
	if err != nil {
		t.Fatal(err)
	}
	w.Append(Op{Type: Invoke, Process: 0, F: "read"})
	w.Append(Op{Type: OK, Process: 0, F: "read", Value: 1})

	tests := []struct {
		name, content, format string
		ops                   int
		err                   string
	}{
		{name: "faultline", content: sb.String(), format: FormatFaultline, ops: 2},
		{name: "edn vector", content: "\n[{:process 0, :type :invoke, :f :read}]", format: FormatJepsenEDN, ops: 1},
		{name: "edn after comment", content: "; c\n; d\n({:process 0, :type :invoke, :f :read})", format: FormatJepsenEDN, ops: 1},
		{name: "edn tagged records", content: "#jepsen.history.Op{:process 0, :type :invoke, :f :read}\n", format: FormatJepsenEDN, ops: 1},
		{name: "history.txt", content: "0\t:invoke\t:read\tnil\n0\t:ok\t:read\t2\n", format: FormatJepsenLog, ops: 2},
		{name: "garbage", content: "hello\nworld\n", err: "not a history"},
		{name: "empty", content: "", err: "not a history"},
		{name: "json without header", content: `{"index":0,"type":"invoke"}` + "\n", err: "JSON without the faultline history header"},
		{name: "broken edn", content: `[{:process 0`, err: "jepsen EDN history: edn line 1"},
		{name: "future faultline", content: `{"format":"faultline-history","version":9}` + "\n", err: "version 9 is not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := write(strings.ReplaceAll(tt.name, " ", "-"), tt.content)
			ops, format, err := ReadAny(path)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				if !strings.HasPrefix(err.Error(), path) || strings.Contains(err.Error(), "\n") {
					t.Errorf("error %q should be one line starting with the path", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if format != tt.format || len(ops) != tt.ops {
				t.Errorf("format %q with %d ops, want %q with %d", format, len(ops), tt.format, tt.ops)
			}
		})
	}
	if _, _, err := ReadAny(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file: no error")
	}
}
