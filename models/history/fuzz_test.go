package history

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Fuzz targets for every history parser: on any input they return ops or
// an error, never panic, and an error names the line it is about, unless
// it concerns the input as a whole (empty, or no recognisable history).
// With their seed corpora they also run as ordinary tests.

var lineRef = regexp.MustCompile(`\bline \d+`)

// wholeInput are the errors that concern no single line.
var wholeInput = []string{
	"empty input",
	"empty history: no header line",
	"not a history:",
}

func checkError(t *testing.T, in []byte, err error) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	if lineRef.MatchString(msg) {
		return
	}
	for _, w := range wholeInput {
		if strings.Contains(msg, w) {
			return
		}
	}
	t.Errorf("error names no line: %q\ninput: %q", msg, clipBytes(in))
}

func checkOps(t *testing.T, ops []Op) {
	t.Helper()
	for i, op := range ops {
		if !op.Type.Valid() {
			t.Errorf("op %d has type %q", i, op.Type)
		}
	}
}

func clipBytes(b []byte) []byte {
	if len(b) > 300 {
		return b[:300]
	}
	return b
}

func seedFile(f *testing.F, name string) {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
}

var ednSeeds = []string{
	``,
	`[]`,
	`()`,
	`{:process 0, :type :invoke, :f :write, :value 3}`,
	`[{:process 0, :type :invoke, :f :txn, :value [[:append :x 1] [:r :y nil]]}
 {:process 0, :type :ok, :f :txn, :value [[:append :x 1] [:r :y [1 2]]]}]`,
	`[{:process :nemesis, :type :info, :f :start, :value nil} {:process :nemesis :type :info :f :start :value [:isolated {"n1" #{"n2"}}]}]`,
	`[#jepsen.history.Op{:index 0, :time 12, :type :invoke, :process 1, :f :cas, :value [1 2]}]`,
	`[{:process 0 :type :fail :f :read :error #object[java.lang.Exception 0x1 "boom"] :value ##NaN}]`,
	`[{:process 0 :type :ok :f :read :value \a :x 1.5M :y 3/4 :z 12345678901234567890N}]`,
	`[{:process 0, :type :invoke`,
	`[{:process 0 :type :invoke :f :read} #_ {:a} ; comment` + "\n" + `]`,
	`{:process 0 :type :bogus :f :read}`,
	`[{:process "x" :type :ok :f :read}]`,
	`[{:process 0 :type :ok :f :read :time 1.5}]`,
	`[1 2 3]`,
	`[{:a 1 :b}]`,
	`["unterminated`,
	`[#<Object foo> #"re" \newline \u00e9 #{1 2}]`,
	`[{:process 0 :type :ok :f :read :value #tag}]`,
	`]`,
	`[{:process 0 :type :ok :f :r}] extra`,
}

func FuzzReadEDN(f *testing.F) {
	for _, s := range ednSeeds {
		f.Add([]byte(s))
	}
	seedFile(f, "list-multiline.edn")
	f.Fuzz(func(t *testing.T, in []byte) {
		ops, err := ReadEDN(bytes.NewReader(in))
		checkError(t, in, err)
		checkOps(t, ops)
	})
}

var logSeeds = []string{
	``,
	"INFO  jepsen.util - 3\t:invoke\t:cas\t[1 4]\n",
	"2017-03-20 11:04:11,600{GMT}\tINFO\t[jepsen worker 3] jepsen.util: 3\t:ok\t:cas\t[1 4]\n",
	"INFO  jepsen.util - 0   :fail   :read   nil\t:timeout\n",
	"INFO  jepsen.util - :nemesis\t:info\t:start\t{\"n1\" #{\"n2\"}}\n",
	"0\t:invoke\t:txn\t[[:append 1 2] [:r 1 nil]]\n0\t:ok\t:txn\t[[:append 1 2] [:r 1 [2]]]\n",
	"INFO  jepsen.util - 99999999999999999999999 :invoke :read nil\n",
	"INFO  jepsen.util - 1 :ok :read [1 2\n",
	"random text\n\n\r\n",
}

// FuzzReadJepsenLog also checks the torn-line rule: only a last line
// without its newline is torn, and given its newline it reads as an op.
func FuzzReadJepsenLog(f *testing.F) {
	for _, s := range logSeeds {
		f.Add([]byte(s))
	}
	seedFile(f, "jepsen.log")
	f.Fuzz(func(t *testing.T, in []byte) {
		ops, info, err := ReadJepsenLogInfo(bytes.NewReader(in))
		checkError(t, in, err)
		checkOps(t, ops)
		if err != nil || info.Torn == nil {
			return
		}
		checkTorn(t, in, info.Torn)
		whole, _, err := ReadJepsenLogInfo(bytes.NewReader(append(bytes.Clone(in), '\n')))
		if err == nil && len(whole) != len(ops)+1 {
			t.Errorf("torn line given its newline: %d ops, want %d", len(whole), len(ops)+1)
		}
	})
}

// checkTorn: a torn line is the input's last, without a newline.
func checkTorn(t *testing.T, in []byte, torn *TornLine) {
	t.Helper()
	if len(in) == 0 || in[len(in)-1] == '\n' {
		t.Errorf("torn line %+v in input ending with a newline", torn)
	}
	if got := bytes.Count(in, []byte("\n")) + 1; torn.Line != got || torn.Bytes > len(in) {
		t.Errorf("torn line %+v, but the input's last line is line %d", torn, got)
	}
}

