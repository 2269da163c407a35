package workloads

import "sync"

// Versions remembers, per register key, the version (revision, znode data
// version, ...) that holds each value a client wrote or read. Register
// values are unique per key, so a target whose compare-and-set is
// conditioned on a version can turn cas(old, new) into one conditional
// write: the version that holds old is the only one that ever did. Safe
// for concurrent use by every worker of a run.
type Versions[V any] struct {
	mu sync.Mutex
	m  map[string]map[int64]V
}

// Remember records that version v of key holds value.
func (s *Versions[V]) Remember(key string, value int64, v V) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]map[int64]V{}
	}
	byValue := s.m[key]
	if byValue == nil {
		byValue = map[int64]V{}
		s.m[key] = byValue
	}
	byValue[value] = v
}

// Of returns the version of key that holds value, if one was remembered.
func (s *Versions[V]) Of(key string, value int64) (V, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key][value]
	return v, ok
}
