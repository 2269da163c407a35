// Command leaderkv is a lin-kv Maelstrom node for faultline's tests that
// is linearizable by construction: n1 holds every key; the other nodes
// forward each request to n1 and relay its answer, so a partition from n1
// makes them unavailable, never wrong.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sync"
)

type msg struct {
	Src  string         `json:"src"`
	Dest string         `json:"dest"`
	Body map[string]any `json:"body"`
}

type node struct {
	mu      sync.Mutex
	id      string
	next    float64
	kv      map[string]float64
	pending map[float64]msg // forwarded msg_id -> the client's request
	out     *json.Encoder
}

func (n *node) send(dest string, body map[string]any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.next++
	body["msg_id"] = n.next
	_ = n.out.Encode(msg{Src: n.id, Dest: dest, Body: body})
}

func reply(req msg, body map[string]any) map[string]any {
	body["in_reply_to"] = req.Body["msg_id"]
	return body
}

// apply runs a lin-kv request against the store (n1 only).
func (n *node) apply(b map[string]any) map[string]any {
	n.mu.Lock()
	defer n.mu.Unlock()
	key := fmt.Sprint(b["key"])
	v, ok := n.kv[key]
	switch b["type"] {
	case "read":
		if !ok {
			return map[string]any{"type": "error", "code": 20, "text": "no such key"}
		}
		return map[string]any{"type": "read_ok", "value": v}
	case "write":
		n.kv[key] = b["value"].(float64)
		return map[string]any{"type": "write_ok"}
	case "cas":
		if !ok {
			return map[string]any{"type": "error", "code": 20, "text": "no such key"}
		}
		if v != b["from"].(float64) {
			return map[string]any{"type": "error", "code": 22, "text": "from does not match"}
		}
		n.kv[key] = b["to"].(float64)
		return map[string]any{"type": "cas_ok"}
	}
	return map[string]any{"type": "error", "code": 10, "text": "unsupported"}
}

func main() {
	n := &node{kv: map[string]float64{}, pending: map[float64]msg{}, out: json.NewEncoder(os.Stdout)}
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m msg
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			fmt.Fprintln(os.Stderr, "bad input:", err)
			continue
		}
		switch t := m.Body["type"]; {
		case t == "init":
			n.id = m.Body["node_id"].(string)
			fmt.Fprintln(os.Stderr, "init as", n.id)
			n.send(m.Src, reply(m, map[string]any{"type": "init_ok"}))
		case m.Body["in_reply_to"] != nil:
			// n1's answer to a forwarded request: relay it to the client.
			n.mu.Lock()
			req, ok := n.pending[m.Body["in_reply_to"].(float64)]
			delete(n.pending, m.Body["in_reply_to"].(float64))
			n.mu.Unlock()
			if ok {
				b := m.Body
				delete(b, "msg_id")
				n.send(req.Src, reply(req, b))
			}
		case n.id == "n1":
			n.send(m.Src, reply(m, n.apply(m.Body)))
		default:
			fwd := map[string]any{}
			for k, v := range m.Body {
				fwd[k] = v
			}
			n.mu.Lock()
			n.next++
			id := n.next
			n.pending[id] = m
			fwd["msg_id"] = id
			_ = n.out.Encode(msg{Src: n.id, Dest: "n1", Body: fwd})
			n.mu.Unlock()
		}
	}
}
