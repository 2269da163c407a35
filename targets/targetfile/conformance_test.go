package targetfile

import (
	"path/filepath"
	"reflect"
	"testing"

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
