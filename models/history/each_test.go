package history

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// eachSeeds are lines ReadEach's scanner must decode as encoding/json does,
// or leave to it.
var eachSeeds = []string{
	`{"index":0,"time":5,"type":"invoke","process":3,"f":"txn","value":[["append",1,2],["r",1,null]]}`,
	`{"index":1,"time":-7,"type":"ok","process":"nuker","f":"partition","value":{"a":[1.5e3,"x\"y",true,false,null]},"nodes":["n1","n2"],"failed":[]}`,
	`{"index":2,"type":"fail","process":0,"f":"w","value":1,"error":"boom","answered":true,"node":"n1","key":"k"}`,
	`{"index":3,"type":"info","process":"nemesis","f":"kill","nodes":null}`,
	`{ "index" : 4 , "type" : "ok" , "process" : 1 , "f" : "r" , "value" : null }`,
	`{"index":5,"type":"ok","process":1,"f":"r","index":6}`,
	`{"index":5,"type":"ok","process":-1,"f":"r"}`,
	`{"index":5,"type":"ok","process":"2","f":"r"}`,
	`{"index":05,"type":"ok","process":1,"f":"r"}`,
	`{"index":5.0,"type":"ok","process":1,"f":"r"}`,
	`{"Index":5,"type":"ok","process":1,"f":"r"}`,
	`{"index":5,"type":"ok","process":1,"f":"r","value":[1,,2]}`,
	`{"index":5,"type":"ok","process":1,"f":"r\u00e9"}`,
	`{"index":5,"type":"odd","process":1,"f":"r"}`,
	`{"index":5,"type":"ok","process":1,"f":"r","value":"\x"}`,
	`{"index":5,"type":"ok","process":1,"f":"r","other":1}`,
	`{"index":5,"type":"ok","process":1,"f":"r"} x`,
	`{"end":{"ops":0,"interrupted":false}}`,
	`{}`,
	`{"index":6,"type":"ok","process":1,"f":"r","value":[1,"a",null,true,false,-0,1e5,2.50,[2],"1"]}`,
	`{"index":6,"type":"ok","process":1,"f":"r","value":"1"}`,
	`{"index":6,"type":"ok","process":1,"f":"r","value": [ ] }`,
	`{"index":6,"type":"ok","process":1,"f":"r","value":123456789012345678901234567890}`,
	`{"index":6,"type":"ok","process":1,"f":"r","value":["\u00e9","é",{"a":[1]}]}`,
	`{"index":6,"type":"ok","process":1,"f":"r","value":[[[1]]]}`,
}

// decodeRaw decodes the raw value ReadEach hands out beside op, for
// comparison.
func decodeRaw(t *testing.T, op Op, raw []byte) Op {
	if op.Value != nil {
		t.Fatalf("op %d: value %v beside the raw one", op.Index, op.Value)
	}
	if raw == nil {
		return op
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&op.Value); err != nil {
		t.Fatalf("op %d: raw value %s: %v", op.Index, raw, err)
	}
	return op
}

// agree checks that ReadWithInfo (its scanner and value cache) and
// ReadEach read in as encoding/json alone does.
func agree(t *testing.T, in []byte) {
	var ops []Op
	info, err := readEach(bytes.NewReader(in), false, nil, func(op Op, _ []byte) error {
		ops = append(ops, op)
		return nil
	})
	if err != nil {
		ops = nil
	}
	fops, finfo, ferr := ReadWithInfo(bytes.NewReader(in))
	if (err == nil) != (ferr == nil) || err != nil && err.Error() != ferr.Error() {
		t.Fatalf("errors differ: encoding/json %v, ReadWithInfo %v\n%s", err, ferr, in)
	}
	if !reflect.DeepEqual(info, finfo) || !reflect.DeepEqual(ops, fops) {
		t.Fatalf("ReadWithInfo differs from encoding/json:\n%#v %#v\n%#v %#v", info, ops, finfo, fops)
	}
	var got []Op
	ginfo, gerr := ReadEach(bytes.NewReader(in), func(op Op, raw []byte) error {
		got = append(got, decodeRaw(t, op, bytes.Clone(raw)))
		return nil
	})
	if (err == nil) != (gerr == nil) || err != nil && err.Error() != gerr.Error() {
		t.Fatalf("errors differ: ReadWithInfo %v, ReadEach %v\n%s", err, gerr, in)
	}
	if err != nil {
		return
	}
	if !reflect.DeepEqual(info, ginfo) {
		t.Errorf("info differs: %+v vs %+v", info, ginfo)
	}
	if len(ops) != len(got) {
		t.Fatalf("%d ops vs %d", len(ops), len(got))
	}
	for i := range ops {
		if !reflect.DeepEqual(ops[i], got[i]) {
			t.Errorf("op %d differs:\n%#v\n%#v", i, ops[i], got[i])
		}
	}
}

func TestReadEachAgrees(t *testing.T) {
	for _, s := range eachSeeds {
		for _, in := range []string{jsonHeader2 + s + "\n", jsonHeader2 + s} {
			t.Run(s, func(t *testing.T) { agree(t, []byte(in)) })
		}
	}
	for _, s := range jsonlSeeds {
		agree(t, []byte(s))
	}
}

func FuzzReadEach(f *testing.F) {
	for _, s := range eachSeeds {
		f.Add([]byte(jsonHeader2 + s + "\n"))
	}
	for _, s := range jsonlSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) { agree(t, in) })
}

// TestScanOpTakesUsualLines keeps the fast path in use: the lines Writer
// writes must not fall back to encoding/json.
func TestScanOpTakesUsualLines(t *testing.T) {
	for _, s := range eachSeeds[:4] {
		if _, _, ok := scanOp([]byte(s), &interner{}); !ok {
			t.Errorf("scanOp refused %s", s)
		}
	}
}
