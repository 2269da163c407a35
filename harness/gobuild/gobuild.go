// Package gobuild builds the static Go binaries that targets install on their
// nodes (node.GoBinary), from the Go module proxy, in a throwaway module of
// their own so that a target's dependencies never enter faultline's go.mod.
// Binaries are cached under the user cache directory, keyed by a hash of the
// recipe and the Go toolchain; a cached binary is reused.
//
// Nothing here knows Docker: the Docker runtime copies the binaries into an
// image, an SSH runtime would copy them to machines.
package gobuild

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/internal/filelock"
	"github.com/faultline/faultline/internal/procgroup"
)

// BuilderVersion takes part in every recipe hash. Bump it when the way
// binaries are built changes (flags, environment), so cached binaries and the
// images made from them are rebuilt.
const BuilderVersion = "1"

// GOOS is the operating system binaries are built for: nodes run Linux.
const GOOS = "linux"

// progressEvery is how often a running build reports its elapsed time.
const progressEvery = 15 * time.Second

// outputTail is how many lines of the go command's output an error carries.
const outputTail = 30

var (
	nameRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	versionRE = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)
)

// buildFlags are the go build flags of every binary: reproducible paths and
// no symbol tables or DWARF (etcd shrinks by a third).
func buildFlags() []string { return []string{"-trimpath", "-ldflags=-s -w"} }

// Validate checks that b is a buildable recipe: a plain file name, exactly
// one of Main and Package, and every Require an exact module@vX.Y.Z (a query
// such as @latest would make the cached binary depend on when it was built).
func Validate(b node.GoBinary) error {
	if !nameRE.MatchString(b.Name) {
		return fmt.Errorf("go binary %q: name must be a plain file name ([A-Za-z0-9._-], not starting with . or -)", b.Name)
	}
	switch {
	case b.Main == "" && b.Package == "":
		return fmt.Errorf("go binary %s: neither Main nor Package is set", b.Name)
	case b.Main != "" && b.Package != "":
		return fmt.Errorf("go binary %s: both Main and Package are set; use one", b.Name)
	}
	for _, r := range b.Require {
		path, version, ok := strings.Cut(r, "@")
		if !ok || path == "" || !versionRE.MatchString(version) {
			return fmt.Errorf("go binary %s: require %q is not module@vX.Y.Z", b.Name, r)
		}
	}
	return nil
}

// recipe is what a binary's hash covers; its JSON encoding is canonical
// (fixed field order, sorted requirements).
type recipe struct {
	Builder   string   `json:"builder"`
	GoVersion string   `json:"go"`
	GOOS      string   `json:"goos"`
	GOARCH    string   `json:"goarch"`
	Flags     []string `json:"flags"`
	Name      string   `json:"name"`
	Require   []string `json:"require"`
	Main      string   `json:"main"`
	Package   string   `json:"package"`
}

// RecipeHash is the cache key of b when built by the toolchain goVersion (as
// `go env GOVERSION` prints it) for this machine's architecture: 16 hex
// digits. The order of b.Require and b.Estimate do not matter.
func RecipeHash(b node.GoBinary, goVersion string) string {
	req := slices.Clone(b.Require)
	slices.Sort(req)
	data, err := json.Marshal(recipe{
		Builder:   BuilderVersion,
		GoVersion: goVersion,
		GOOS:      GOOS,
		GOARCH:    runtime.GOARCH,
		Flags:     buildFlags(),
		Name:      b.Name,
		Require:   req,
		Main:      b.Main,
		Package:   b.Package,
	})
	if err != nil {
		panic(err) // strings only: cannot fail
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8])
}

// CacheDir is where built binaries are kept:
// $XDG_CACHE_HOME/faultline/bin (~/.cache/faultline/bin by default).
func CacheDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("go binary cache: %w", err)
	}
	return filepath.Join(dir, "faultline", "bin"), nil
}

