package zookeeper

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/targets/targettest"
	"github.com/faultline/faultline/workloads"
)

// TestDialWorkloads: the client serves every workload Dial claims.
func TestDialWorkloads(t *testing.T) {
	targettest.ServesWorkloads(t, &Client{}, DialWorkloads())
}

// TestDialRefusesOptions: a bad option is refused before any connection.
func TestDialRefusesOptions(t *testing.T) {
	for _, opts := range []map[string]string{{"reads": "fast"}, {"root": "/x"}} {
		c, err := Dial(context.Background(), "127.0.0.1:1", opts)
		if err == nil {
			c.Close()
			t.Errorf("Dial(%v) accepted", opts)
			continue
		}
		if !strings.HasPrefix(err.Error(), "zookeeper: ") || strings.Contains(err.Error(), "connect") {
			t.Errorf("Dial(%v): %v; want the option's refusal", opts, err)
		}
	}
}

// TestCASLooksUpVersion: a client that may look a version up tries to
// read it when it knows none (the server here refuses, so the cas fails
// definitely, unanswered); the target's own clients send nothing.
func TestCASLooksUpVersion(t *testing.T) {
	s := defaultSettings()
	for _, lookup := range []bool{false, true} {
		c := newClient("x", "127.0.0.1:1", s, &workloads.Versions[int32]{}, lookup, slog.New(slog.DiscardHandler))
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, err := c.CAS(ctx, "1", 4, 5)
		cancel()
		tried := c.conn != nil
		c.Close()
		if !workloads.IsDefinite(err) || workloads.IsAnswered(err) {
			t.Errorf("lookup=%v: cas %v; want definite, unanswered", lookup, err)
		}
		if tried != lookup {
			t.Errorf("lookup=%v: connected %v", lookup, tried)
		}
	}
}
