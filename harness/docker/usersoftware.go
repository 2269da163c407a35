package docker

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/faultline/faultline/harness/gobuild"
	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/internal/procgroup"
)

// Software from the user's machine: Go main packages of their own module
// (node.LocalGo), files (node.File) and an image they built (node.Software
// Image). Each enters an image's recipe by content, never by path or
// modification time, so an unchanged input reuses the image and a changed
// one makes a new one.

// LabelToolsImage is set on an image made from a user's image: its value is
// faultline's base image, whose tools (iptables, sleep, a shell) the nodes'
// helper containers run, since the user's image may lack them. Containers
// inherit it from their image, so a node or preflight container says by
// itself that it needs a helper.
const LabelToolsImage = "io.faultline.tools-image"

// localBinaryPrefix marks a local Go package's binary in a recipe: its hash
// is of the built bytes, not of a gobuild recipe.
const localBinaryPrefix = "local-sha256:"

// fileRecipe is one node.File as it enters a recipe: where it goes, its
// mode and its content's SHA-256.
type fileRecipe struct {
	Dst    string
	Mode   int64
	SHA256 string
}

// contextFile is a file of the build context: its name there, the local
// file it is read from and its mode.
type contextFile struct {
	Name, Path string
	Mode       int64
}

// localDir returns the absolute directory of a local Go package, or why it
// cannot be built.
func localDir(l node.LocalGo) (string, error) {
	if l.Dir == "" {
		return "", fmt.Errorf("local Go package %s: no directory", l.Name)
	}
	dir, err := filepath.Abs(l.Dir)
	if err != nil {
		return "", fmt.Errorf("local Go package %s: %w", l.Name, err)
	}
	switch fi, err := os.Stat(dir); {
	case err != nil:
		return "", fmt.Errorf("local Go package %s: %w", l.Name, err)
	case !fi.IsDir():
		return "", fmt.Errorf("local Go package %s: %s is not a directory", l.Name, dir)
	}
	return dir, nil
}

// localCacheDir is where built local packages are kept, by content.
func localCacheDir() (string, error) {
	dir, err := gobuild.CacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "local"), nil
}

// buildLocal builds the main package l with the go command in its own
// directory, so its own go.mod (and go.work, GOFLAGS, toolchain) apply,
// static (CGO_ENABLED=0) for the nodes' linux/GOARCH. The binary is kept
// under the cache directory by its SHA-256, which buildLocal returns with
// the path: the bytes, not the sources, enter the recipe, and Go builds are
// reproducible (-trimpath, no VCS stamp), so an unchanged package gives the
// same hash. go's own build cache makes an unchanged rebuild cheap.
func buildLocal(ctx context.Context, l node.LocalGo, progress node.Progress) (p, sum string, err error) {
	dir, err := localDir(l)
	if err != nil {
		return "", "", err
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", "", fmt.Errorf("local Go package %s: go command not found in PATH", dir)
	}
	cache, err := localCacheDir()
	if err != nil {
		return "", "", fmt.Errorf("local Go package %s: %w", dir, err)
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", "", fmt.Errorf("local Go package %s: %w", dir, err)
	}
	removeStaleLocalTemps(cache)
	tmp, err := os.CreateTemp(cache, "."+l.Name+".tmp-")
	if err != nil {
		return "", "", fmt.Errorf("local Go package %s: %w", dir, err)
	}
	tmpPath := tmp.Name()
	tmp.Close()
	os.Remove(tmpPath) // go build writes it afresh; a non-main package writes nothing
	defer os.Remove(tmpPath)

	progress.Printf("building local Go package %s…", dir)
	start := time.Now()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", tmpPath, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+gobuild.GOOS, "GOARCH="+runtime.GOARCH)
	cmd.Stdout, cmd.Stderr = &out, &out
	// go runs compile and link as children: cancellation must reach them.
	procgroup.Configure(cmd, os.Interrupt, 5*time.Second)
	runErr := cmd.Run()
	procgroup.Kill(cmd)
	if runErr != nil {
		if ctx.Err() != nil {
			return "", "", fmt.Errorf("local Go package %s: go build interrupted: %w", dir, context.Cause(ctx))
		}
		return "", "", fmt.Errorf("local Go package %s: go build failed (%w):\n%s", dir, runErr, strings.TrimSpace(out.String()))
	}
	// go build -o writes a library's archive too: only an ELF is a program.
	exe, err := elf.Open(tmpPath)
	if err != nil {
		return "", "", fmt.Errorf("local Go package %s: go build wrote no program: is it package main?", dir)
	}
	exe.Close()
	sum, err = fileSHA256(tmpPath)
	if err != nil {
		return "", "", fmt.Errorf("local Go package %s: %w", dir, err)
	}
	final := filepath.Join(cache, sum[:32])
	if err := os.Chmod(tmpPath, 0o755); err != nil {
		return "", "", fmt.Errorf("local Go package %s: %w", dir, err)
	}
	// Same name, same bytes: a concurrent build of the same source renames
	// identical content over it, atomically.
	if err := os.Rename(tmpPath, final); err != nil {
		return "", "", fmt.Errorf("local Go package %s: %w", dir, err)
	}
	progress.Printf("built local Go package %s in %s", dir, roundDuration(time.Since(start)))
	return final, sum, nil
}

