package catalog

import (
	"strings"
	"testing"

	"github.com/faultline/faultline/models"
)

func TestDefault(t *testing.T) {
	r := Default()
	want := []string{"cas-register", "register"}
	if got := r.Names(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("names %v, want %v", got, want)
	}
	for _, name := range want {
		e, err := r.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		if e.Summary == "" || strings.Contains(e.Summary, "\n") {
			t.Errorf("%s: summary %q is not one line", name, e.Summary)
		}
		c := e.New()
		if c.Name() != "linearizable" {
			t.Errorf("%s: checker %q", name, c.Name())
		}
		if res := c.Check(t.Context(), nil, models.Options{}); res.Model != name {
			t.Errorf("%s: result model %q", name, res.Model)
		}
	}
	if _, err := r.Lookup("queue"); err == nil || !strings.Contains(err.Error(), "cas-register") {
		t.Errorf("unknown model: %v", err)
	}
}
