package targetfile

import (
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/faultline/faultline/harness"
	"github.com/faultline/faultline/harness/docker/dockerenv"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/targets/catalog"
	"github.com/faultline/faultline/targets/protocols"
	"github.com/faultline/faultline/targets/targettest"
	"github.com/faultline/faultline/workloads"
)

// TestStatic runs the target kit's static checks on every example file.
func TestStatic(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) < 4 {
		t.Fatalf("testdata: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			tg, err := Load(f, fakeProtocols())
			if err != nil {
				t.Fatal(err)
			}
			targettest.Static(t, tg)
		})
	}
}

// The example files for shipped protocols load with the real catalog, and
// serve what the real protocol serves.
func TestExamplesWithShippedProtocols(t *testing.T) {
	tests := []struct {
		file      string
		workloads []string
		opts      map[string]string // what a client is dialled with
	}{
		{"testdata/etcd.yaml", []string{"register", "set", "lock"}, map[string]string{"read": "linearizable"}},
		{"testdata/kvsvc.yaml", []string{"register", "set", "counter"}, map[string]string{}},
	}
	for _, tt := range tests {
		tg, err := Load(tt.file, protocols.Default())
		if err != nil {
			t.Fatalf("%s: %v", tt.file, err)
		}
		if got := tg.Workloads(); !reflect.DeepEqual(got, tt.workloads) {
			t.Errorf("%s: workloads %v, want %v", tt.file, got, tt.workloads)
		}
		if got := baseOf(tg).protoOpts; !reflect.DeepEqual(got, tt.opts) {
			t.Errorf("%s: protocol options %v, want %v", tt.file, got, tt.opts)
		}
	}
}

// TestConformanceEtcdFile runs the target kit on testdata/etcd.yaml in
// Docker, through the shipped etcd protocol: the file's etcd builds (the
// built-in target's image: the same software), gets healthy by its
// /health, survives kill and pause of its daemon, and a fault-free run is
// valid.
func TestConformanceEtcdFile(t *testing.T) {
	tg, err := Load("testdata/etcd.yaml", protocols.Default())
	if err != nil {
		t.Fatal(err)
	}
	targettest.Conformance(t, tg, targettest.Options{Workload: workloads.Register{}, Nodes: 3})
}

// TestEtcdFileAgreesWithBuiltIn: testdata/etcd.yaml, run by name through
// the CLI's resolver as `faultline run --target FILE` does, reproduces the
// built-in etcd target's verdicts under partitions (the same runs as
// harness's TestEtcdUnderFaultsIsLinearizable and
// TestEtcdSerializableReadsAreStale): linearizable reads valid,
// read=serializable invalid (stale reads from a cut-off node).
func TestEtcdFileAgreesWithBuiltIn(t *testing.T) {
	dockerenv.NeedDocker(t)
	if testenv.Short() {
		t.Skip("long Docker runs skipped with -short")
	}
	path, err := filepath.Abs("testdata/etcd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		read string
		want models.Verdict
	}{
		{"linearizable", models.Valid},
		{"serializable", models.Invalid},
	} {
		t.Run(tc.read, func(t *testing.T) {
			spec := harness.DefaultSpec()
			spec.Test = "etcd-file-" + tc.read
			spec.Store = t.TempDir()
			spec.Target = path
			spec.TargetOpts = map[string]string{"read": tc.read}
			spec.Nemesis = []string{"partition"}
			spec.Nodes = 5
			spec.TimeLimit = harness.Duration(30 * time.Second)
			spec.NemesisInterval = harness.Duration(5 * time.Second)
			spec.RecoveryWait = harness.Duration(3 * time.Second)
			spec.OpTimeout = harness.Duration(time.Second)
			spec.Seed = 7
			out, err := harness.Run(t.Context(), spec, harness.Options{
				Targets:  Resolver{Protocols: protocols.Default(), Next: catalog.Default()},
				Progress: func(f string, a ...any) { t.Logf(f, a...) },
			})
			if err != nil {
				t.Fatal(err)
			}
			res := out.Results
			t.Logf("read=%s: %s (%s); %s", tc.read, res.Verdict, res.Reason, harness.FaultsLine(res.Faults))
			if res.Verdict != tc.want {
				t.Errorf("read=%s through the target file: %s (%s), want %s as the built-in target; report %s",
					tc.read, res.Verdict, res.Reason, tc.want, out.Dir)
			}
		})
	}
}
