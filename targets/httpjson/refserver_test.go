package httpjson

import (
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"time"
)

// refServer is a small, single-node, in-memory http-json server: the
// reference the client's tests talk to. One mutex orders every op, so it
// is linearizable.
type refServer struct {
	mu       sync.Mutex
	kv       map[string]int64
	sets     map[string][]int64
	counters map[string]int64
	accounts map[string]int64
	lists    map[string][]int64
	regs     map[string]int64
	queue    []int64            // ready ids, in order
	pending  map[int64]string   // delivered, unacknowledged id -> consumer
	locks    map[string]refLock // name -> holder
	token    int64
	logs     map[string][]int64 // message at index = offset
	commits  map[string]int64
	lastID   int64
}

type refLock struct {
	owner string
	until time.Time
}

func newRefServer() *refServer {
	return &refServer{kv: map[string]int64{}, sets: map[string][]int64{}, counters: map[string]int64{},
		accounts: map[string]int64{}, lists: map[string][]int64{}, regs: map[string]int64{}, pending: map[int64]string{}, locks: map[string]refLock{},
		logs: map[string][]int64{}, commits: map[string]int64{}}
}

func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if v == nil {
		v = map[string]any{}
	}
	_ = json.NewEncoder(w).Encode(v)
}

func no(w http.ResponseWriter, why string) {
	reply(w, http.StatusConflict, map[string]string{"error": why})
}

