package maelstrom

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/echo"
	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/workloads"
)

// TestClientEchoAndGenerate checks the echo and generate requests and how
// their replies become results: values kept as the JSON they were, a
// missing field, and error codes.
func TestClientEchoAndGenerate(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var seen []map[string]any
	n := 0
	addr := fakeNode(t, func(b map[string]any) map[string]any {
		seen = append(seen, b)
		n++
		switch b["type"] {
		case "echo":
			switch n {
			case 1:
				return map[string]any{"type": "echo_ok", "echo": b["echo"]}
			case 2:
				return map[string]any{"type": "echo_ok"} // echo left out
			}
			return map[string]any{"type": "error", "code": 0}
		case "generate":
			switch n {
			case 4:
				return map[string]any{"type": "generate_ok", "id": json.Number("123456789012345678901")}
			case 5:
				return map[string]any{"type": "generate_ok", "id": "n1-7"}
			case 6:
				return map[string]any{"type": "generate_ok"}
			case 7:
				return map[string]any{"type": "error", "code": 11}
			}
			return map[string]any{"type": "error", "code": 13}
		}
		return map[string]any{"type": "error", "code": 10}
	})
	c, err := dial(ctx, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := "Please echo 3 \"é\"\n"
	if got, err := c.Echo(ctx, msg); err != nil || got != msg {
		t.Errorf("echo: %#v %v, want %q", got, err, msg)
	}
	if got, err := c.Echo(ctx, "x"); err != nil || got != nil {
		t.Errorf("echo_ok without echo: %#v %v, want nil (a mismatch for the checker)", got, err)
	}
	if _, err := c.Echo(ctx, "y"); err == nil || workloads.IsDefinite(err) {
		t.Errorf("echo answered timeout: %v, want indeterminate", err)
	}
	if id, err := c.GenerateID(ctx); err != nil || id != json.Number("123456789012345678901") {
		t.Errorf("generate: %#v %v, want the big number's text kept", id, err)
	}
	if id, err := c.GenerateID(ctx); err != nil || id != "n1-7" {
		t.Errorf("generate: %#v %v, want \"n1-7\"", id, err)
	}
	if id, err := c.GenerateID(ctx); err == nil || workloads.IsDefinite(err) {
		t.Errorf("generate_ok without id: %#v %v, want indeterminate", id, err)
	}
	if _, err := c.GenerateID(ctx); !workloads.IsDefinite(err) {
		t.Errorf("generate answered temporarily-unavailable: %v, want definite", err)
	}
	if _, err := c.GenerateID(ctx); err == nil || workloads.IsDefinite(err) {
		t.Errorf("generate answered crash: %v, want indeterminate", err)
	}
	want := []string{
		`{"echo":"Please echo 3 \"é\"\n","msg_id":1,"type":"echo"}`,
		`{"echo":"x","msg_id":2,"type":"echo"}`,
		`{"echo":"y","msg_id":3,"type":"echo"}`,
		`{"msg_id":4,"type":"generate"}`,
	}
	for i, w := range want {
		got, _ := json.Marshal(seen[i])
		var wv any
		_ = json.Unmarshal([]byte(w), &wv)
		wb, _ := json.Marshal(wv)
		if string(got) != string(wb) {
			t.Errorf("request %d: %s, want %s", i, got, wb)
		}
	}
	if len(seen) != 8 {
		t.Errorf("node saw %d requests, want 8", len(seen))
	}
}

// TestEchoWorkloadThroughClient: echo ops made by the workload and
// completed through the client are judged valid when the node echoes and
// invalid when it does not.
func TestEchoWorkloadThroughClient(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply func(any) any
		want  models.Verdict
	}{
		{"echoes", func(v any) any { return v }, models.Valid},
		{"answers something else", func(v any) any { return fmt.Sprint(v, "?") }, models.Invalid},
		{"answers a number", func(any) any { return 35 }, models.Invalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			addr := fakeNode(t, func(b map[string]any) map[string]any {
				return map[string]any{"type": "echo_ok", "echo": tc.reply(b["echo"])}
			})
			c, err := dial(ctx, addr, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			wl := workloads.Echo{}
			gen := wl.NewGenerator(workloads.Config{})
			rng := rand.New(rand.NewPCG(1, 2))
			var ops []history.Op
			for range 20 {
				inv := gen.Next(0, rng)
				inv.Index = int64(len(ops))
				done := wl.Invoke(ctx, c, inv)
				done.Index = inv.Index + 1
				ops = append(ops, inv, done)
			}
			got := echo.New().Check(ctx, ops, models.Options{})
			if got.Verdict != tc.want || got.Stats["ok"] != 20 {
				t.Errorf("%s (%s), stats %v; want %s with 20 ok", got.Verdict, got.Reason, got.Stats, tc.want)
			}
		})
	}
}

// TestWorkloadOption: workload=echo and workload=unique-ids give the
// faultline workloads of the same names; an unknown one is refused.
func TestWorkloadOption(t *testing.T) {
	for _, w := range []string{"echo", "unique-ids"} {
		tg, err := New("", map[string]string{"bin": "/bin/true", "workload": w})
		if err != nil {
			t.Fatalf("workload=%s: %v", w, err)
		}
		if got := tg.Workloads(); len(got) != 1 || got[0] != w {
			t.Errorf("workload=%s serves %v, want [%s]", w, got, w)
		}
		if _, err := workloads.Default().Lookup(w); err != nil {
			t.Error(err)
		}
	}
	if _, err := New("", map[string]string{"bin": "/bin/true", "workload": "no-such-workload"}); err == nil {
		t.Error("workload=no-such-workload accepted")
	}
}

// TestFitWorkload checks that, without workload=, the run's faultline
// workload picks the Maelstrom workload, and that workload= given wins.
func TestFitWorkload(t *testing.T) {
	for _, tc := range []struct {
		opt, faultline, want, err string
	}{
		{"", "register", "lin-kv", ""},
		{"", "set", "broadcast", ""},
		{"", "g-set", "g-set", ""},
		{"", "counter", "g-counter", ""},
		{"", "pn-counter", "pn-counter", ""},
		{"", "list-append", "txn-list-append", ""},
		{"", "rw-register", "txn-rw-register", ""},
		{"", "kafka", "kafka", ""},
		{"", "bank", "", "no Maelstrom workload is judged by faultline workload \"bank\""},
		{"g-set", "set", "g-set", ""},
		{"g-counter", "register", "g-counter", ""}, // the harness refuses it: Workloads lacks register
	} {
		opts := map[string]string{"bin": "/bin/true"}
		if tc.opt != "" {
			opts["workload"] = tc.opt
		}
		tg, err := New("", opts)
		if err != nil {
			t.Fatal(err)
		}
		err = tg.FitWorkload(tc.faultline)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("workload=%q, fit %s: %v, want %q", tc.opt, tc.faultline, err, tc.err)
			}
			continue
		}
		if err != nil || tg.Settings()["workload"] != tc.want {
			t.Errorf("workload=%q, fit %s: %v, speaks %s, want %s", tc.opt, tc.faultline, err, tg.Settings()["workload"], tc.want)
		}
	}
}
