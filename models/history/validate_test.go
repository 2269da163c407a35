package history

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

func ops(list ...Op) []Op {
	for i := range list {
		list[i].Index = int64(i)
	}
	return list
}

// TestValidate (12.5): each kind of op that breaks the pairing assumptions
// is counted under what it means for the verdict, and only ignored ops are
// left out of what the checkers see.
func TestValidate(t *testing.T) {
	inv := func(p Process, f string) Op { return Op{Type: Invoke, Process: p, F: f} }
	ok := func(p Process, f string) Op { return Op{Type: OK, Process: p, F: f} }
	for _, c := range []struct {
		name                                string
		ops                                 []Op
		ignored, indeterminate, unjudgeable map[string]int
		kept                                int
	}{
		{name: "clean", ops: ops(inv(0, "read"), inv(1, "write"), ok(1, "write"), ok(0, "read"),
			Op{Type: Info, Process: Nuker, F: "start-kill"}, Op{Type: Info, Process: Nuker, F: PrimariesF}), kept: 6},
		{name: "completion without invocation", ops: ops(ok(0, "read"), inv(0, "read"), ok(0, "read"), Op{Type: Info, Process: 3, F: "write"}),
			ignored: map[string]int{CompletionWithoutInvocation: 2}, kept: 2},
		{name: "invoke while pending", ops: ops(inv(0, "write"), inv(0, "read"), ok(0, "read")),
			indeterminate: map[string]int{InvokeWhilePending: 1}, kept: 3},
		{name: "f differs", ops: ops(inv(0, "write"), ok(0, "read")),
			unjudgeable: map[string]int{FDiffers: 1}, kept: 2},
		{name: "negative process", ops: ops(inv(-2, "read"), ok(-2, "read")),
			unjudgeable: map[string]int{NegativeProcess: 2}, kept: 2},
		{name: "unknown type", ops: ops(inv(0, "read"), Op{Type: "done", Process: 0, F: "read"}, ok(0, "read")),
			unjudgeable: map[string]int{UnknownType: 1}, kept: 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			clean, r := Validate(c.ops)
			for _, m := range []struct {
				got, want map[string]int
				what      string
			}{{r.Ignored, c.ignored, "ignored"}, {r.Indeterminate, c.indeterminate, "indeterminate"}, {r.Unjudgeable, c.unjudgeable, "unjudgeable"}} {
				if len(m.got) != 0 || len(m.want) != 0 {
					if !reflect.DeepEqual(m.got, m.want) {
						t.Errorf("%s %v, want %v", m.what, m.got, m.want)
					}
				}
			}
			if len(clean) != c.kept {
				t.Errorf("%d ops kept, want %d", len(clean), c.kept)
			}
			if r.Judgeable() != (len(c.unjudgeable) == 0) || (r.Reason() == "") != r.Judgeable() {
				t.Errorf("judgeable %v, reason %q", r.Judgeable(), r.Reason())
			}
			if len(c.ignored)+len(c.indeterminate) != len(r.Notes()) {
				t.Errorf("notes %q", r.Notes())
			}
		})
	}
}

// TestPairFDiffers: Pair does not pair a completion with an invocation of
// another f; it counts it, and the invocation stays pending.
func TestPairFDiffers(t *testing.T) {
	calls, at, unmatched := Pair(ops(
		Op{Type: Invoke, Process: 0, F: "write"},
		Op{Type: OK, Process: 0, F: "read"},
		Op{Type: OK, Process: 0, F: "write"},
	))
	if unmatched != 1 || len(calls) != 1 || calls[0].Done != 2 || at[1] != -1 {
		t.Errorf("calls %+v at %v unmatched %d; want the write paired with op 2 and op 1 unmatched", calls, at, unmatched)
	}
}

