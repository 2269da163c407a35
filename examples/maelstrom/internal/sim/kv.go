package sim

import (
	"fmt"
	"maps"
	"sync"
)

// KV stands in for Maelstrom's key-value services (read, write, cas with
// create_if_not_exists) in tests; pass its Serve to Cluster.Serve. As
// lin-kv it is one map. As seq-kv it is sequentially consistent at its
// weakest: a node reads the store as it was at its own last update, never
// newer, while its updates apply to the newest state.
type KV struct {
	mu    sync.Mutex
	stale bool
	m     map[string]any
	seen  map[string]map[string]any // node -> the store at its last update
}

// NewKV returns an empty store, stale as seq-kv when stale is true.
func NewKV(stale bool) *KV {
	return &KV{stale: stale, m: map[string]any{}, seen: map[string]map[string]any{}}
}

// Serve answers one request from node src.
func (k *KV) Serve(src string, body map[string]any) map[string]any {
	k.mu.Lock()
	defer k.mu.Unlock()
	key := fmt.Sprint(body["key"])
	view := k.m
	if s, ok := k.seen[src]; ok && k.stale {
		view = s
	} else if k.stale {
		view = map[string]any{}
	}
	notFound := map[string]any{"type": "error", "code": 20, "text": "key does not exist"}
	switch body["type"] {
	case "read":
		v, ok := view[key]
		if !ok {
			return notFound
		}
		return map[string]any{"type": "read_ok", "value": v}
	case "write":
		k.m[key] = body["value"]
	case "cas":
		v, ok := k.m[key]
		switch {
		case !ok && body["create_if_not_exists"] != true:
			return notFound
		case ok && fmt.Sprint(v) != fmt.Sprint(body["from"]):
			return map[string]any{"type": "error", "code": 22, "text": fmt.Sprintf("current value %v is not %v", v, body["from"])}
		}
		k.m[key] = body["to"]
	default:
		return map[string]any{"type": "error", "code": 10, "text": "not supported"}
	}
	k.seen[src] = maps.Clone(k.m)
	return map[string]any{"type": body["type"].(string) + "_ok"}
}
