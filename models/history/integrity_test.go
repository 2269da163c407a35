package history_test

import (
	"context"
	"strings"
	"testing"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/models/linear"
)

// A stale read on key 1: process 0 writes 1 then 2, process 1 then reads 1.
// The last line is the stale read's completion.
const staleHead = `{"format":"faultline-history","version":1}
{"index":0,"time":1,"type":"invoke","process":0,"f":"write","key":"1","value":1}
{"index":1,"time":2,"type":"ok","process":0,"f":"write","key":"1","value":1}
{"index":2,"time":3,"type":"invoke","process":0,"f":"write","key":"1","value":2}
{"index":3,"time":4,"type":"ok","process":0,"f":"write","key":"1","value":2}
{"index":4,"time":5,"type":"invoke","process":1,"f":"read","key":"1","value":null}
`

const staleRead = `{"index":5,"time":6,"type":"ok","process":1,"f":"read","key":"1","value":1}`

// TestCompleteLineMalformed (12.3): only a final line without its newline
// may be torn. A complete line that does not parse, or parses with a wrong
// type, is an error naming its line, never dropped: dropping the stale
// read's completion turned this INVALID history VALID.
func TestCompleteLineMalformed(t *testing.T) {
	ops, err := history.Read(strings.NewReader(staleHead + staleRead + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if res := linear.NewRegister().Check(context.Background(), ops, models.Options{}); res.Verdict != models.Invalid {
		t.Fatalf("the well-formed history: %s, want invalid", res.Verdict)
	}
	for _, c := range []struct{ name, last string }{
		{"process is a list", strings.Replace(staleRead, `"process":1`, `"process":[1]`, 1)},
		{"key is a number", strings.Replace(staleRead, `"key":"1"`, `"key":1`, 1)},
		{"type is a number", strings.Replace(staleRead, `"type":"ok"`, `"type":3`, 1)},
		{"not JSON", `{"index":5,"time":6,"type":"ok",`},
		{"negative process", strings.Replace(staleRead, `"process":1`, `"process":-1`, 1)},
		{"misspelt field", strings.Replace(staleRead, `"process":1`, `"proces":1`, 1)},
		{"no process", strings.Replace(staleRead, `"process":1,`, ``, 1)},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, tail := range []string{"\n", "\n\n", "\n" + `{"index":6,"time":7,"type":"invoke","process":2,"f":"read","key":"1","value":null}` + "\n"} {
				ops, err := history.Read(strings.NewReader(staleHead + c.last + tail))
				if err == nil {
					res := linear.NewRegister().Check(context.Background(), ops, models.Options{})
					t.Fatalf("tail %q: no error; %d ops read, verdict %s", tail, len(ops), res.Verdict)
				}
				if !strings.Contains(err.Error(), "line 7") {
					t.Errorf("tail %q: error %q does not name line 7", tail, err)
				}
			}
		})
	}
}

// TestTornJepsenLog (12.4): a jepsen.util log cut in its last line
// (":ok :read 12" cut to ":ok :read 1") must not read as a stale read: a
// final line without its newline is dropped.
func TestTornJepsenLog(t *testing.T) {
	const log = `INFO  jepsen.util - 0	:invoke	:write	12
INFO  jepsen.util - 0	:ok	:write	12
INFO  jepsen.util - 1	:invoke	:read	nil
INFO  jepsen.util - 1	:ok	:read	12`
	ops, err := history.ReadJepsenLog(strings.NewReader(log + "\n"))
	if err != nil || len(ops) != 4 {
		t.Fatalf("whole log: %d ops, %v", len(ops), err)
	}
	cut := strings.TrimSuffix(log, "2")
	ops, err = history.ReadJepsenLog(strings.NewReader(cut))
	if err != nil {
		t.Fatal(err)
	}
	if res := linear.NewRegister().Check(context.Background(), ops, models.Options{}); res.Verdict != models.Valid || len(ops) != 3 {
		t.Errorf("log cut in its last line: %d ops, verdict %s %v; want the last line dropped and valid", len(ops), res.Verdict, res.Anomalies)
	}
}