const (
	jsonHeader  = `{"format":"faultline-history","version":1}` + "\n"
	jsonHeader2 = `{"format":"faultline-history","version":2}` + "\n"
)

var jsonlSeeds = []string{
	``,
	jsonHeader,
	jsonHeader + `{"index":0,"time":5,"type":"invoke","process":0,"f":"write","value":3}` + "\n",
	jsonHeader + `{"index":0,"time":5,"type":"ok","process":"nuker","f":"start-partition","nodes":["n1"]}` + "\n",
	jsonHeader + `{"index":0,"type":"ok","process":1,"f":"txn","value":[["append","x",1],["r","x",[1]]]}` + "\n",
	jsonHeader + `{"index":0,"type":"ok","process":1,"f":"read","value":1}` + "\n" + `{"index":1,"ty`,
	jsonHeader + `{"index":0,"type":"bad","process":1}` + "\n",
	jsonHeader + `{"index":0,"type":"ok","process":"x"}` + "\n" + `{}` + "\n",
	jsonHeader + `[1,2]` + "\n" + `{"index":1,"type":"ok","process":1}` + "\n",
	`{"format":"faultline-history","version":3}` + "\n",
	jsonHeader2 + `{"index":0,"type":"invoke","process":0,"f":"read","value":null}` + "\n" + `{"end":{"ops":1,"interrupted":false}}` + "\n",
	jsonHeader2 + `{"index":0,"type":"invoke","process":0,"f":"read","value":null}` + "\n" + `{"end":{"ops":1,"inter`,
	jsonHeader2 + `{"end":{"ops":0}}` + "\n" + `{"index":0,"type":"invoke","process":0,"f":"read"}` + "\n",
	jsonHeader2 + `{"index":0,"type":"ok","process":[1],"f":"read","key":1}` + "\n",
	jsonHeader2 + `{"index":0,"type":"ok","process":-1,"f":"read"}`,
	jsonHeader2 + `{"index":0,"type":"ok","proces":1,"f":"read"}` + "\n",
	`{"format":"other"}` + "\n",
	`not json`,
}

// FuzzRead also checks the rules of ReadWithInfo: only a last line
// without its newline may be torn, and given its newline it is an error
// (it was dropped because it does not parse, never because it did not
// fit); an end record counts the ops before it.
func FuzzRead(f *testing.F) {
	for _, s := range jsonlSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		ops, info, err := ReadWithInfo(bytes.NewReader(in))
		checkError(t, in, err)
		checkOps(t, ops)
		if err != nil {
			return
		}
		if e := info.End; e != nil && e.Ops != int64(len(ops)) {
			t.Errorf("end record counts %d ops, %d read", e.Ops, len(ops))
		}
		if info.Torn == nil {
			return
		}
		checkTorn(t, in, info.Torn)
		if info.End != nil {
			t.Errorf("torn line after the end record")
		}
		if _, _, err := ReadWithInfo(bytes.NewReader(append(bytes.Clone(in), '\n'))); err == nil {
			t.Errorf("torn line given its newline: no error")
		}
	})
}

func FuzzReadAny(f *testing.F) {
	for _, seeds := range [][]string{ednSeeds, logSeeds, jsonlSeeds} {
		for _, s := range seeds {
			f.Add([]byte(s))
		}
	}
	seedFile(f, "list-multiline.edn")
	seedFile(f, "jepsen.log")
	f.Add([]byte("\xef\xbb\xbf; comment\n[{:process 0 :type :ok :f :read}]"))
	f.Add([]byte(`{"a":1}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		path := filepath.Join(t.TempDir(), "history")
		if err := os.WriteFile(path, in, 0o600); err != nil {
			t.Fatal(err)
		}
		ops, format, info, err := ReadAnyInfo(path)
		checkError(t, in, err)
		checkOps(t, ops)
		if err == nil && format == "" {
			t.Errorf("no format and no error")
		}
		if err == nil && info.Torn != nil {
			checkTorn(t, in, info.Torn)
		}
	})
}

// TestEDNDeepNesting: nesting beyond any history's is an error naming the
// line, not a stack overflow (which would kill the process).
func TestEDNDeepNesting(t *testing.T) {
	for _, in := range []string{
		strings.Repeat("[", 10_000_000),
		"\n" + strings.Repeat("#_", 100_000) + "1",
		strings.Repeat("#t ", 100_000) + "1",
		"[" + strings.Repeat("{:a ", 5000),
	} {
		_, err := ReadEDN(strings.NewReader(in))
		if err == nil || !strings.Contains(err.Error(), "nested more than") {
			t.Errorf("%q...: error %v", in[:10], err)
		}
		checkError(t, []byte(in), err)
	}
	if _, err := ReadEDN(strings.NewReader(strings.Repeat("[", 900) + strings.Repeat("]", 900))); err == nil || strings.Contains(err.Error(), "nested") {
		t.Errorf("900 levels: %v", err)
	}
}

// TestLongLine: a line past the scanner's limit is an error naming it.
func TestLongLine(t *testing.T) {
	in := "INFO  jepsen.util - 0 :invoke :read nil\n" + strings.Repeat("x", 17<<20) + "\n"
	_, err := ReadJepsenLog(strings.NewReader(in))
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("error %v, want one naming line 2", err)
	}
}
