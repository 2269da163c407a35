package linear

import "github.com/faultline/faultline/models"

// Models returns the linearizability models of this package, for the
// catalog.
func Models() models.Registry {
	entry := func(name, summary string) models.Entry {
		return models.Entry{Summary: summary, New: func() models.Checker { return &Checker{Model: name} }}
	}
	return models.Registry{
		CASRegister: entry(CASRegister, "linearizable compare-and-set register per key: read, write, cas [old new] (own search; porcupine on request)"),
		Register:    entry(Register, "linearizable read/write register per key (own search; porcupine on request)"),
		KV:          entry(KV, "linearizable key-value store: a cas-register per key, keyed by the op's key or Jepsen's [k v] tuples (own search; porcupine on request)"),
		Mutex:       entry(Mutex, "linearizable mutex per key: acquire, release by an owner (the op's value, else its process); never held twice (porcupine)"),
		FIFOQueue:   entry(FIFOQueue, "linearizable FIFO queue per key: enqueue v, dequeue → the head, or nil when empty (porcupine)"),
		Set:         entry(Set, "linearizable grow-only set per key: add v, read → every element (porcupine)"),
		Counter:     entry(Counter, "linearizable counter per key from 0: add delta, read → the sum (porcupine)"),
	}
}
