package catalog

import (
	"strings"
	"testing"

	"github.com/faultline/faultline/models"
)

// TestDefault: every model is listed once with a one-line summary, builds a
// checker that names its model, and judges an empty history without error.
func TestDefault(t *testing.T) {
	r := Default()
	names := r.Names()
	for _, want := range []string{
		"cas-register", "register", "kv", "mutex", "fifo-queue", "set-linearizable", "counter-linearizable",
		"sequential", "sequential-whole", "read-your-writes", "monotonic-reads", "monotonic-writes",
		"writes-follow-reads", "session", "convergence", "set", "counter", "bank", "queue", "lock",
		"fencing", "list-append", "rw-register", "elle", "kafka", "echo", "unique-ids",
	} {
		if _, err := r.Lookup(want); err != nil {
			t.Errorf("model %s missing: %v", want, err)
		}
	}
	for _, name := range names {
		e := r[name]
		if e.Summary == "" || strings.Contains(e.Summary, "\n") {
			t.Errorf("%s: summary %q is not one line", name, e.Summary)
		}
		c := e.New()
		if c.Name() == "" {
			t.Errorf("%s: checker without a name", name)
		}
		res := c.Check(t.Context(), nil, models.Options{})
		if res.Verdict == models.Invalid {
			t.Errorf("%s: an empty history is invalid: %s", name, res.Reason)
		}
	}
	if _, err := r.Lookup("teapot"); err == nil || !strings.Contains(err.Error(), "cas-register") {
		t.Errorf("unknown model: %v", err)
	}
}
