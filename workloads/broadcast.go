package workloads

// Broadcast is Maelstrom's broadcast workload (and, with GSet, its g-set
// workload): the set workload's traffic, judged as Maelstrom judges it.
// Every acknowledged element must be in the final reads of every node
// (nothing lost, all converge); reads during the run may be stale. Unlike
// the set workload, reads are not held to session guarantees: an
// eventually consistent broadcast may show a later add before an earlier
// one it came after (two messages on two links), which Maelstrom allows.
//
// History: as Set.
type Broadcast struct {
	Set
	// GSet names the workload g-set instead of broadcast; the judging is
	// the same, only the request vocabulary a target speaks differs.
	GSet bool
}

// Name implements Workload.
func (b Broadcast) Name() string {
	if b.GSet {
		return "g-set"
	}
	return "broadcast"
}

// Summary implements Workload.
func (b Broadcast) Summary() string {
	return "Maelstrom's " + b.Name() + ": the set workload's adds and reads, judged as Maelstrom does: nothing acknowledged lost, every node converges; stale reads counted, no session guarantees"
}

// Models implements Workload.
func (Broadcast) Models() []string { return []string{"set", "convergence"} }
