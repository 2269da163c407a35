package history

import (
	"encoding/json"
	"slices"
	"strings"
)

// Outcome says whether one fault injection took effect, as the history
// records it.
type Outcome string

// Outcomes of a fault's start.
const (
	// Effective: the start completed without error: the fault held on
	// every node it meant to act on.
	Effective Outcome = "effective"
	// Partial: the start failed on some of its nodes (its completion's
	// Failed) but took effect on others.
	Partial Outcome = "partial"
	// Failed: the fault took effect nowhere, or the record does not say
	// where it did (an Error without a list of failed nodes, as in
	// histories written before the nuker recorded Failed).
	Failed Outcome = "failed"
	// Unfinished: the history ends before the start's completion, or the
	// run ended while it was being injected (its Error starts with
	// CutShort): whether it took effect is unknown, and by chance, not
	// because its mechanism failed.
	Unfinished Outcome = "unfinished"
)

// CutShort begins the Error of a fault start that failed because the run
// (its context) ended during the injection.
const CutShort = "cut short by the end of the run: "

// StartOutcome classifies the completion done of the fault start inv.
//
// The rule: no Error and no Failed nodes is Effective. Otherwise the
// fault took effect on the nodes it meant to act on minus done.Failed:
// some left is Partial, none left (or no Failed list, so the record
// cannot say where it worked) is Failed. For a partition, the nodes it
// meant to act on are the grudge's dropping nodes (a one-way partition's
// other side installs nothing that matters); for other faults they are
// the completion's Nodes.
func StartOutcome(inv, done Op) Outcome {
	if done.Error == "" && len(done.Failed) == 0 {
		return Effective
	}
	if strings.HasPrefix(done.Error, CutShort) {
		return Unfinished
	}
	if len(done.Failed) == 0 {
		return Failed
	}
	meant := done.Nodes
	if kind, _ := faultKind(done.F, StartPrefix); kind == "partition" {
		if d := droppers(inv.Value); len(d) > 0 {
			meant = d
		}
	}
	if len(meant) == 0 {
		meant = inv.Nodes
	}
	for _, n := range meant {
		if !slices.Contains(done.Failed, n) {
			return Partial
		}
	}
	return Failed
}

// droppers returns the nodes that drop traffic in a partition start's
// invoke value {"partition": kind, "grudge": {node: [nodes dropped]}},
// whatever its in-memory shape (it may have gone through JSON).
func droppers(v any) []string {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var x struct {
		Grudge map[string][]string `json:"grudge"`
	}
	if json.Unmarshal(b, &x) != nil {
		return nil
	}
	var out []string
	for a, bs := range x.Grudge {
		if len(bs) > 0 {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return out
}

// FaultTally counts one fault kind's injections in a history.
type FaultTally struct {
	Kind string `json:"kind"`
	// Requested is the number of starts invoked; each ended Effective,
	// Partial, Failed or Unfinished (see StartOutcome).
	Requested  int `json:"requested"`
	Effective  int `json:"effective"`
	Partial    int `json:"partial"`
	Failed     int `json:"failed"`
	Unfinished int `json:"unfinished,omitempty"`
	// UndoFailed is the number of stops (heals) that reported an error.
	UndoFailed int `json:"undo_failed"`
	// FirstError is the error of the first start that failed, wholly or
	// partly.
	FirstError string `json:"first_error,omitempty"`
}

// TookEffect reports whether at least one injection of the kind took
// effect, on all or some of its nodes.
func (t FaultTally) TookEffect() bool { return t.Effective+t.Partial > 0 }

// CountFaults tallies the nuker's fault injections per kind, in order of
// the kind's first start. It reads only the history, so a stored run
// counts the same when checked again.
func CountFaults(ops []Op) []FaultTally {
	var out []FaultTally
	at := map[string]int{}     // kind -> index into out
	pending := map[string]Op{} // kind -> start invoked, not yet completed
	tally := func(kind string) *FaultTally {
		i, ok := at[kind]
		if !ok {
			out = append(out, FaultTally{Kind: kind})
			i = len(out) - 1
			at[kind] = i
		}
		return &out[i]
	}
	for _, op := range ops {
		if op.Process != Nuker {
			continue
		}
		if kind, ok := faultKind(op.F, StartPrefix); ok {
			t := tally(kind)
			if op.Type == Invoke {
				if _, open := pending[kind]; open {
					t.Unfinished++ // invoked again without a completion
				}
				t.Requested++
				pending[kind] = op
				continue
			}
			inv, open := pending[kind]
			if !open { // a completion alone still reports an attempt
				t.Requested++
			}
			delete(pending, kind)
			switch StartOutcome(inv, op) {
			case Effective:
				t.Effective++
			case Partial:
				t.Partial++
			case Failed:
				t.Failed++
			case Unfinished:
				t.Unfinished++
			}
			if op.Error != "" && t.FirstError == "" {
				t.FirstError = op.Error
			}
		} else if kind, ok := faultKind(op.F, StopPrefix); ok && op.Type != Invoke {
			if op.Error != "" || len(op.Failed) > 0 {
				tally(kind).UndoFailed++
			}
		}
	}
	for kind := range pending {
		out[at[kind]].Unfinished++
	}
	return out
}
