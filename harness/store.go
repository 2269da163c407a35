package harness

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/faultline/faultline/internal/rundir"
	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/models/netstats"
	"github.com/faultline/faultline/reports"
)

// Store file names inside a run directory.
const (
	SpecFile    = "spec.json"
	HistoryFile = "history.jsonl"
	ResultsFile = "results.json"
	ReportFile  = "report.html"
	LogFile     = "faultline.log"
	NodesDir    = "nodes"
	// NetworkFile holds the messages the nodes exchanged, when the target
	// counts them (netstats.File).
	NetworkFile = "network.json"
)

// ResultsFormat and ResultsVersion identify results.json.
const (
	ResultsFormat  = "faultline-results"
	ResultsVersion = 1
)

// Results is the content of results.json: the combined verdict, each
// checker's result, op statistics and how the run went.
type Results struct {
	Format  string         `json:"format"`
	Version int            `json:"version"`
	Test    string         `json:"test"`
	Verdict models.Verdict `json:"verdict"`
	// Reason summarises why the verdict is not valid.
	Reason  string          `json:"reason,omitempty"`
	Results []models.Result `json:"results"`
	Stats   reports.Summary `json:"stats"`
	// CAPProfile is the measured CAP/PACELC profile of the run.
	CAPProfile reports.CAPProfile `json:"cap_profile"`
	// SLOs are the spec's SLOs, checked overall and per fault kind.
	SLOs []reports.SLOResult `json:"slos,omitempty"`
	// Faults counts each requested fault kind's injections and failures.
	Faults []history.FaultTally `json:"faults,omitempty"`
	// Network is the messages the nodes exchanged per client op, healthy
	// and under faults, when the target counts them (network.json).
	Network *netstats.Summary `json:"network,omitempty"`
	Run     RunInfo           `json:"run"`
	// History is what was found about the history itself (see HistoryCheck).
	History *HistoryCheck `json:"history,omitempty"`
	// Check is set on a check made after the run (faultline check DIR):
	// when, with which models, where it was written, whether it finished.
	Check *CheckInfo `json:"check,omitempty"`
}

// RunInfo records how the run itself went.
type RunInfo struct {
	ID            string    `json:"id,omitempty"`
	Started       time.Time `json:"started"`
	Duration      Duration  `json:"duration"`
	TargetVersion string    `json:"target_version,omitempty"`
	// TargetSettings are the target's effective options.
	TargetSettings map[string]string `json:"target_settings,omitempty"`
	Nodes          []string          `json:"nodes,omitempty"`
	// Interrupted is true when the run was stopped by a signal.
	Interrupted bool `json:"interrupted,omitempty"`
	// HarnessError is why the harness could not complete the test.
	HarnessError string `json:"harness_error,omitempty"`
	// FirstOpAfter is the time from start to the first client op.
	FirstOpAfter Duration `json:"first_op_after,omitempty"`
	// Seed is the seed the run used (drawn when the spec had none).
	Seed int64 `json:"seed,omitempty"`
	// ReplayOf is the run directory this run replayed, if any.
	ReplayOf string `json:"replay_of,omitempty"`
	// Provenance is what produced the run: faultline's build, the target
	// and the images (see provenance.go).
	Provenance *Provenance `json:"provenance,omitempty"`
}

// newRunDir creates store/<test>/<UTC timestamp>/ and points store/latest
// at it.
func newRunDir(store, test string, now time.Time) (string, error) {
	stamp := now.UTC().Format("20060102T150405Z")
	rel := filepath.Join(test, stamp)
	dir := filepath.Join(store, rel)
	for i := 1; ; i++ {
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			break
		}
		if errors.Is(err, os.ErrNotExist) {
			if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
				return "", fmt.Errorf("create store: %w", err)
			}
			continue
		}
		if !errors.Is(err, os.ErrExist) || i > 100 {
			return "", fmt.Errorf("create run directory: %w", err)
		}
		rel = filepath.Join(test, fmt.Sprintf("%s-%d", stamp, i))
		dir = filepath.Join(store, rel)
	}
	// Replace the link atomically: a reader never sees it missing. The
	// temporary link has a random name: Symlink fails rather than follow
	// anything planted there.
	for range 10 {
		tmp := filepath.Join(store, ".latest-"+rand.Text()[:12])
		err := os.Symlink(rel, tmp)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return dir, fmt.Errorf("link store/latest: %w", err)
		}
		if err := os.Rename(tmp, filepath.Join(store, "latest")); err != nil {
			os.Remove(tmp)
			return dir, fmt.Errorf("link store/latest: %w", err)
		}
		return dir, nil
	}
	return dir, errors.New("link store/latest: no free temporary name")
}

// writeJSON writes v to path atomically, through a temporary file created
// exclusively (never a predictable path.tmp that a planted link redirects),
// fsynced and renamed into place.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := rundir.WriteFileAtomic(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// maxJSONBytes caps spec.json and results.json read from a run directory.
const maxJSONBytes = 256 << 20

// readJSON reads path, a file of a run directory, into v.
func readJSON(path string, v any) error {
	rd, err := rundir.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer rd.Close()
	return readJSONIn(rd, filepath.Base(path), v)
}

// readJSONIn reads the regular file name of rd into v; links and
// non-regular files are refused.
func readJSONIn(rd *rundir.Dir, name string, v any) error {
	b, err := rd.ReadFile(name, maxJSONBytes)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(rd.Path(), name), err)
	}
	return nil
}