// GoVersion returns the version of the go command in PATH (go1.26.8), the
// one Build uses. GOTOOLCHAIN=local keeps a go.mod or GOTOOLCHAIN setting from
// switching toolchains behind the hash's back.
func GoVersion(ctx context.Context) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", errors.New("go command not found in PATH: faultline builds target binaries with it (run scripts/setup.sh)")
	}
	cmd := exec.CommandContext(ctx, goBin, "env", "GOVERSION")
	cmd.Dir = os.TempDir() // away from any go.mod or go.work
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go env GOVERSION: %w: %s", err, bytes.TrimSpace(out))
	}
	v := strings.TrimSpace(string(out))
	if v == "" {
		return "", errors.New("go env GOVERSION printed nothing")
	}
	return v, nil
}

// Path returns where the binary built from b by goVersion is cached, whether
// or not it exists yet.
func Path(b node.GoBinary, goVersion string) (string, error) {
	dir, err := CacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, RecipeHash(b, goVersion), b.Name), nil
}

// Build returns the path of the static binary b, building it when it is not
// cached. The build runs `go mod init`, `go get` of b.Require and `go build`
// (CGO_ENABLED=0, -trimpath, -ldflags "-s -w") in a temporary module, writes
// into a temporary file next to the cached path and renames it, so an
// interrupted build never leaves a partial binary. Cancelling ctx kills the
// go command and its children. progress gets a line at the start, one every
// 15 s while go runs, and one at the end.
//
// The go command gets the caller's environment (GOPROXY, GOMODCACHE, GOCACHE
// are shared) except for what the recipe hash assumes: CGO_ENABLED=0,
// GOOS=linux, GOARCH of this machine, GOFLAGS=-mod=mod (a caller's -tags, say,
// would change the binary behind the hash's back), GOTOOLCHAIN=local and
// GOWORK=off. Concurrent builds of one recipe, also from other processes,
// wait for each other.
func Build(ctx context.Context, b node.GoBinary, progress node.Progress) (string, error) {
	if err := Validate(b); err != nil {
		return "", err
	}
	goVersion, err := GoVersion(ctx)
	if err != nil {
		return "", fmt.Errorf("building %s: %w", b.Name, err)
	}
	out, err := Path(b, goVersion)
	if err != nil {
		return "", fmt.Errorf("building %s: %w", b.Name, err)
	}
	if size, ok := cached(out); ok {
		progress.Printf("%s: cached static Go binary %s (%s)", b.Name, out, formatSize(size))
		return out, nil
	}
	// Another process (a parallel test package, a second faultline) may be
	// building the same recipe: wait for it rather than build it twice.
	unlock, err := filelock.Lock(ctx, filepath.Dir(out)+".lock", func() {
		progress.Printf("building %s: waiting for another process building it", b.Name)
	})
	if err != nil {
		return "", fmt.Errorf("building %s: %w", b.Name, err)
	}
	defer unlock()
	if size, ok := cached(out); ok {
		progress.Printf("%s: built by another process: %s (%s)", b.Name, out, formatSize(size))
		return out, nil
	}

	source := strings.Join(b.Require, ", ")
	if source == "" {
		source = "its own source"
	}
	about := ""
	if b.Estimate > 0 {
		about = ", about " + formatEstimate(b.Estimate) + " on 2 cores"
	}
	progress.Printf("building %s from %s (static Go binary%s)", b.Name, source, about)

	start := time.Now()
	stop := startTicker(b.Name, start, progress)
	size, err := build(ctx, b, out)
	stop()
	if err != nil {
		return "", fmt.Errorf("building %s from %s: %w", b.Name, source, err)
	}
	progress.Printf("built %s in %s: %s, %s", b.Name, formatDuration(time.Since(start)), formatSize(size), out)
	return out, nil
}

// cached reports whether the binary out exists, and its size.
func cached(out string) (int64, bool) {
	fi, err := os.Stat(out)
	if err != nil || !fi.Mode().IsRegular() {
		return 0, false
	}
	return fi.Size(), true
}

