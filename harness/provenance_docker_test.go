package harness

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/harness/docker/dockerenv"
	"github.com/faultline/faultline/internal/testenv"
)

// TestRunRecordsProvenance: a real (short, fault-free) etcd run records in
// results.json the faultline build, etcd's version and the node image
// with its recipe hash, the tag of the image the containers ran.
func TestRunRecordsProvenance(t *testing.T) {
	dockerenv.NeedDocker(t)
	if testenv.Short() {
		t.Skip("Docker run skipped with -short")
	}
	spec := e2eSpec(t, "etcd-provenance")
	spec.TimeLimit = Duration(3 * time.Second)
	spec.Nemesis = nil
	out, err := Run(context.Background(), spec, testOptions(t))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(out.Dir, ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	var res Results
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	p := res.Run.Provenance
	if p == nil {
		t.Fatalf("results.json has no run.provenance:\n%s", b)
	}
	if p.Faultline.Version == "" || p.Faultline.Go == "" || p.Target != "etcd" || p.TargetVersion == "" || p.TargetVersion != res.Run.TargetVersion {
		t.Errorf("provenance %+v", p)
	}
	if len(p.Images) != 1 || p.Images[0].Role != "node" || !strings.HasPrefix(p.Images[0].Ref, "faultline/etcd:") ||
		len(p.Images[0].RecipeHash) < 8 || !strings.HasSuffix(p.Images[0].Ref, ":"+p.Images[0].RecipeHash) {
		t.Errorf("images %+v", p.Images)
	}
	t.Logf("provenance: %s", b[strings.Index(string(b), `"provenance"`):][:300])
}