// TestEndRecord: the writer's end record is read back, nothing may follow
// it, and a count that disagrees with the file is an error.
func TestEndRecord(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []Op{{Type: Invoke, Process: 0, F: "read"}, {Type: OK, Process: 0, F: "read", Value: 3}} {
		if _, err := w.Append(op); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.End(EndRecord{Interrupted: true, HarnessError: "boom"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Append(Op{Type: Invoke, Process: 0, F: "read"}); err == nil {
		t.Error("append after the end record: no error")
	}
	if !strings.HasSuffix(buf.String(), `{"end":{"ops":2,"interrupted":true,"harness_error":"boom"}}`+"\n") {
		t.Errorf("file ends %q", buf.String()[max(0, buf.Len()-80):])
	}
	ops, info, err := ReadWithInfo(bytes.NewReader(buf.Bytes()))
	if err != nil || len(ops) != 2 || !info.Complete() || *info.End != (EndRecord{Ops: 2, Interrupted: true, HarnessError: "boom"}) || info.Torn != nil || info.Version != Version {
		t.Fatalf("read back: %d ops, info %+v, %v", len(ops), info, err)
	}
	hdr := `{"format":"faultline-history","version":2}` + "\n"
	op := `{"index":0,"time":1,"type":"invoke","process":0,"f":"read","value":null}` + "\n"
	for _, c := range []struct{ name, in, err string }{
		{"line after end", hdr + op + `{"end":{"ops":1}}` + "\n" + op, "line 4: a line after the end record"},
		{"count differs", hdr + op + `{"end":{"ops":2}}` + "\n", "line 3: the end record counts 2 ops, the file holds 1"},
		{"end in version 1", strings.Replace(hdr, "2", "1", 1) + op + `{"end":{"ops":1}}` + "\n", "line 3: an end record in a version 1 history"},
		{"end mixed with op", hdr + `{"end":{"ops":0},"type":"ok","process":0,"f":"read"}` + "\n", "line 2: the end record mixed"},
		{"unknown end field", hdr + `{"end":{"ops":0,"x":1}}` + "\n", "line 2:"},
		{"torn header", `{"format":"faultline-hi`, "line 1: torn header"},
		{"torn line after end", hdr + op + `{"end":{"ops":1}}` + "\n" + op[:20], "line 4: a line after the end record"},
	} {
		if _, _, err := ReadWithInfo(strings.NewReader(c.in)); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.err)
		}
	}
	// Without its end record (the controller was killed), with a torn
	// last line: the ops before it, the line reported, incomplete.
	ops, info, err = ReadWithInfo(strings.NewReader(hdr + op + op[:20]))
	if err != nil || len(ops) != 1 || info.Complete() || info.Torn == nil || *info.Torn != (TornLine{Line: 3, Bytes: 20}) {
		t.Errorf("torn: %d ops, info %+v, %v", len(ops), info, err)
	}
	// A last line without its newline that is whole is read.
	ops, info, err = ReadWithInfo(strings.NewReader(hdr + op + strings.TrimSuffix(op, "\n")))
	if err != nil || len(ops) != 2 || info.Torn != nil {
		t.Errorf("whole last line without newline: %d ops, info %+v, %v", len(ops), info, err)
	}
}

// TestTornEDN (12.4): an EDN history cut short is an error, never a
// shorter history judged in silence.
func TestTornEDN(t *testing.T) {
	const full = `[{:process 0 :type :invoke :f :write :value 12}
 {:process 0 :type :ok :f :write :value 12}
 {:process 1 :type :invoke :f :read :value nil}
 {:process 1 :type :ok :f :read :value 12}]
`
	if _, err := ReadEDN(strings.NewReader(full)); err != nil {
		t.Fatal(err)
	}
	for _, cut := range []int{len(full) - 2, len(full) - 3, len(full) - 4, len(full) - 5, 60} {
		if _, err := ReadEDN(strings.NewReader(full[:cut])); err == nil {
			t.Errorf("cut to %q: no error", full[max(0, cut-20):cut])
		}
	}
}

// TestNegativeProcessEDN: a negative :process is no fault injector.
func TestNegativeProcessEDN(t *testing.T) {
	if _, err := ReadEDN(strings.NewReader(`[{:process -1 :type :info :f :start}]`)); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("error %v", err)
	}
}
