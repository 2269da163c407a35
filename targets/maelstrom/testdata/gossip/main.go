// Command gossip is a broadcast Maelstrom node for faultline's tests:
// every 200 ms it sends its whole set to each neighbour, so messages
// cross partitions once they heal and survive lost packets.
package main

import (
	"bufio"
	"encoding/json"
	"os"
	"sort"
	"sync"
	"time"
)

type msg struct {
	Src  string         `json:"src"`
	Dest string         `json:"dest"`
	Body map[string]any `json:"body"`
}

func main() {
	var mu sync.Mutex
	var id string
	var next float64
	var peers []string
	seen := map[float64]bool{}
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
	all := func() []float64 {
		xs := make([]float64, 0, len(seen))
		for x := range seen {
			xs = append(xs, x)
		}
		sort.Float64s(xs)
		return xs
	}
	go func() {
		for range time.Tick(200 * time.Millisecond) {
			mu.Lock()
			if len(seen) > 0 {
				for _, p := range peers {
					send(p, map[string]any{"type": "gossip", "messages": all()})
				}
			}
			mu.Unlock()
		}
	}()
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var m msg
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		mu.Lock()
		switch m.Body["type"] {
		case "init":
			id = m.Body["node_id"].(string)
			reply(m, map[string]any{"type": "init_ok"})
		case "topology":
			peers = nil
			if t, ok := m.Body["topology"].(map[string]any)[id].([]any); ok {
				for _, p := range t {
					peers = append(peers, p.(string))
				}
			}
			reply(m, map[string]any{"type": "topology_ok"})
		case "broadcast":
			seen[m.Body["message"].(float64)] = true
			reply(m, map[string]any{"type": "broadcast_ok"})
		case "gossip":
			for _, x := range m.Body["messages"].([]any) {
				seen[x.(float64)] = true
			}
		case "read":
			reply(m, map[string]any{"type": "read_ok", "messages": all()})
		}
		mu.Unlock()
	}
}
