package maelstrom

// strictOf names, for Maelstrom's eventually consistent counters, the
// stricter faultline workload a node may also be run with: the counter
// workload bounds every read in real time, which a node whose counter is
// linearizable passes and a CRDT usually does not. By default
// (workloadOf) the counters are judged as Maelstrom judges them, by their
// final reads only.
var strictOf = map[string]string{
	"g-counter":  "counter",
	"pn-counter": "counter",
}