// addLocal builds the local Go packages and adds them to r's binaries by
// their bytes' hash; it returns their build context files.
func (r *imageRecipe) addLocal(ctx context.Context, locals []node.LocalGo, progress node.Progress) ([]contextFile, error) {
	var out []contextFile
	for _, l := range locals {
		p, sum, err := buildLocal(ctx, l, progress)
		if err != nil {
			return nil, err
		}
		r.bins = append(r.bins, binaryRecipe{Name: l.Name, Hash: localBinaryPrefix + sum})
		out = append(out, contextFile{Name: "bin/" + l.Name, Path: p, Mode: 0o755})
	}
	return out, nil
}

// addFiles adds the files to r by destination, mode and content hash; it
// returns their build context files.
func (r *imageRecipe) addFiles(files []node.File) ([]contextFile, error) {
	var out []contextFile
	for i, f := range files {
		if err := checkFile(f); err != nil {
			return nil, err
		}
		sum, err := fileSHA256(f.Src)
		if err != nil {
			return nil, fmt.Errorf("file %s: %w", f.Src, err)
		}
		mode := fileMode(f)
		r.files = append(r.files, fileRecipe{Dst: f.Dst, Mode: mode, SHA256: sum})
		out = append(out, contextFile{Name: fileContextName(i), Path: f.Src, Mode: mode})
	}
	return out, nil
}

// removeStaleLocalTemps deletes outputs of builds killed before they could
// clean up: old enough that no build still writes them.
func removeStaleLocalTemps(dir string) {
	matches, _ := filepath.Glob(filepath.Join(dir, ".*.tmp-*"))
	for _, m := range matches {
		if fi, err := os.Stat(m); err == nil && time.Since(fi.ModTime()) > time.Hour {
			os.Remove(m)
		}
	}
}

// fileSHA256 is the hex SHA-256 of the file at p.
func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// fileMode is f's mode on the node: Mode, or by default 0755 under a bin
// directory and 0644 elsewhere.
func fileMode(f node.File) int64 {
	if f.Mode != 0 {
		return f.Mode
	}
	switch path.Base(path.Dir(f.Dst)) {
	case "bin", "sbin":
		return 0o755
	}
	return 0o644
}

// checkFile refuses a File that cannot be copied as asked: a missing source
// or one that is not a regular file, a relative or unclean destination, or
// one a Dockerfile would read otherwise ($ expands, a trailing / names a
// directory).
func checkFile(f node.File) error {
	if f.Src == "" {
		return fmt.Errorf("file for %q: no source", f.Dst)
	}
	switch fi, err := os.Stat(f.Src); {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("file %s: no such file on this machine", f.Src)
	case err != nil:
		return fmt.Errorf("file %s: %w", f.Src, err)
	case fi.IsDir():
		return fmt.Errorf("file %s is a directory: list its files one by one", f.Src)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("file %s is not a regular file", f.Src)
	}
	switch {
	case !path.IsAbs(f.Dst):
		return fmt.Errorf("file %s: destination %q is not an absolute path on the node", f.Src, f.Dst)
	case f.Dst == "/" || path.Clean(f.Dst) != f.Dst:
		return fmt.Errorf("file %s: destination %q is not a clean file path (want e.g. %q)", f.Src, f.Dst, path.Clean(f.Dst))
	case strings.ContainsAny(f.Dst, "$\\\"") || strings.IndexFunc(f.Dst, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0:
		return fmt.Errorf("file %s: destination %q has a character Docker would interpret ($, \\, \", control)", f.Src, f.Dst)
	case f.Mode&^0o7777 != 0 || f.Mode < 0:
		return fmt.Errorf("file %s: mode %o is not permission bits", f.Src, f.Mode)
	}
	return nil
}

// userImageID returns the ID of the user's image ref on this engine. Nothing
// is pulled: there is no registry.
func (im *Images) userImageID(ctx context.Context, ref string) (string, error) {
	info, err := im.cli.ImageInspect(ctx, ref)
	switch {
	case cerrdefs.IsNotFound(err):
		return "", fmt.Errorf("image %q is not on this machine and there is no registry: build it first (docker build -t %s …)", ref, ref)
	case err != nil:
		return "", fmt.Errorf("inspect image %q: %w", ref, err)
	}
	// Faultline's programs and helpers are built for this machine.
	if info.Os != "" && info.Os != "linux" || info.Architecture != "" && info.Architecture != runtime.GOARCH {
		return "", fmt.Errorf("image %q is for %s/%s: the nodes run linux/%s", ref, info.Os, info.Architecture, runtime.GOARCH)
	}
	return info.ID, nil
}
