package history

// Call is one client operation: the positions in the history of its
// invocation and completion (Done is -1 when it never completed) and its
// outcome (Info also when it never completed: it may have happened).
type Call struct {
	Inv, Done int
	Type      Type
}

// Pair matches each client invocation with the next completion of the same
// process and f, in history order, as Validate expects. at maps every
// position of a paired client op to its index in calls, and -1 elsewhere
// (nuker ops, ops of unknown type, and completions Pair cannot pair, which
// are counted in unmatched: those with no pending invocation, and those
// whose f is not their pending invocation's, which stays pending). Validate
// reports all of these; a history it finds unjudgeable has no verdict.
func Pair(ops []Op) (calls []Call, at []int32, unmatched int) {
	at = make([]int32, len(ops))
	// About half the entries are invocations.
	calls = make([]Call, 0, len(ops)/2+1)
	pending := map[Process]int32{}
	for pos := range ops {
		at[pos] = -1
		op := &ops[pos]
		if !op.IsClient() || !op.Type.Valid() {
			continue
		}
		if op.Type == Invoke {
			// An earlier invocation of the process that is still pending
			// never completed; it keeps Done -1.
			pending[op.Process] = int32(len(calls))
			at[pos] = int32(len(calls))
			calls = append(calls, Call{Inv: pos, Done: -1, Type: Info})
			continue
		}
		i, ok := pending[op.Process]
		if !ok || ops[calls[i].Inv].F != op.F {
			unmatched++
			continue
		}
		delete(pending, op.Process)
		calls[i].Done, calls[i].Type = pos, op.Type
		at[pos] = i
	}
	return calls, at, unmatched
}
