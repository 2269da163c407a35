// Command crashes is a lin-kv Maelstrom node for faultline's tests that
// serves from its own memory, and on n2 crashes (a Go panic, exit status
// 2) after 30 client requests, as a buggy node does mid-run.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
)

type msg struct {
	Src  string         `json:"src"`
	Dest string         `json:"dest"`
	Body map[string]any `json:"body"`
}

func main() {
	var id string
	var next float64
	served := 0
	kv := map[string]float64{}
	out := json.NewEncoder(os.Stdout)
	reply := func(req msg, body map[string]any) {
		next++
		body["msg_id"] = next
		body["in_reply_to"] = req.Body["msg_id"]
		_ = out.Encode(msg{Src: id, Dest: req.Src, Body: body})
	}
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m msg
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			continue
		}
		b := m.Body
		key := fmt.Sprint(b["key"])
		if b["type"] != "init" {
			served++
			if id == "n2" && served > 30 {
				var table []int
				_ = table[served] // the bug: index out of range
			}
		}
		switch b["type"] {
		case "init":
			id = b["node_id"].(string)
			reply(m, map[string]any{"type": "init_ok"})
		case "read":
			if v, ok := kv[key]; ok {
				reply(m, map[string]any{"type": "read_ok", "value": v})
			} else {
				reply(m, map[string]any{"type": "error", "code": 20})
			}
		case "write":
			kv[key] = b["value"].(float64)
			reply(m, map[string]any{"type": "write_ok"})
		case "cas":
			v, ok := kv[key]
			switch {
			case !ok:
				reply(m, map[string]any{"type": "error", "code": 20})
			case v != b["from"].(float64):
				reply(m, map[string]any{"type": "error", "code": 22})
			default:
				kv[key] = b["to"].(float64)
				reply(m, map[string]any{"type": "cas_ok"})
			}
		}
	}
}
