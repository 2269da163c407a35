package harness

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestProvenanceInResults: results.json's run record says which faultline
// ran the test (version, Go), which target and version, and the images
// with their recipe hashes; a record written before provenance existed
// still reads.
func TestProvenanceInResults(t *testing.T) {
	p := newProvenance("etcd", "3.5.17")
	p.addImage("node", "faultline/etcd:d0e58fdad7f052d8")
	p.addImage("node", "") // no image: nothing recorded
	p.addImage("helper", "docker.io/library/alpine:3")
	res := assemble(Spec{Test: "t"}, nil, nil, RunInfo{ID: "r", Started: time.Unix(0, 0), Provenance: p})
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Run struct {
			Provenance struct {
				Faultline struct {
					Version string `json:"version"`
					Go      string `json:"go"`
				} `json:"faultline"`
				Target        string `json:"target"`
				TargetVersion string `json:"target_version"`
				Images        []struct {
					Role, Ref, RecipeHash string
				} `json:"images"`
			} `json:"provenance"`
		} `json:"run"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	pv := back.Run.Provenance
	if pv.Faultline.Version != "devel" || pv.Faultline.Go != runtime.Version() || pv.Target != "etcd" || pv.TargetVersion != "3.5.17" {
		t.Errorf("provenance %+v in %s", pv, b)
	}
	if !strings.Contains(string(b), `"images":[{"role":"node","ref":"faultline/etcd:d0e58fdad7f052d8","recipe_hash":"d0e58fdad7f052d8"},{"role":"helper","ref":"docker.io/library/alpine:3"}]`) {
		t.Errorf("images not recorded as expected: %s", b)
	}
	var old Results
	if err := json.Unmarshal([]byte(`{"verdict":"valid","run":{"id":"x"}}`), &old); err != nil || old.Run.Provenance != nil {
		t.Errorf("old results.json: %v, provenance %+v", err, old.Run.Provenance)
	}
}
