package catalog

import (
	"path/filepath"
	"testing"

	"github.com/faultline/faultline/targets"
	"github.com/faultline/faultline/targets/maelstrom"
)

// TestDataDirs: every shipped system declares where its durable state lives,
// so disk faults can reach it; maelstrom's nodes keep none.
func TestDataDirs(t *testing.T) {
	for name, e := range Default() {
		if name == "maelstrom" { // needs bin= or src=; its type has no DataDirs
			if _, ok := any((*maelstrom.Target)(nil)).(targets.DataDirer); ok {
				t.Error("maelstrom declares data directories")
			}
			continue
		}
		tgt, err := e.New("", nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		dd, ok := tgt.(targets.DataDirer)
		if !ok || len(dd.DataDirs()) == 0 {
			t.Errorf("%s declares no data directory", name)
			continue
		}
		for _, d := range dd.DataDirs() {
			if !filepath.IsAbs(d) || filepath.Clean(d) != d || d == "/" {
				t.Errorf("%s: data directory %q is not a clean absolute path below /", name, d)
			}
		}
	}
}