// build does the work of Build and returns the binary's size.
func build(ctx context.Context, b node.GoBinary, out string) (int64, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return 0, errors.New("go command not found in PATH (run scripts/setup.sh)")
	}
	dir := filepath.Dir(out)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, fmt.Errorf("cache directory: %w", err)
	}
	removeStaleTemps(dir)

	work, err := os.MkdirTemp("", "faultline-gobuild-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(work)
	modDir := filepath.Join(work, "mod")
	goTmp := filepath.Join(work, "tmp") // go's own scratch: removed with work even if go is killed
	for _, d := range []string{modDir, goTmp} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return 0, err
		}
	}
	env := append(os.Environ(),
		"CGO_ENABLED=0", // explicit: with a C compiler present, net would link dynamically
		"GOOS="+GOOS,
		"GOARCH="+runtime.GOARCH,
		"GOFLAGS=-mod=mod",
		"GOTOOLCHAIN=local",
		"GOWORK=off",
		"GO111MODULE=on",
		"GOTMPDIR="+goTmp,
	)
	run := func(args ...string) error {
		return runGo(ctx, goBin, modDir, env, args...)
	}

	if err := run("mod", "init", "faultline.local/build/"+b.Name); err != nil {
		return 0, err
	}
	if b.Main != "" {
		if err := os.WriteFile(filepath.Join(modDir, "main.go"), []byte(b.Main), 0o644); err != nil {
			return 0, err
		}
	}
	if len(b.Require) > 0 {
		if err := run(append([]string{"get"}, b.Require...)...); err != nil {
			return 0, err
		}
	}

	// A unique name in the cache directory itself, so the final rename stays
	// on one file system and is atomic.
	tmp, err := os.CreateTemp(dir, "."+b.Name+".tmp-")
	if err != nil {
		return 0, err
	}
	tmpPath := tmp.Name()
	tmp.Close()
	os.Remove(tmpPath) // go build writes it afresh
	defer os.Remove(tmpPath)

	pkg := "."
	if b.Main == "" {
		pkg = b.Package
	}
	args := append([]string{"build"}, buildFlags()...)
	args = append(args, "-o", tmpPath, pkg)
	if err := run(args...); err != nil {
		return 0, err
	}
	if err := os.Chmod(tmpPath, 0o755); err != nil {
		return 0, err
	}
	fi, err := os.Stat(tmpPath)
	if err != nil {
		return 0, err
	}
	if err := os.Rename(tmpPath, out); err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// runGo runs the go command in dir and returns an error carrying the last
// lines of its output when it fails.
func runGo(ctx context.Context, goBin, dir string, env []string, args ...string) error {
	var output bytes.Buffer
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = &output
	cmd.Stderr = &output
	// go runs compile and link as children: cancellation must reach them.
	procgroup.Configure(cmd, os.Interrupt, 5*time.Second)
	err := cmd.Run()
	procgroup.Kill(cmd)
	if err == nil {
		return nil
	}
	name := "go " + args[0]
	if ctx.Err() != nil {
		return fmt.Errorf("%s interrupted: %w", name, context.Cause(ctx))
	}
	return fmt.Errorf("%s: %w\n%s", name, err, tail(output.String(), outputTail))
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[... %d lines before]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// startTicker reports elapsed time every progressEvery until the returned
// function is called; that function returns only once the ticker has stopped,
// so no progress line comes after it.
func startTicker(name string, start time.Time, progress node.Progress) func() {
	if progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				progress.Printf("building %s: %s elapsed", name, formatDuration(time.Since(start)))
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

// removeStaleTemps deletes temporary outputs of builds that were killed
// before they could clean up; with the recipe's lock held, any there are.
func removeStaleTemps(dir string) {
	matches, _ := filepath.Glob(filepath.Join(dir, ".*.tmp-*"))
	for _, m := range matches {
		os.Remove(m)
	}
}

func formatDuration(d time.Duration) string {
	if d < time.Minute {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// formatEstimate rounds a guess to what a person would say: "40 s", "2 min".
func formatEstimate(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%d s", int(d.Round(time.Second).Seconds()))
	}
	return fmt.Sprintf("%d min", int(d.Round(time.Minute).Minutes()))
}

func formatSize(n int64) string {
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}