// handle decodes the body into in (when non-nil) and runs f under the lock.
func (s *refServer) handle(in func() any, f func(w http.ResponseWriter, r *http.Request, in any)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var v any
		if in != nil {
			v = in()
			if err := json.NewDecoder(r.Body).Decode(v); err != nil {
				reply(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		f(w, r, v)
	}
}

func (s *refServer) mux() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) { reply(w, 200, nil) })
	m.HandleFunc("GET /primary", func(w http.ResponseWriter, _ *http.Request) { reply(w, 200, map[string]string{"primary": "n1"}) })
	m.HandleFunc("GET /kv/{key}", s.handle(nil, func(w http.ResponseWriter, r *http.Request, _ any) {
		v, ok := s.kv[r.PathValue("key")]
		if !ok {
			reply(w, 200, map[string]any{"found": false})
			return
		}
		reply(w, 200, map[string]any{"found": true, "value": v})
	}))
	m.HandleFunc("PUT /kv/{key}", s.handle(func() any { return &writeReq{} }, func(w http.ResponseWriter, r *http.Request, in any) {
		s.kv[r.PathValue("key")] = in.(*writeReq).Value
		reply(w, 200, nil)
	}))
	m.HandleFunc("POST /kv/{key}/cas", s.handle(func() any { return &casReq{} }, func(w http.ResponseWriter, r *http.Request, in any) {
		req, k := in.(*casReq), r.PathValue("key")
		if v, ok := s.kv[k]; !ok || v != req.Old {
			no(w, "value differs")
			return
		}
		s.kv[k] = req.New
		reply(w, 200, nil)
	}))
	m.HandleFunc("POST /set/{key}", s.handle(func() any { return &addReq{} }, func(w http.ResponseWriter, r *http.Request, in any) {
		k := r.PathValue("key")
		if e := in.(*addReq).Element; !slices.Contains(s.sets[k], e) {
			s.sets[k] = append(s.sets[k], e)
		}
		reply(w, 200, nil)
	}))
	m.HandleFunc("GET /set/{key}", s.handle(nil, func(w http.ResponseWriter, r *http.Request, _ any) {
		reply(w, 200, map[string]any{"elements": append([]int64{}, s.sets[r.PathValue("key")]...)})
	}))
	m.HandleFunc("POST /counter/{key}", s.handle(func() any { return &deltaReq{} }, func(w http.ResponseWriter, r *http.Request, in any) {
		s.counters[r.PathValue("key")] += in.(*deltaReq).Delta
		reply(w, 200, nil)
	}))
	m.HandleFunc("GET /counter/{key}", s.handle(nil, func(w http.ResponseWriter, r *http.Request, _ any) {
		reply(w, 200, map[string]any{"value": s.counters[r.PathValue("key")]})
	}))
	m.HandleFunc("PUT /bank", s.handle(func() any { return &balancesBody{} }, func(w http.ResponseWriter, _ *http.Request, in any) {
		if len(s.accounts) == 0 {
			for a, b := range in.(*balancesBody).Balances {
				s.accounts[a] = b
			}
		}
		reply(w, 200, nil)
	}))
	m.HandleFunc("POST /bank/transfer", s.handle(func() any { return &transferReq{} }, func(w http.ResponseWriter, _ *http.Request, in any) {
		t := in.(*transferReq)
		if s.accounts[t.From] < t.Amount {
			no(w, "insufficient funds")
			return
		}
		s.accounts[t.From] -= t.Amount
		s.accounts[t.To] += t.Amount
		reply(w, 200, nil)
	}))
	m.HandleFunc("GET /bank", s.handle(nil, func(w http.ResponseWriter, _ *http.Request, _ any) {
		reply(w, 200, map[string]any{"balances": s.accounts})
	}))
	m.HandleFunc("POST /txn", s.handle(func() any { return &txnReq{} }, func(w http.ResponseWriter, _ *http.Request, in any) {
		ops := in.(*txnReq).Ops
		out := make([]map[string]any, len(ops))
		for i, o := range ops {
			out[i] = map[string]any{"f": o.F, "key": o.Key}
			switch o.F {
			case "append":
				v, _ := o.Value.(float64)
				s.lists[o.Key] = append(s.lists[o.Key], int64(v))
				out[i]["value"] = int64(v)
			case "r":
				if l, ok := s.lists[o.Key]; ok {
					out[i]["value"] = append([]int64{}, l...)
				} else {
					out[i]["value"] = nil
				}
			}
		}
		reply(w, 200, map[string]any{"ops": out})
	}))
	m.HandleFunc("POST /rw-txn", s.handle(func() any { return &txnReq{} }, func(w http.ResponseWriter, _ *http.Request, in any) {
		ops := in.(*txnReq).Ops
		out := make([]map[string]any, len(ops))
		for i, o := range ops {
			out[i] = map[string]any{"f": o.F, "key": o.Key}
			switch o.F {
			case "w":
				v, _ := o.Value.(float64)
				s.regs[o.Key] = int64(v)
				out[i]["value"] = int64(v)
			case "r":
				if v, ok := s.regs[o.Key]; ok {
					out[i]["value"] = v
				} else {
					out[i]["value"] = nil
				}
			}
		}
		reply(w, 200, map[string]any{"ops": out})
	}))
	m.HandleFunc("POST /queue/enqueue", s.handle(func() any { return &enqueueReq{} }, func(w http.ResponseWriter, _ *http.Request, in any) {
		s.queue = append(s.queue, in.(*enqueueReq).ID)
		reply(w, 200, nil)
	}))
	m.HandleFunc("POST /queue/dequeue", s.handle(func() any { return &dequeueReq{} }, func(w http.ResponseWriter, _ *http.Request, in any) {
		req := in.(*dequeueReq)
		n := min(max(req.Max, 1), len(s.queue))
		ids := append([]int64{}, s.queue[:n]...)
		s.queue = s.queue[n:]
		for _, id := range ids {
			s.pending[id] = req.Consumer
		}
		reply(w, 200, map[string]any{"ids": ids})
	}))
	m.HandleFunc("POST /queue/ack", s.handle(func() any { return &idsBody{} }, func(w http.ResponseWriter, _ *http.Request, in any) {
		req := in.(*idsBody)
		for _, id := range *req.IDs {
			if c, ok := s.pending[id]; ok && c != req.Consumer {
				no(w, "delivered to another consumer")
				return
			}
		}
		for _, id := range *req.IDs {
			delete(s.pending, id)
		}
		reply(w, 200, nil)
	}))
	m.HandleFunc("POST /queue/drain", s.handle(func() any { return &dequeueReq{} }, func(w http.ResponseWriter, _ *http.Request, _ any) {
		ids := append([]int64{}, s.queue...)
		for id := range s.pending {
			ids = append(ids, id)
		}
		s.queue, s.pending = nil, map[int64]string{}
		reply(w, 200, map[string]any{"ids": ids})
	}))
	m.HandleFunc("POST /lock/{name}/acquire", s.handle(func() any { return &acquireReq{} }, func(w http.ResponseWriter, r *http.Request, in any) {
		req, name := in.(*acquireReq), r.PathValue("name")
		if l, ok := s.locks[name]; ok && time.Now().Before(l.until) {
			no(w, "held by "+l.owner)
			return
		}
		s.token++
		s.locks[name] = refLock{req.Owner, time.Now().Add(time.Duration(req.TTLMS) * time.Millisecond)}
		reply(w, 200, map[string]any{"token": s.token})
	}))
	m.HandleFunc("POST /lock/{name}/release", s.handle(func() any { return &ownerReq{} }, func(w http.ResponseWriter, r *http.Request, in any) {
		name := r.PathValue("name")
		if l, ok := s.locks[name]; !ok || l.owner != in.(*ownerReq).Owner || !time.Now().Before(l.until) {
			no(w, "not held")
			return
		}
		delete(s.locks, name)
		reply(w, 200, nil)
	}))
	m.HandleFunc("POST /log/send", s.handle(func() any { return &logSendReq{} }, func(w http.ResponseWriter, _ *http.Request, in any) {
		req := in.(*logSendReq)
		s.logs[req.Key] = append(s.logs[req.Key], req.Msg)
		reply(w, 200, map[string]any{"offset": len(s.logs[req.Key]) - 1})
	}))
	m.HandleFunc("POST /log/poll", s.handle(func() any { return &logOffsetsBody{} }, func(w http.ResponseWriter, _ *http.Request, in any) {
		msgs := map[string][][2]int64{}
		for k, from := range *in.(*logOffsetsBody).Offsets {
			for off := max(from, 0); off < int64(len(s.logs[k])); off++ {
				msgs[k] = append(msgs[k], [2]int64{off, s.logs[k][off]})
			}
		}
		reply(w, 200, map[string]any{"msgs": msgs})
	}))
	m.HandleFunc("POST /log/commit", s.handle(func() any { return &logOffsetsBody{} }, func(w http.ResponseWriter, _ *http.Request, in any) {
		for k, off := range *in.(*logOffsetsBody).Offsets {
			if old, ok := s.commits[k]; !ok || off > old {
				s.commits[k] = off
			}
		}
		reply(w, 200, nil)
	}))
	m.HandleFunc("POST /log/committed", s.handle(func() any { return &logKeysReq{} }, func(w http.ResponseWriter, _ *http.Request, in any) {
		offs := map[string]int64{}
		for _, k := range in.(*logKeysReq).Keys {
			if off, ok := s.commits[k]; ok {
				offs[k] = off
			}
		}
		reply(w, 200, map[string]any{"offsets": offs})
	}))
	m.HandleFunc("POST /echo", s.handle(func() any { return &map[string]any{} }, func(w http.ResponseWriter, _ *http.Request, in any) {
		reply(w, 200, map[string]any{"echo": (*in.(*map[string]any))["echo"]})
	}))
	m.HandleFunc("POST /ids", s.handle(nil, func(w http.ResponseWriter, _ *http.Request, _ any) {
		s.lastID++
		reply(w, 200, map[string]any{"id": s.lastID})
	}))
	return m
}
