package workloads

import (
	"testing"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/counter"
)

// TestCounterHistoriesAgainstCheckers: a correct counter is valid, also
// with timeouts and refusals; one that drops acknowledged increments is
// caught by reads below their lower bound.
func TestCounterHistoriesAgainstCheckers(t *testing.T) {
	runCases(t, []workloadCase{
		{name: "correct", wl: Counter{}, workers: 6, ops: 200, want: models.Valid},
		{name: "correct, flaky", wl: Counter{}, flaky: true, workers: 6, ops: 200, want: models.Valid},
		{name: "lost increments", wl: Counter{}, bug: "lose-increment", workers: 6, ops: 200, want: models.Invalid, caught: counter.Name, kind: counter.AnomalyKind},
	})
}
