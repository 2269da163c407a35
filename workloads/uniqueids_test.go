package workloads

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/uniqueids"
)

// GenerateID against the fake store: the count of ops served so far,
// unique; as a string every other op, so ids of both types meet. Bug
// "reuse-id" hands every fifth op the id of ten ops earlier, as a node
// whose counter a restart set back would.
func (c *fakeClient) GenerateID(context.Context) (any, error) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	refuse, timeout := s.step()
	if refuse {
		return nil, errFakeRefused
	}
	n := s.n
	if s.every("reuse-id", 5) && n > 10 {
		n -= 10
	}
	if timeout {
		return nil, errFakeTimeout
	}
	if n%2 == 0 {
		return fmt.Sprintf("id-%d", n), nil
	}
	return json.Number(fmt.Sprint(n)), nil
}

var _ IDClient = (*fakeClient)(nil)

// TestUniqueIDsHistoriesAgainstCheckers: unique ids are valid, also with
// refusals and timeouts; ids handed out twice are caught.
func TestUniqueIDsHistoriesAgainstCheckers(t *testing.T) {
	runCases(t, []workloadCase{
		{name: "correct", wl: UniqueIDs{}, workers: 6, ops: 100, want: models.Valid},
		{name: "correct, flaky", wl: UniqueIDs{}, flaky: true, workers: 6, ops: 100, want: models.Valid},
		{name: "reused ids", wl: UniqueIDs{}, bug: "reuse-id", workers: 6, ops: 100, want: models.Invalid, caught: uniqueids.Name, kind: uniqueids.AnomalyKind},
	})
}
