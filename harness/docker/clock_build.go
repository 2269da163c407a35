package docker

import (
	"bufio"
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/faultline/faultline/harness/gobuild"
	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/internal/filelock"
)

// EnvClockInjector names a linux/amd64 binary to use as the clock
// injector instead of faultline's own executable: a faultline-clock
// (nuker/clock/cmd/faultline-clock) or a faultline binary.
const EnvClockInjector = "FAULTLINE_CLOCK_INJECTOR"

// faultlineModule is the module line ClockInjector looks for.
const faultlineModule = "module github.com/faultline/faultline"

// clockInjectorPkg is the injector's main package, relative to the module.
const clockInjectorPkg = "./nuker/clock/cmd/faultline-clock"

// installInjector is how a user without faultline's sources gets a static
// injector for $FAULTLINE_CLOCK_INJECTOR.
const installInjector = "CGO_ENABLED=0 go install github.com/faultline/faultline/nuker/clock/cmd/faultline-clock@latest"

// isInjectorMain says whether binaries of the main package path act as the
// clock injector: faultline itself (as faultline-clock, or with the hidden
// subcommand injectcmd.Subcommand) and the standalone injector do.
func isInjectorMain(path string) bool {
	switch path {
	case "github.com/faultline/faultline/cmd/faultline",
		"github.com/faultline/faultline/nuker/clock/cmd/faultline-clock":
		return true
	}
	return false
}

// ClockInjector returns the path of a linux/amd64 binary that, copied into
// a clock helper container as faultline-clock, acts as the clock injector:
//
//  1. the one $FAULTLINE_CLOCK_INJECTOR names, if set (it must be usable);
//  2. this very executable, when it is faultline (which carries the
//     injector) and runs on the nodes (static, or linked against a glibc
//     no newer than the nodes' Debian one);
//  3. one built from faultline's source tree, when one is at hand (tests,
//     or a faultline that cannot run on the nodes), cached under the user
//     cache directory by a hash of its sources and the Go version.
//
// Otherwise the error says, in one line, what to do.
func ClockInjector(ctx context.Context, progress node.Progress) (string, error) {
	if p := os.Getenv(EnvClockInjector); p != "" {
		p, err := filepath.Abs(p) // it may be bind-mounted
		if err != nil {
			return "", fmt.Errorf("clock injector from $%s: %w", EnvClockInjector, err)
		}
		if err := checkHelperExecutable(p, nodeGlibc()); err != nil {
			return "", fmt.Errorf("clock injector from $%s: %w", EnvClockInjector, err)
		}
		return p, nil
	}
	self, selfErr := selfInjector()
	if selfErr == nil {
		return self, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", noInjectorError(selfErr)
	}
	return buildClockInjector(ctx, root, progress)
}

// noInjectorError says, in one line, why there is no clock injector and
// what to do about it.
func noInjectorError(selfErr error) error {
	return fmt.Errorf("clock injector: %w, and faultline's source tree is not here to build one: "+
		"rebuild faultline static (CGO_ENABLED=0 go install github.com/faultline/faultline/cmd/faultline@latest) "+
		"or set $%s to a static faultline-clock (%s)", selfErr, EnvClockInjector, installInjector)
}

// selfInjector returns this executable's path when it can serve as the
// clock injector on the nodes, or why not.
func selfInjector() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("this executable: %w", err)
	}
	bi, err := buildinfo.ReadFile(exe)
	if err != nil {
		return "", fmt.Errorf("this executable %s: %w", exe, err)
	}
	if !isInjectorMain(bi.Path) {
		return "", fmt.Errorf("this executable (%s) is not faultline", bi.Path)
	}
	if err := checkHelperExecutable(exe, nodeGlibc()); err != nil {
		return "", fmt.Errorf("this faultline binary cannot serve as the clock injector: %w", err)
	}
	return exe, nil
}

// buildClockInjector builds a static faultline-clock from the source tree
// at root, or reuses the cached one.
func buildClockInjector(ctx context.Context, root string, progress node.Progress) (string, error) {
	return buildHelperBinary(ctx, root, helperBinary{name: "faultline-clock", what: "clock injector",
		// The injector's binary also carries the packet delayer.
		pkg: clockInjectorPkg, srcs: []string{filepath.Join("nuker", "clock"), filepath.Join("nuker", "delay")}, cache: "clock"}, progress)
}

// helperBinary is a static program built from faultline's sources for helper
// containers.
type helperBinary struct {
	name  string   // file name, e.g. faultline-clock
	what  string   // for messages, e.g. "clock injector"
	pkg   string   // main package, relative to the module root
	srcs  []string // the source directories its hash covers, relative to the root
	cache string   // its directory under the user cache's faultline directory
}

// buildHelperBinary builds b statically from the source tree at root, or
// reuses the copy cached under the user cache directory by a hash of its
// sources and the Go version.
func buildHelperBinary(ctx context.Context, root string, b helperBinary, progress node.Progress) (string, error) {
	goVersion, err := gobuild.GoVersion(ctx)
	if err != nil {
		return "", fmt.Errorf("%s: %w", b.what, err)
	}
	hash, err := helperSourceHash(root, b.srcs, goVersion)
	if err != nil {
		return "", fmt.Errorf("%s: %w", b.what, err)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("%s: cache directory: %w", b.what, err)
	}
	dir := filepath.Join(cache, "faultline", b.cache)
	out := filepath.Join(dir, b.name+"-"+hash)
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	unlock, err := filelock.Lock(ctx, out+".lock", func() {
		progress.Printf("%s: waiting for another process building it", b.what)
	})
	if err != nil {
		return "", fmt.Errorf("%s: %w", b.what, err)
	}
	defer unlock()
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	progress.Printf("building the %s %s from %s", b.what, b.name, root)
	tmp := out + ".tmp"
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", tmp, b.pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s: go build %s: %w\n%s", b.what, b.pkg, err, out)
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", fmt.Errorf("%s: %w", b.what, err)
	}
	return out, nil
}

// moduleRoot finds faultline's source tree: where this file was compiled
// from, else the working directory or one of its parents.
func moduleRoot() (string, error) {
	var cands []string
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		cands = append(cands, filepath.Dir(filepath.Dir(filepath.Dir(file))))
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			cands = append(cands, d)
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	for _, d := range cands {
		if isFaultlineRoot(d) {
			return d, nil
		}
	}
	return "", errors.New("faultline's source tree is not here")
}

func isFaultlineRoot(dir string) bool {
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == faultlineModule {
			_, err := os.Stat(filepath.Join(dir, filepath.FromSlash(clockInjectorPkg)))
			return err == nil
		}
	}
	return false
}

// helperSourceHash hashes what a helper binary is built from: the non-test
// Go files of srcs (and below), go.mod, go.sum and the Go version.
func helperSourceHash(root string, srcs []string, goVersion string) (string, error) {
	var files []string
	for _, src := range srcs {
		err := filepath.WalkDir(filepath.Join(root, src), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == "testdata" {
				return filepath.SkipDir
			}
			if !d.IsDir() && strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	slices.Sort(files)
	files = append(files, filepath.Join(root, "go.mod"), filepath.Join(root, "go.sum"))
	h := sha256.New()
	fmt.Fprintf(h, "go %s\n", goVersion)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		rel, _ := filepath.Rel(root, f)
		fmt.Fprintf(h, "%s %d\n", filepath.ToSlash(rel), len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}
