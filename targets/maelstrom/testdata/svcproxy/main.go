// Command svcproxy is a lin-kv Maelstrom node for faultline's tests that
// keeps nothing itself: it forwards each client request to the service
// named by its first argument (default lin-kv) and relays the answer.
package main

import (
	"bufio"
	"encoding/json"
	"os"
)

type msg struct {
	Src  string         `json:"src"`
	Dest string         `json:"dest"`
	Body map[string]any `json:"body"`
}

func main() {
	service := "lin-kv"
	if len(os.Args) > 1 {
		service = os.Args[1]
	}
	var (
		id      string
		next    float64
		pending = map[float64]msg{} // msg_id sent to the service -> the client's request
	)
	out := json.NewEncoder(os.Stdout)
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var m msg
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		switch typ, _ := m.Body["type"].(string); {
		case typ == "init":
			id, _ = m.Body["node_id"].(string)
			_ = out.Encode(msg{Src: id, Dest: m.Src, Body: map[string]any{"type": "init_ok", "in_reply_to": m.Body["msg_id"]}})
		case m.Src == service:
			irt, _ := m.Body["in_reply_to"].(float64)
			req, ok := pending[irt]
			if !ok {
				break
			}
			delete(pending, irt)
			m.Body["in_reply_to"] = req.Body["msg_id"]
			_ = out.Encode(msg{Src: id, Dest: req.Src, Body: m.Body})
		default:
			next++
			pending[next] = m
			body := map[string]any{}
			for k, v := range m.Body {
				body[k] = v
			}
			body["msg_id"] = next
			_ = out.Encode(msg{Src: id, Dest: service, Body: body})
		}
	}
}
