package workloads

import (
	"context"
	"testing"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/echo"
)

// Echo against the fake store: the message back, or with bug "bad-echo"
// every seventh op another message.
func (c *fakeClient) Echo(_ context.Context, msg string) (any, error) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if refuse, timeout := s.step(); refuse || timeout {
		return nil, errFakeTimeout
	}
	if s.every("bad-echo", 7) {
		return msg + "!", nil
	}
	return msg, nil
}

var _ EchoClient = (*fakeClient)(nil)

// TestEchoHistoriesAgainstCheckers: a correct echo is valid, also with
// timeouts; one that garbles replies is caught.
func TestEchoHistoriesAgainstCheckers(t *testing.T) {
	runCases(t, []workloadCase{
		{name: "correct", wl: Echo{}, workers: 4, ops: 100, want: models.Valid},
		{name: "correct, flaky", wl: Echo{}, flaky: true, workers: 4, ops: 100, want: models.Valid},
		{name: "garbled replies", wl: Echo{}, bug: "bad-echo", workers: 4, ops: 100, want: models.Invalid, caught: echo.Name, kind: echo.AnomalyKind},
	})
}
