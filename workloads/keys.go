package workloads

import (
	"math/rand/v2"
	"strconv"

	"github.com/faultline/faultline/models/history"
)

// keyGroups is Jepsen's independent generator for the set, counter and lock
// workloads: each group of ThreadsPerKey workers shares a key for OpsPerKey
// ops, then moves to a fresh one, so each key's history stays small enough
// to check. Callers hold their generator's mutex.
type keyGroups struct {
	opsPerKey, threadsPerKey int
	groups                   map[int]*keyGroup
	order                    []string // keys in order of first use
	next                     int
}

// newKeyGroups applies cfg, with defOps ops per key when cfg sets none.
func newKeyGroups(cfg Config, defOps int) *keyGroups {
	k := &keyGroups{opsPerKey: cfg.OpsPerKey, threadsPerKey: cfg.ThreadsPerKey, groups: map[int]*keyGroup{}}
	if k.opsPerKey <= 0 {
		k.opsPerKey = defOps
	}
	if k.threadsPerKey <= 0 {
		k.threadsPerKey = min(DefaultThreadsPerKey, max(cfg.Concurrency, 1))
	}
	return k
}

// key returns worker w's key for its next op, counting the op; fresh is
// true when the group has just moved to a new key.
func (k *keyGroups) key(w int) (key string, fresh bool) {
	gid := w / k.threadsPerKey
	grp := k.groups[gid]
	if grp == nil || grp.ops >= k.opsPerKey {
		grp = &keyGroup{key: strconv.Itoa(k.next)}
		k.next++
		k.groups[gid] = grp
		k.order = append(k.order, grp.key)
		fresh = true
	}
	grp.ops++
	return grp.key, fresh
}

// finalReads returns one invocation of f per key used, for Generator.Final.
func (k *keyGroups) finalReads(f string) []history.Op {
	out := make([]history.Op, 0, len(k.order))
	for _, key := range k.order {
		out = append(out, history.Op{Type: history.Invoke, F: f, Key: key})
	}
	return out
}

// pick returns a uniformly random element of xs (xs is not empty).
func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }
