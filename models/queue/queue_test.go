package queue

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// edn reads a history of EDN op maps, one per line; "p type f value"
// shorthand lines (e.g. "0 ok enqueue 3") are expanded first, and a last
// field "@k" sets the op's Key to k (EDN histories carry no keys).
func edn(t testing.TB, lines ...string) []history.Op {
	t.Helper()
	var b strings.Builder
	b.WriteString("[")
	keys := make([]string, len(lines))
	for i, l := range lines {
		if strings.HasPrefix(l, "{") {
			b.WriteString(l + "\n")
			continue
		}
		f := strings.Fields(l)
		if k, ok := strings.CutPrefix(f[len(f)-1], "@"); ok {
			keys[i], f = k, f[:len(f)-1]
		}
		v := "nil"
		if len(f) > 3 {
			v = strings.Join(f[3:], " ")
		}
		b.WriteString("{:process " + f[0] + ", :type :" + f[1] + ", :f :" + f[2] + ", :value " + v + "}\n")
	}
	b.WriteString("]")
	ops, err := history.ReadEDN(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	for i := range ops {
		ops[i].Key = keys[i]
	}
	return ops
}

func TestHandWritten(t *testing.T) {
	tests := []struct {
		name    string
		checker *Checker
		history []string
		verdict models.Verdict
		kinds   []string
		ops     []int64 // of the first anomaly
		explain string  // part of the first anomaly's explanation
		props   map[string]string
		stats   map[string]int64
	}{
		{
			name: "good", verdict: models.Valid,
			history: []string{
				"0 invoke enqueue 1", "0 ok enqueue 1",
				"1 invoke dequeue", "0 invoke enqueue 2", "1 ok dequeue 1", "0 ok enqueue 2",
				"1 invoke dequeue", "1 ok dequeue 2",
				"1 invoke dequeue", "1 ok dequeue nil",
				"2 invoke drain", "2 ok drain []",
			},
			props: map[string]string{"delivery": "exactly-once", "promise": "exactly-once", "acks": "none", "drain": "ok drain at op 10"},
			stats: map[string]int64{"enqueues": 2, "enqueued_ok": 2, "dequeues": 3, "dequeues_empty": 1, "delivered": 2, "deliveries": 2, "lost": 0, "drains": 1},
		},
		{
			name: "lost message", verdict: models.Invalid, kinds: []string{LostKind}, ops: []int64{2, 3},
			explain: "Message 2 (enqueued ok by process 0, ops 2–3) was never delivered, not even by the drain at op 6",
			history: []string{
				"0 invoke enqueue 1", "0 ok enqueue 1", "0 invoke enqueue 2", "0 ok enqueue 2",
				"1 invoke dequeue", "1 ok dequeue 1",
				"2 invoke drain", "2 ok drain []",
			},
			props: map[string]string{"delivery": "at-most-once"},
			stats: map[string]int64{"lost": 1, "undelivered": 1},
		},
		{
			name: "lost message, at-most-once promised", checker: &Checker{Promise: AtMostOnce}, verdict: models.Valid,
			history: []string{
				"0 invoke enqueue 1", "0 ok enqueue 1", "2 invoke drain", "2 ok drain []",
			},
			props: map[string]string{"delivery": "at-most-once", "promise": "at-most-once"},
		},
		{
			name: "duplicated message", verdict: models.Invalid, kinds: []string{DuplicatedKind}, ops: []int64{0, 1, 2, 3, 4, 5},
			explain: "Message 1 (enqueued ok by process 0, ops 0–1) was delivered twice: by a dequeue by process 1 (ops 2–3) and by a dequeue by process 2 (ops 4–5)",
			history: []string{
				"0 invoke enqueue 1", "0 ok enqueue 1",
				"1 invoke dequeue", "1 ok dequeue 1", "2 invoke dequeue", "2 ok dequeue 1",
				"3 invoke drain", "3 ok drain []",
			},
			props: map[string]string{"delivery": "at-least-once"},
			stats: map[string]int64{"duplicated": 1, "duplicate_deliveries": 1},
		},
		{
			name: "duplicated message, at-least-once promised", checker: &Checker{Promise: AtLeastOnce}, verdict: models.Valid,
			history: []string{
				"0 invoke enqueue 1", "0 ok enqueue 1",
				"1 invoke dequeue", "1 ok dequeue 1", "2 invoke drain", "2 ok drain [1]",
			},
			props: map[string]string{"delivery": "at-least-once"},
		},
		{
			name: "never enqueued", verdict: models.Invalid, kinds: []string{UnexpectedKind}, ops: []int64{0, 1},
			explain: "Message 7 was delivered by a dequeue by process 1 (ops 0–1) but never enqueued",
			history: []string{"1 invoke dequeue", "1 ok dequeue 7", "2 invoke drain", "2 ok drain []"},
		},
		{
			name: "failed enqueue delivered", verdict: models.Invalid, kinds: []string{UnexpectedKind}, ops: []int64{0, 1, 2, 3},
			explain: "Message 3 was delivered by a drain by process 2 (ops 2–3) but its enqueue failed (ops 0–1), so it never happened",
			history: []string{"0 invoke enqueue 3", "0 fail enqueue 3", "2 invoke drain", "2 ok drain [3]"},
		},
		{
			name: "delivered before enqueued", verdict: models.Invalid, kinds: []string{UnexpectedKind}, ops: []int64{0, 1, 2, 3},
			explain: "Message 5 was delivered by a dequeue by process 1 (ops 0–1) before it was enqueued (ops 2–3)",
			history: []string{"1 invoke dequeue", "1 ok dequeue 5", "0 invoke enqueue 5", "0 ok enqueue 5", "2 invoke drain", "2 ok drain []"},
		},
		{
			name: "info enqueues: one recovered, one absent", verdict: models.Valid,
			history: []string{
				"0 invoke enqueue 1", "0 info enqueue 1", "1 invoke enqueue 2", "1 info enqueue 2",
				"2 invoke enqueue 3", "2 ok enqueue 3",
				"3 invoke drain", "3 ok drain [3 1]",
			},
			stats: map[string]int64{"recovered": 1, "enqueued_info": 2, "lost": 0},
		},
		{
			name: "retried enqueue is one message", verdict: models.Valid, checker: &Checker{Order: PerProducer},
			history: []string{
				"0 invoke enqueue 1", "0 info enqueue 1", "1 invoke enqueue 1", "1 ok enqueue 1",
				"3 invoke drain", "3 ok drain [1]",
			},
			stats: map[string]int64{"enqueues": 1, "enqueued_ok": 1, "delivered": 1},
		},
		{
			name: "indeterminate dequeue may explain a loss", verdict: models.Valid,
			history: []string{
				"0 invoke enqueue 1", "0 ok enqueue 1", "0 invoke enqueue 2", "0 ok enqueue 2",
				"1 invoke dequeue", "1 info dequeue", "2 invoke dequeue", "2 ok dequeue 1",
				"3 invoke drain", "3 ok drain []",
			},
			props: map[string]string{"loss_note": "1 ok enqueues never delivered may have been taken by the 1 dequeues of unknown outcome", "delivery": "exactly-once"},
			stats: map[string]int64{"lost": 0, "undelivered": 1, "indeterminate_dequeues": 1},
		},
		{
			name: "indeterminate dequeue explains only one loss", verdict: models.Invalid, kinds: []string{LostKind}, ops: []int64{0, 1, 2, 3},
			explain: "2 messages enqueued ok were never delivered, not even by the drain at op 8 (1, 2); the 1 dequeues of unknown outcome may have taken at most 1 of them, so at least 1 were lost",
			history: []string{
				"0 invoke enqueue 1", "0 ok enqueue 1", "0 invoke enqueue 2", "0 ok enqueue 2",
				"1 invoke dequeue", "1 info dequeue", "2 invoke dequeue", "2 ok dequeue nil",
				"3 invoke drain", "3 ok drain []",
			},
			stats: map[string]int64{"lost": 1},
		},
		{
			name: "indeterminate dequeue with a batch limit", verdict: models.Valid,
			history: []string{
				"0 invoke enqueue 1", "0 ok enqueue 1", "0 invoke enqueue 2", "0 ok enqueue 2", "0 invoke enqueue 3", "0 ok enqueue 3",
				"1 invoke dequeue 3", "1 info dequeue 3", "2 invoke dequeue", "2 ok dequeue nil",
				"3 invoke drain", "3 ok drain []",
			},
			stats: map[string]int64{"lost": 0, "undelivered": 3},
		},
		{
			name: "indeterminate drain may have taken anything", checker: &Checker{AssumeDrained: true}, verdict: models.Valid,
			history: []string{
				"0 invoke enqueue 1", "0 ok enqueue 1", "0 invoke enqueue 2", "0 ok enqueue 2",
				"3 invoke drain", "3 info drain",
			},
			props: map[string]string{"drain": "assumed at the end of the history", "loss_note": "2 ok enqueues never delivered may have been taken by the 1 dequeues of unknown outcome"},
		},
		{
			name: "no drain: loss unknown", verdict: models.Unknown,
			history: []string{"0 invoke enqueue 1", "0 ok enqueue 1"},
			props:   map[string]string{"drain": "none: loss not checked", "delivery": "at-most-once"},
		},
		{
			name: "no drain, assumed", checker: &Checker{AssumeDrained: true}, verdict: models.Invalid, kinds: []string{LostKind},
			explain: "not even by the end of the history",
			history: []string{"0 invoke enqueue 1", "0 ok enqueue 1"},
		},
		{
			name: "no drain, everything delivered", verdict: models.Valid,
			history: []string{"0 invoke enqueue 1", "0 ok enqueue 1", "1 invoke dequeue", "1 ok dequeue [1]"},
		},
		{
			name: "drain before the enqueue completed", verdict: models.Unknown,
			history: []string{"0 invoke enqueue 1", "3 invoke drain", "3 ok drain []", "0 ok enqueue 1"},
		},
		{
			name: "nothing", verdict: models.Unknown, history: []string{"0 invoke dequeue", "0 ok dequeue nil"},
		},
		{
			name: "malformed", verdict: models.Unknown, history: []string{"0 invoke enqueue [1 2]", "0 ok enqueue [1 2]"},
			stats: map[string]int64{"malformed": 1},
		},
		{
			name: "acks: redelivery after a failed ack", verdict: models.Valid,
			history: []string{
				"0 invoke enqueue 1", "0 ok enqueue 1",
				"1 invoke dequeue", "1 ok dequeue 1", "1 invoke ack 1", "1 fail ack 1",
				"1 invoke dequeue", "1 ok dequeue 1", "1 invoke ack 1", "1 ok ack 1",
				"3 invoke drain", "3 ok drain []",
			},
			props: map[string]string{"acks": "explicit", "delivery": "exactly-once"},
			stats: map[string]int64{"redeliveries": 1, "duplicated": 0, "acks": 1},
		},
		{
			name: "acks: delivered again after an ok ack", verdict: models.Invalid, kinds: []string{DuplicatedKind}, ops: []int64{0, 1, 4, 5, 6, 7},
			explain: "Message 1 (enqueued ok by process 0, ops 0–1) was delivered again by a dequeue by process 2 (ops 6–7) after its ack (ops 4–5) had succeeded",
			history: []string{
				"0 invoke enqueue 1", "0 ok enqueue 1",
				"1 invoke dequeue", "1 ok dequeue 1", "1 invoke ack 1", "1 ok ack 1",
				"2 invoke dequeue", "2 ok dequeue 1",
				"3 invoke drain", "3 ok drain []",
			},
		},
		{
			name: "acks: delivered, never acknowledged, never redelivered", verdict: models.Invalid, kinds: []string{LostKind}, ops: []int64{0, 1, 2, 3},
			explain: "Message 1 (enqueued ok by process 0, ops 0–1) was delivered by a dequeue by process 1 (ops 2–3) but never acknowledged, and was not delivered again, not even by the drain at op 6",
			history: []string{
				"0 invoke enqueue 1", "0 ok enqueue 1",
				"1 invoke dequeue", "1 ok dequeue 1", "1 invoke ack 1", "1 fail ack 1",
				"3 invoke drain", "3 ok drain []",
			},
		},
		{
			name: "acks: an indeterminate dequeue explains nothing", verdict: models.Invalid, kinds: []string{LostKind},
			history: []string{
				"0 invoke enqueue 1", "0 ok enqueue 1",
				"1 invoke dequeue", "1 info dequeue", "2 invoke ack 5", "2 ok ack 5",
				"3 invoke drain", "3 ok drain []",
			},
		},
		{
			name: "acks: info ack may have consumed it", verdict: models.Valid,
			history: []string{
				"0 invoke enqueue 1", "0 ok enqueue 1",
				"1 invoke dequeue", "1 ok dequeue 1", "1 invoke ack 1", "1 info ack 1",
				"3 invoke drain", "3 ok drain []",
			},
		},
		{
			name: "producer order broken", checker: &Checker{Order: PerProducer}, verdict: models.Invalid, kinds: []string{OrderKind},
			ops:     []int64{0, 1, 2, 3, 4, 5, 6, 7},
			explain: "Message 2 overtook message 1 on producer 0: 1 was enqueued ok (ops 0–1) before 2's enqueue began (ops 2–3), yet a dequeue by process 1 (ops 4–5) delivered 2 before any delivery of 1 began (the first, a dequeue by process 1 (ops 6–7))",
			history: []string{
				"0 invoke enqueue 1", "0 ok enqueue 1", "0 invoke enqueue 2", "0 ok enqueue 2",
				"1 invoke dequeue", "1 ok dequeue 2", "1 invoke dequeue", "1 ok dequeue 1",
				"3 invoke drain", "3 ok drain []",
			},
			props: map[string]string{"order": "producer"},
			stats: map[string]int64{"order_violations": 1},
		},
		{
			name: "producer order not promised", verdict: models.Valid,
			history: []string{
				"0 invoke enqueue 1", "0 ok enqueue 1", "0 invoke enqueue 2", "0 ok enqueue 2",
				"1 invoke dequeue", "1 ok dequeue 2", "1 invoke dequeue", "1 ok dequeue 1",
				"3 invoke drain", "3 ok drain []",
			},
			props: map[string]string{"order": "none"},
		},
		{
			name: "concurrent dequeues may reorder", checker: &Checker{Order: PerProducer}, verdict: models.Valid,
			history: []string{
				"0 invoke enqueue 1", "0 ok enqueue 1", "0 invoke enqueue 2", "0 ok enqueue 2",
				"1 invoke dequeue", "2 invoke dequeue", "2 ok dequeue 2", "1 ok dequeue 1",
				"3 invoke drain", "3 ok drain []",
			},
		},
		{
			name: "order broken within a drain", checker: &Checker{Order: PerKey}, verdict: models.Invalid, kinds: []string{OrderKind},
			explain: "Message 2 overtook message 1 on the queue: 1 was enqueued ok (ops 0–1) before 2's enqueue began (ops 2–3), yet the drain by process 3 (ops 4–5) listed 2 before 1",
			history: []string{
				"0 invoke enqueue 1", "0 ok enqueue 1", "1 invoke enqueue 2", "1 ok enqueue 2",
				"3 invoke drain", "3 ok drain [2 1]",
			},
		},
		{
			name: "keys keep their own order", checker: &Checker{Order: PerKey}, verdict: models.Valid,
			history: []string{
				"0 invoke enqueue 1 @a", "0 ok enqueue 1 @a", "0 invoke enqueue 2 @b", "0 ok enqueue 2 @b",
				"0 invoke enqueue 3 @a", "0 ok enqueue 3 @a",
				"3 invoke drain", "3 ok drain [2 1 3]",
			},
		},
		{
			name: "key order broken", checker: &Checker{Order: PerKey}, verdict: models.Invalid, kinds: []string{OrderKind},
			explain: "Message 3 overtook message 1 on key a",
			history: []string{
				"0 invoke enqueue 1 @a", "0 ok enqueue 1 @a",
				`{:process 1, :type :invoke, :f :enqueue, :value {:id 3, :key "a"}}`, `{:process 1, :type :ok, :f :enqueue, :value {:id 3, :key "a"}}`,
				"3 invoke drain", "3 ok drain [3 1]",
			},
		},
		{
			name: "string ids", verdict: models.Valid,
			history: []string{`0 invoke enqueue "m-1"`, `0 ok enqueue "m-1"`, `1 invoke dequeue`, `1 ok dequeue ["m-1"]`, "2 invoke drain", "2 ok drain []"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.checker
			if c == nil {
				c = New()
			}
			res := c.Check(context.Background(), edn(t, tt.history...), models.Options{})
			if res.Verdict != tt.verdict {
				t.Fatalf("verdict %s, want %s (reason %q, anomalies %v)", res.Verdict, tt.verdict, res.Reason, res.Anomalies)
			}
			if res.Checker != Name || res.Model != Name {
				t.Errorf("checker %q model %q", res.Checker, res.Model)
			}
			var kinds []string
			for _, a := range res.Anomalies {
				kinds = append(kinds, a.Kind)
			}
			if !slices.Equal(kinds, tt.kinds) {
				t.Errorf("kinds %v, want %v", kinds, tt.kinds)
			}
			if len(res.Anomalies) > 0 {
				a := res.Anomalies[0]
				if tt.ops != nil && !slices.Equal(a.Ops, tt.ops) {
					t.Errorf("ops %v, want %v", a.Ops, tt.ops)
				}
				if !strings.Contains(a.Explanation, tt.explain) {
					t.Errorf("explanation %q lacks %q", a.Explanation, tt.explain)
				}
			}
			if tt.verdict != models.Valid && res.Reason == "" {
				t.Error("no reason")
			}
			for k, v := range tt.props {
				if res.Properties[k] != v {
					t.Errorf("property %s = %q, want %q", k, res.Properties[k], v)
				}
			}
			for k, v := range tt.stats {
				if res.Stats[k] != v {
					t.Errorf("stat %s = %d, want %d", k, res.Stats[k], v)
				}
			}
		})
	}
}

func TestOptions(t *testing.T) {
	ops := edn(t, "0 invoke enqueue 1", "0 ok enqueue 1")
	for _, c := range []*Checker{{Promise: "twice"}, {Order: "random"}} {
		if res := c.Check(context.Background(), ops, models.Options{}); res.Verdict != models.Unknown || res.Reason == "" {
			t.Errorf("%+v: %s %q", c, res.Verdict, res.Reason)
		}
	}
}

func TestModels(t *testing.T) {
	e, err := Models().Lookup(Name)
	if err != nil {
		t.Fatal(err)
	}
	if e.Summary == "" || strings.Contains(e.Summary, "\n") {
		t.Errorf("summary %q", e.Summary)
	}
	if c := e.New(); c.Name() != Name {
		t.Errorf("name %q", c.Name())
	}
}

func TestCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ops := generate(rand.New(rand.NewPCG(1, 1)), genConfig{ops: 1000, procs: 3})
	res := New().Check(ctx, ops, models.Options{})
	if res.Verdict != models.Unknown || !strings.Contains(res.Reason, "canceled") {
		t.Errorf("%s %q", res.Verdict, res.Reason)
	}
}

