// Package linear checks histories of objects for linearizability: the
// register models (register, cas-register, kv) with its own search
// (search.go), which scales to a million history entries on one key, and
// the others with github.com/anishathalye/porcupine. Checker.Porcupine
// forces porcupine for every model; porcupine also stays the reference the
// own search is tested against, and draws the visualization.
//
// A history is linearizable (Herlihy & Wing, "Linearizability: A
// Correctness Condition for Concurrent Objects", TOPLAS 1990) when its ops
// can be put in one total order that is a legal sequential history of the
// object and respects real time: an op that completed before another was
// invoked comes first. Each object model is a Spec, its sequential
// specification; package sequential checks the same specs for sequential
// consistency.
//
// Ops are partitioned by their Key (ops without a key are one object) and
// each key is checked on its own: linearizability is local (Herlihy & Wing,
// Theorem 1), so the history is linearizable exactly when every key is,
// and a key that times out does not hide another key's verdict.
//
// Jepsen's semantics of outcomes apply: an ok op took effect between its
// invocation and its completion; a fail op certainly did not take effect and
// is dropped (as Knossos does); an info op, or one that never completed
// because the run was cut short, may have taken effect at any time after its
// invocation or not at all, so it returns after every other op and its step
// is possible in every state. Read-only ops of unknown outcome constrain
// nothing and are dropped. Positions in the history are the clock, as in
// Jepsen's checkers.
//
// # Models and op shapes
//
// Op shapes follow Jepsen's workloads, as faultline's JSON history and the
// EDN importer present them (keywords as strings, vectors and sets as
// lists, integers as int64 or JSON numbers). F is the op's function; the
// value is the invocation's unless a result is named.
//
//	cas-register  read (ok value: int, or nil when unset); write int;
//	              cas [old new] (ok: swapped; a cas that did not match fails)
//	register      read, write as above; no cas
//	kv            a cas-register per key. The key is the op's Key or, for
//	              ops without one, taken from the [key value] tuples of
//	              Jepsen's independent workloads: write [k v],
//	              cas [k [old new]], read [k nil] with ok value [k v]
//	mutex         acquire, release. The owner is the op's value (an integer
//	              or string naming a client or session) or, when the value
//	              is nil, the process. An ok acquire means its owner holds
//	              the lock; an ok release means its owner held it and freed
//	              it. Not reentrant: an acquire while held, or a release by
//	              a non-owner or of a free lock, is invalid
//	fifo-queue    enqueue int; dequeue (ok value: the head, removed, or nil
//	              when the queue was empty)
//	set-linearizable
//	              add int; read (ok value: list of every element; nil is
//	              empty). The set only grows
//	counter-linearizable
//	              add int (a delta, which may be negative); read (ok value:
//	              int). The counter starts at 0
//
// Faultline's workers continue as a new process after an info op, as
// Jepsen's do, so a mutex owned by process is lost to the worker when its
// acquire is indeterminate: workloads that track the holder across that
// should name the owner in the value.
//
// An invalid key yields one anomaly: a textbook anomaly proved from a few
// ops and real time when there is one (a stale read, a lock held twice, an
// unexpected or duplicate dequeue, a lost add, a counter read out of
// bounds), otherwise the op that cannot follow the longest linearizable
// prefix the search found (porcupine's, run again on the key when it has
// at most 1,000 ops).
package linear
