package history

import (
	"encoding/json"
	"slices"
)

// Node information ops. Besides faults, process Nuker records what the
// controller observed about the nodes, as lone info ops (no invocation) that
// checkers ignore like every nuker op:
//
//	info primaries     Value: the nodes acting as leader or primary, sorted
//	                   (written when the answer changes, polled about once a second)
//	info clock-offsets Value: {node: offset in milliseconds} (clock faults)
//	info version       Nodes: [node], Value: {"node", "from", "to"}: the node's
//	                   process came up on release "to" (upgrade faults)
const (
	PrimariesF    = "primaries"
	ClockOffsetsF = "clock-offsets"
	VersionF      = "version"
)

// PrimariesOf returns the nodes named by a primaries op, and whether op is
// one.
func PrimariesOf(op Op) ([]string, bool) {
	if op.Process != Nuker || op.F != PrimariesF || op.Type == Invoke {
		return nil, false
	}
	switch v := op.Value.(type) {
	case nil:
		return []string{}, true
	case []string:
		return slices.Clone(v), true
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out, true
	}
	return nil, false
}

// ClockOffsetsOf returns the offset in milliseconds of each node named by a
// clock-offsets op, and whether op is one. Offsets of any numeric type are
// accepted; entries that are not numbers are left out.
func ClockOffsetsOf(op Op) (map[string]float64, bool) {
	if op.Process != Nuker || op.F != ClockOffsetsF || op.Type == Invoke || op.Value == nil {
		return nil, false
	}
	// The value is a map decoded from JSON (json.Number values) or one the
	// nuker built in memory; a JSON round trip reads both.
	b, err := json.Marshal(op.Value)
	if err != nil {
		return nil, false
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, false
	}
	out := make(map[string]float64, len(raw))
	for n, r := range raw {
		var f float64
		if json.Unmarshal(r, &f) == nil {
			out[n] = f
		}
	}
	return out, true
}
