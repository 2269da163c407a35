// Package smoke_test builds every example node and runs each as a real
// process: init, one request of its workload, and a clean exit when stdin
// closes, with nothing but protocol messages on stdout.
package smoke_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every example binary")
	}
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./cmd/...")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	init := `{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1"]}}`
	tests := []struct {
		bin, request, wantType string
		env                    []string
	}{
		{"echo", `{"type":"echo","msg_id":2,"echo":"hi"}`, "echo_ok", nil},
		{"broadcast-gossip", `{"type":"broadcast","msg_id":2,"message":4}`, "broadcast_ok", nil},
		{"broadcast-naive", `{"type":"broadcast","msg_id":2,"message":4}`, "broadcast_ok", nil},
		{"lin-kv-primary", `{"type":"write","msg_id":2,"key":1,"value":3}`, "write_ok", nil},
		{"lin-kv-wrong", `{"type":"write","msg_id":2,"key":1,"value":3}`, "write_ok", nil},
		{"unique-ids", `{"type":"generate","msg_id":2}`, "generate_ok", []string{"UNIQUE_IDS_DIR=" + t.TempDir()}},
		{"unique-ids-counter", `{"type":"generate","msg_id":2}`, "generate_ok", nil},
		{"kafka-primary", `{"type":"send","msg_id":2,"key":"k","msg":3}`, "send_ok", nil},
		{"kafka-local", `{"type":"send","msg_id":2,"key":"k","msg":3}`, "send_ok", nil},
		{"txn-primary", `{"type":"txn","msg_id":2,"txn":[["append",1,3],["r",1,null]]}`, "txn_ok", nil},
		{"txn-local", `{"type":"txn","msg_id":2,"txn":[["w",1,3],["r",1,null]]}`, "txn_ok", nil},
		{"pn-counter", `{"type":"add","msg_id":2,"delta":-3}`, "add_ok", nil},
	}
	for _, tt := range tests {
		t.Run(tt.bin, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, filepath.Join(dir, tt.bin))
			cmd.Env = append(os.Environ(), tt.env...)
			cmd.Stdin = strings.NewReader(init + "\n" +
				fmt.Sprintf(`{"src":"c1","dest":"n1","body":%s}`, tt.request) + "\n")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s: %v (stdin closed: it should exit 0)\nstderr: %s", tt.bin, err, stderr.String())
			}
			var types []string
			sc := bufio.NewScanner(strings.NewReader(string(out)))
			for sc.Scan() {
				var msg struct {
					Src, Dest string
					Body      struct {
						Type      string `json:"type"`
						InReplyTo int    `json:"in_reply_to"`
					}
				}
				if err := json.Unmarshal(sc.Bytes(), &msg); err != nil {
					t.Fatalf("stdout line is not a message: %q", sc.Text())
				}
				if msg.Src != "n1" {
					t.Errorf("message from %q, want n1: %s", msg.Src, sc.Text())
				}
				types = append(types, fmt.Sprintf("%s->%s:%d", msg.Body.Type, msg.Dest, msg.Body.InReplyTo))
			}
			want := []string{"init_ok->c0:1", tt.wantType + "->c1:2"}
			if fmt.Sprint(types) != fmt.Sprint(want) {
				t.Errorf("stdout messages %v, want %v", types, want)
			}
		})
	}
}
