package docker

import (
	"testing"

	"github.com/faultline/faultline/harness/node"
)

// TestToolsOf: a node without a helper runs its own tools (and its nil
// helper is no typed nil in an interface); one with a helper runs them there.
func TestToolsOf(t *testing.T) {
	plain := &Node{name: "n1"}
	helper := &Node{name: "n2" + toolsHelperSuffix}
	tooled := &Node{name: "n2", tools: helper}
	for _, tt := range []struct {
		n    node.Node
		want node.Node
	}{
		{plain, plain},
		{tooled, helper},
	} {
		if got := node.ToolsOf(tt.n); got != tt.want {
			t.Errorf("ToolsOf(%s) = %v, want %v", tt.n.Name(), got.Name(), tt.want.Name())
		}
	}
}
