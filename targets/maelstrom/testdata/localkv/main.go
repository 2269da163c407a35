// Command localkv is a lin-kv Maelstrom node for faultline's tests that
// is wrong on purpose: each node answers from its own copy and tells the
// others about writes afterwards, once, so reads go stale and a partition
// makes copies diverge for good.
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
	var ids []any
	var next float64
	kv := map[string]float64{}
	out := json.NewEncoder(os.Stdout)
	send := func(dest string, body map[string]any) {
		next++
		body["msg_id"] = next
		_ = out.Encode(msg{Src: id, Dest: dest, Body: body})
	}
	reply := func(req msg, body map[string]any) {
		body["in_reply_to"] = req.Body["msg_id"]
		send(req.Src, body)
	}
	gossip := func(key string, v float64) {
		for _, o := range ids {
			if o != id {
				send(o.(string), map[string]any{"type": "set", "key": key, "value": v})
			}
		}
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
		switch b["type"] {
		case "init":
			id, ids = b["node_id"].(string), b["node_ids"].([]any)
			reply(m, map[string]any{"type": "init_ok"})
		case "set":
			kv[key] = b["value"].(float64)
		case "read":
			if v, ok := kv[key]; ok {
				reply(m, map[string]any{"type": "read_ok", "value": v})
			} else {
				reply(m, map[string]any{"type": "error", "code": 20})
			}
		case "write":
			kv[key] = b["value"].(float64)
			reply(m, map[string]any{"type": "write_ok"})
			gossip(key, kv[key])
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
				gossip(key, kv[key])
			}
		}
	}
}
