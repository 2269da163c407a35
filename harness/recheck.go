package harness

import (
	"path"
	"strings"
	"time"

	"github.com/faultline/faultline/internal/rundir"
)

// ChecksDir is the directory of a run directory that holds its re-checks,
// one directory each, beside the run's record.
const ChecksDir = "checks"

// CheckInfo describes a check made by `faultline check DIR` after the run.
type CheckInfo struct {
	// At is when the check started (UTC).
	At time.Time `json:"at"`
	// Models are the models checked.
	Models []string `json:"models"`
	// Dir is where the check was written, relative to the run directory:
	// "" for the run's record, else checks/<stamp>[-models][-interrupted].
	Dir string `json:"dir,omitempty"`
	// Interrupted is set when the check was stopped (signal, deadline)
	// before it finished: its verdict says nothing about the run.
	Interrupted bool `json:"interrupted,omitempty"`
}

// moveBeside moves the staged check st into a new directory under
// checks/ and records it in ck.
func moveBeside(rd *rundir.Dir, st *rundir.Stage, ck *CheckInfo) error {
	dir, err := rd.MkdirUnique(ChecksDir, checkDirName(*ck))
	if err != nil {
		return err
	}
	ck.Dir = dir
	return st.Rebase(dir)
}

// checkDirName is <UTC stamp>[-model+model][-interrupted], with anything
// but letters, digits, '.', '_' and '-' in model names replaced.
func checkDirName(ck CheckInfo) string {
	name := ck.At.UTC().Format("20060102T150405Z")
	if len(ck.Models) > 0 {
		ms := strings.Join(ck.Models, "+")
		ms = strings.Map(func(r rune) rune {
			switch {
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-', r == '+':
				return r
			}
			return '_'
		}, ms)
		if len(ms) > 100 {
			ms = ms[:100]
		}
		name += "-" + ms
	}
	if ck.Interrupted {
		name += "-interrupted"
	}
	return path.Clean(name)
}