// TestShapes reads the shapes other encodings give: jepsen.util log lines
// (as Jepsen's RabbitMQ test logs them) and faultline's JSON lines, whose
// numbers are json.Number and whose ops carry keys.
func TestShapes(t *testing.T) {
	log := `INFO  jepsen.util - 0	:invoke	:enqueue	1461
INFO  jepsen.util - 0	:ok	:enqueue	1461
INFO  jepsen.util - 1	:invoke	:dequeue	nil
INFO  jepsen.util - 1	:ok	:dequeue	1461
INFO  jepsen.util - 1	:invoke	:dequeue	nil
INFO  jepsen.util - 1	:ok	:dequeue	1461
INFO  jepsen.util - 2	:invoke	:drain	nil
INFO  jepsen.util - 2	:ok	:drain	[]
`
	ops, err := history.ReadJepsenLog(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	res := New().Check(context.Background(), ops, models.Options{})
	if res.Verdict != models.Invalid || len(res.Anomalies) != 1 || res.Anomalies[0].Kind != DuplicatedKind {
		t.Errorf("log: %s %v", res.Verdict, res.Anomalies)
	}

	jsonl := `{"format":"faultline-history","version":1}
{"index":0,"time":1,"type":"invoke","process":0,"f":"enqueue","key":"orders","value":7}
{"index":1,"time":2,"type":"ok","process":0,"f":"enqueue","key":"orders","value":7}
{"index":2,"time":3,"type":"invoke","process":0,"f":"enqueue","key":"orders","value":8}
{"index":3,"time":4,"type":"ok","process":0,"f":"enqueue","key":"orders","value":8}
{"index":4,"time":5,"type":"invoke","process":1,"f":"drain","value":null}
{"index":5,"time":6,"type":"ok","process":1,"f":"drain","value":[8,7]}
`
	ops, err = history.Read(strings.NewReader(jsonl))
	if err != nil {
		t.Fatal(err)
	}
	res = (&Checker{Order: PerKey}).Check(context.Background(), ops, models.Options{})
	if res.Verdict != models.Invalid || len(res.Anomalies) != 1 || res.Anomalies[0].Key != "orders" || !strings.Contains(res.Anomalies[0].Explanation, "on key orders") {
		t.Errorf("jsonl: %s %v", res.Verdict, res.Anomalies)
	}
}
