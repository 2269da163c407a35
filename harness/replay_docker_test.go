package harness

import (
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/harness/docker/dockerenv"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/models/history"
)

// faultInputs returns what the nuker decided for each fault (start
// invocations: kind and value), the part a replay must reproduce.
func faultInputs(t *testing.T, dir string) []string {
	t.Helper()
	ops, err := history.ReadFile(filepath.Join(dir, HistoryFile))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, op := range ops {
		if op.Process == history.Nuker && op.Type == history.Invoke && strings.HasPrefix(op.F, history.StartPrefix) {
			b, _ := json.Marshal(op.Value)
			out = append(out, op.F+" "+string(b))
		}
	}
	return out
}

// TestReplayReproducesFaultSchedule: --replay of a stored run injects the
// same faults on the same nodes in the same order, with the same seed.
func TestReplayReproducesFaultSchedule(t *testing.T) {
	dockerenv.NeedDocker(t)
	if testenv.Short() {
		t.Skip("long Docker run skipped with -short")
	}
	spec := e2eSpec(t, "etcd-replay")
	spec.Nodes = 3
	spec.TimeLimit = Duration(14 * time.Second)
	spec.NemesisInterval = Duration(2 * time.Second)
	spec.RecoveryWait = Duration(time.Second)
	spec.Seed = 0 // drawn and recorded, as a user's run would be
	first, err := Run(context.Background(), spec, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	want := faultInputs(t, first.Dir)
	if len(want) < 2 {
		t.Fatalf("only %d faults in the original run", len(want))
	}
	rspec, err := ReplaySpec(first.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if rspec.Seed != first.Results.Run.Seed {
		t.Errorf("replay seed %d, original %d", rspec.Seed, first.Results.Run.Seed)
	}
	rspec.Store = spec.Store
	second, err := Run(context.Background(), rspec, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	got := faultInputs(t, second.Dir)
	// The replay may fit one fault more or less in the time limit; the
	// common prefix must match exactly.
	n := min(len(want), len(got))
	if n < len(want)-1 || !reflect.DeepEqual(want[:n], got[:n]) {
		t.Errorf("replayed faults differ:\n got %v\nwant %v", got, want)
	}
	if second.Results.Run.ReplayOf == "" {
		t.Error("replayed run does not record what it replayed")
	}
	t.Logf("replayed %d faults: %v", n, got[:n])
}
