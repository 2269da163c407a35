package linear

import (
	"fmt"

	"github.com/anishathalye/porcupine"
)

// staleRead looks for the plainest proof of a nonlinearizable key: a read
// that returned a value which, before the read was even invoked, had been
// overwritten by a write that itself began after the value's own write had
// completed. Real time alone then forces the overwrite between the two, so
// the read is stale in every order. It needs the value read to be written
// by exactly one op (the register workload writes unique values); when
// there is no such witness it returns false and explain falls back to
// porcupine's longest linearizable prefix.
func staleRead(kh *keyHistory) (read, src, over int, ok bool) {
	type writer struct {
		id       int
		val      int64
		definite bool // completed ok: its effect and return are known
	}
	var writers []writer
	byVal := map[int64][]int{} // value -> ids of ops that may write it
	for id, o := range kh.ops {
		in, out := o.Input.(input), o.Output.(output)
		var v int64
		switch in.kind {
		case opWrite:
			v = in.arg
		case opCAS:
			v = in.arg2
		default:
			continue
		}
		writers = append(writers, writer{id, v, !out.unknown})
		byVal[v] = append(byVal[v], id)
	}
	read = -1
	for id, o := range kh.ops {
		in, out := o.Input.(input), o.Output.(output)
		if in.kind != opRead || out.unknown {
			continue
		}
		// The value read came from srcOp, or is the initial nil (srcOp nil).
		var srcOp *porcupine.Operation
		s := -1
		if out.set {
			ids := byVal[out.val]
			if len(ids) != 1 || kh.ops[ids[0]].Output.(output).unknown {
				continue
			}
			s = ids[0]
			srcOp = &kh.ops[s]
		}
		for _, w := range writers {
			wo := kh.ops[w.id]
			if !w.definite || w.id == s || (out.set && w.val == out.val) {
				continue
			}
			if wo.Return < o.Call && (srcOp == nil || srcOp.Return < wo.Call) {
				if read < 0 || o.Return < kh.ops[read].Return {
					read, src, over, ok = id, s, w.id, true
				}
				break
			}
		}
	}
	return read, src, over, ok
}

// staleAnomaly describes the witness found by staleRead.
func staleAnomaly(kh *keyHistory, name func(porcupine.Operation) string, read, src, over int) (string, []int) {
	r := kh.ops[read]
	ids := []int{read, over}
	if src < 0 {
		return fmt.Sprintf("Stale read on %s: %s, but %s had completed before the read began, so the register could no longer be unset",
			kh.label(), name(r), name(kh.ops[over])), ids
	}
	ids = append(ids, src)
	val := r.Output.(output).val
	return fmt.Sprintf("Stale read on %s: %s, but %d had been overwritten by %s, which completed before the read began and started after %s had completed",
		kh.label(), name(r), val, name(kh.ops[over]), name(kh.ops[src])), ids
}
