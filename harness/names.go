package harness

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/faultline/faultline/reports"
)

// MaxTestName is the longest test name in bytes. A name is one path
// component of the store (at most 255 bytes on common file systems); the
// rest leaves room for temporary names built from it.
const MaxTestName = 200

// MaxTimeLimit bounds a run's time limit: longer is a typo, not a test.
const MaxTimeLimit = 7 * 24 * time.Hour

// LatestLink is the store's link to the newest run.
const LatestLink = "latest"

// testName is what a test name may contain: it names a directory of the
// store, so no separators, no leading dot, no control characters.
var testName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)

// reservedNames are names the store's root holds besides test directories
// (or that `faultline serve` answers itself). They are compared without
// case: on case-insensitive file systems LATEST is latest.
var reservedNames = map[string]string{
	LatestLink:        "the store keeps a link of that name",
	reports.IndexFile: "the store keeps a file of that name",
	"compare":         "faultline serve answers that path itself",
	"compare.html":    "faultline serve answers that path itself",
	"favicon.ico":     "faultline serve answers that path itself",
}

// checkTestName refuses a test name that is not a plain directory name of
// the store: a reserved one (store/latest would become a directory or a
// link to itself), a separator, a leading dot, a control character, or one
// longer than MaxTestName.
func checkTestName(name string) error {
	if len(name) > MaxTestName {
		return fmt.Errorf("test name is %d bytes; at most %d", len(name), MaxTestName)
	}
	if !testName.MatchString(name) {
		return fmt.Errorf("test name %q: use letters, digits, '.', '_', '-', '+' (not first: '.')", name)
	}
	if why, ok := reservedNames[strings.ToLower(name)]; ok {
		return fmt.Errorf("test name %q is reserved: %s", name, why)
	}
	return nil
}

// checkStore refuses a store that cannot hold runs: a path that is, or
// lies under, something other than a directory, or whose latest entry is
// not the link faultline keeps there. A store that does not exist yet is
// fine: the first run creates it.
func checkStore(store string) error {
	if store == "" {
		return nil
	}
	fi, err := os.Stat(store)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("store %s is not a directory (a part of its path is a file)", store)
	case err != nil:
		return fmt.Errorf("store: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("store %s is not a directory", store)
	}
	latest := filepath.Join(store, LatestLink)
	if li, err := os.Lstat(latest); err == nil && li.Mode()&os.ModeSymlink == 0 {
		return fmt.Errorf("store %s: %s is not a link (remove it; faultline points it at the newest run)", store, latest)
	}
	return nil
}
