package ssh

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/faultline/faultline/harness/docker"
	"github.com/faultline/faultline/harness/gobuild"
	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/internal/filelock"
)

// Where faultline keeps its own state on a machine.
const (
	// StateDir holds the install markers and the current run's record.
	StateDir = "/var/lib/faultline"
	// installedDir has one marker file per installed recipe.
	installedDir = StateDir + "/installed"
	// debDir receives the .deb files of an install; removed after it.
	debDir = "/var/cache/faultline/debs"
	// binDir is where the Go binaries go, as in the images.
	binDir = "/usr/local/bin"
)

// installVersion takes part in every recipe hash: bump it when the way
// machines are installed changes.
const installVersion = "ssh-1"

// recipe is what an installation is made of; its hash names the marker.
type recipe struct {
	Version  string
	Name     string
	Packages []string
	Sources  string
	Binaries []binRecipe
	Files    []fileRecipe
}

type binRecipe struct{ Name, Hash string }

type fileRecipe struct {
	Dst    string
	Mode   int64
	SHA256 string
}

func (r recipe) hash() string {
	data, err := json.Marshal(r)
	if err != nil {
		panic(err) // strings and ints only
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8])
}

// marker is the file that says the recipe is installed on a machine.
func (r recipe) marker() string { return installedDir + "/" + r.Name + "-" + r.hash() }

// newRecipe checks sw and computes its recipe. Only local Go packages are
// built (their bytes enter the recipe; go's cache makes it cheap): locals
// maps their names to the built files.
func newRecipe(ctx context.Context, sw node.Software, progress node.Progress) (r recipe, locals map[string]string, err error) {
	r, err = softwareRecipe(ctx, sw)
	if err != nil {
		return r, nil, err
	}
	locals = map[string]string{}
	for _, l := range sw.Local {
		dup := slices.ContainsFunc(sw.Binaries, func(b node.GoBinary) bool { return b.Name == l.Name })
		if !localNameRE.MatchString(l.Name) || locals[l.Name] != "" || dup {
			return r, nil, fmt.Errorf("software %s: local Go package %q: want a plain file name for %s, once", sw.Name, l.Name, binDir)
		}
		p, sum, err := docker.BuildLocal(ctx, l, progress)
		if err != nil {
			return r, nil, fmt.Errorf("software %s: %w", sw.Name, err)
		}
		locals[l.Name] = p
		r.Binaries = append(r.Binaries, binRecipe{l.Name, "local-sha256:" + sum})
	}
	slices.SortFunc(r.Binaries, func(a, b binRecipe) int { return strings.Compare(a.Name, b.Name) })
	return r, locals, nil
}

var localNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// softwareRecipe is the recipe of sw without its local Go packages.
func softwareRecipe(ctx context.Context, sw node.Software) (recipe, error) {
	r := recipe{Version: installVersion, Name: sw.Name}
	if sw.Image != "" {
		return r, fmt.Errorf("software %s: the ssh runtime cannot install a Docker image (%s) on machines: give the programs as Go binaries or files", sw.Name, sw.Image)
	}
	pkgs := append(docker.BasePackages(), sw.Packages...)
	for _, p := range pkgs {
		if !debianPackageRE.MatchString(p) {
			return r, fmt.Errorf("software %s: invalid Debian package name %q", sw.Name, p)
		}
	}
	slices.Sort(pkgs)
	r.Packages = slices.Compact(pkgs)
	src, err := hostSources()
	if err != nil {
		return r, fmt.Errorf("software %s: %w", sw.Name, err)
	}
	r.Sources = src
	if len(sw.Binaries) > 0 {
		goVersion, err := gobuild.GoVersion(ctx)
		if err != nil {
			return r, fmt.Errorf("software %s: %w", sw.Name, err)
		}
		for _, b := range sw.Binaries {
			if err := gobuild.Validate(b); err != nil {
				return r, fmt.Errorf("software %s: %w", sw.Name, err)
			}
			r.Binaries = append(r.Binaries, binRecipe{b.Name, gobuild.RecipeHash(b, goVersion)})
		}
		slices.SortFunc(r.Binaries, func(a, b binRecipe) int { return strings.Compare(a.Name, b.Name) })
	}
	for _, f := range sw.Files {
		if !path.IsAbs(f.Dst) {
			return r, fmt.Errorf("software %s: file %s: destination %q is not absolute", sw.Name, f.Src, f.Dst)
		}
		sum, err := fileSHA256(f.Src)
		if err != nil {
			return r, fmt.Errorf("software %s: file %s: %w", sw.Name, f.Src, err)
		}
		r.Files = append(r.Files, fileRecipe{Dst: f.Dst, Mode: fileMode(f), SHA256: sum})
	}
	return r, nil
}

var debianPackageRE = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?(=[A-Za-z0-9.+~:-]+)?$`)

// hostSources is the content of this machine's apt sources: packages are
// resolved and downloaded from them, so they take part in the recipe.
func hostSources() (string, error) {
	for _, p := range []string{"/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"} {
		b, err := os.ReadFile(p)
		if err == nil {
			return string(b), nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("apt sources: %w", err)
		}
	}
	return "", errors.New("no apt sources on this machine: Debian packages for the machines are downloaded here with apt")
}

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

// fileMode is f's mode: as given, else 0755 under a bin directory, else 0644.
func fileMode(f node.File) int64 {
	if f.Mode != 0 {
		return f.Mode
	}
	if strings.HasSuffix(path.Dir(f.Dst), "/bin") || strings.HasSuffix(path.Dir(f.Dst), "/sbin") {
		return 0o755
	}
	return 0o644
}

// installed reports whether r's marker is on n.
func installed(ctx context.Context, n *Node, r recipe) (bool, error) {
	res, err := n.execUnmarked(ctx, "sh", "-c", "test -e "+shq(r.marker())+" && echo yes || echo no")
	if err != nil {
		return false, err
	}
	return strings.TrimSpace(string(res.Stdout)) == "yes", nil
}

// debFile is one package apt chose for a machine.
type debFile struct {
	Name, Version, Arch string
}

// File is the name `apt-get download` gives it.
func (d debFile) File() string {
	return d.Name + "_" + strings.ReplaceAll(d.Version, ":", "%3a") + "_" + d.Arch + ".deb"
}

// instRE reads apt-get -s's "Inst name [old] (version release [arch])".
var instRE = regexp.MustCompile(`^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) .*\[([a-z0-9-]+)\]\)`)

// parseSimulation returns the packages apt would install, in its order.
func parseSimulation(out string) []debFile {
	var debs []debFile
	for _, line := range strings.Split(out, "\n") {
		if m := instRE.FindStringSubmatch(line); m != nil {
			debs = append(debs, debFile{Name: m[1], Version: m[2], Arch: m[3]})
		}
	}
	return debs
}

// resolvePackages asks this machine's apt which packages a machine whose
// dpkg status is status lacks for pkgs: a simulated install against that
// status, so the machine's own installed packages are respected.
func resolvePackages(ctx context.Context, status []byte, pkgs []string) ([]debFile, error) {
	f, err := os.CreateTemp("", "faultline-dpkg-status-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	_, werr := f.Write(status)
	if err := errors.Join(werr, f.Close()); err != nil {
		return nil, err
	}
	args := append([]string{"-s", "-q", "-o", "Dir::State::status=" + f.Name(), "-o", "Debug::NoLocking=1",
		"install", "--no-install-recommends", "-y"}, pkgs...)
	cmd := exec.CommandContext(ctx, "apt-get", args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("apt-get -s install %s: %w: %s", strings.Join(pkgs, " "), err, lastLines(stderr.String()+out.String(), 5))
	}
	return parseSimulation(out.String()), nil
}

// debCache is where downloaded packages are kept on the controller.
func debCache() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("package cache: %w", err)
	}
	return filepath.Join(dir, "faultline", "debs"), nil
}

// download fetches the .deb files of debs missing from the cache with
// `apt-get download` and returns their paths, in debs' order.
func download(ctx context.Context, debs []debFile, progress node.Progress) ([]string, error) {
	dir, err := debCache()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("package cache: %w", err)
	}
	unlock, err := filelock.Lock(ctx, dir+".lock", func() { progress.Printf("packages: waiting for another process downloading") })
	if err != nil {
		return nil, err
	}
	defer unlock()
	var want, paths []string
	for _, d := range debs {
		p := filepath.Join(dir, d.File())
		paths = append(paths, p)
		if _, err := os.Stat(p); err != nil {
			want = append(want, d.Name+"="+d.Version)
		}
	}
	if len(want) == 0 {
		return paths, nil
	}
	progress.Printf("packages: downloading %d .deb files with apt-get download", len(want))
	cmd := exec.CommandContext(ctx, "apt-get", append([]string{"download", "-q"}, want...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("apt-get download: %w: %s", err, lastLines(string(out), 5))
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("apt-get download left no %s", filepath.Base(p))
		}
	}
	return paths, nil
}

// dpkgScript installs the .deb files listed (in order) from debDir, with a
// policy-rc.d that keeps packaged services from starting (faultline starts
// the target itself), then removes the files.
func dpkgScript(files []string) string {
	var q []string
	for _, f := range files {
		q = append(q, shq(debDir+"/"+f))
	}
	return `set -e
made=
if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; made=1; fi
trap 'if [ -n "$made" ]; then rm -f /usr/sbin/policy-rc.d; fi; rm -rf ` + debDir + `' EXIT
DEBIAN_FRONTEND=noninteractive dpkg -i --force-confold --force-unsafe-io ` + strings.Join(q, " ") + `
`
}

// installOn installs r on n: the packages n lacks, the binaries and the
// files, then the marker. bins maps a binary's name (Go binaries and local
// packages) to its built file.
func installOn(ctx context.Context, n *Node, r recipe, sw node.Software, bins map[string]string, progress node.Progress) error {
	t0 := time.Now()
	res, err := n.execUnmarked(ctx, "sh", "-c", "dpkg --print-architecture && cat /var/lib/dpkg/status")
	if err != nil {
		return fmt.Errorf("%s: read its dpkg status (faultline installs Debian packages; the machine must run Debian %s): %w", n.name, docker.BaseSuite, err)
	}
	arch, status, _ := bytes.Cut(res.Stdout, []byte("\n"))
	if want := hostArch(ctx); want != "" && string(arch) != want {
		return fmt.Errorf("%s: the machine is %s, this controller %s: packages and binaries are made here for %s", n.name, arch, want, want)
	}
	debs, err := resolvePackages(ctx, status, r.Packages)
	if err != nil {
		return fmt.Errorf("%s: %w", n.name, err)
	}
	if len(debs) > 0 {
		paths, err := download(ctx, debs, progress)
		if err != nil {
			return fmt.Errorf("%s: %w", n.name, err)
		}
		var files []string
		for _, p := range paths {
			if err := copyFile(ctx, n, p, debDir+"/"+filepath.Base(p), 0o644); err != nil {
				return err
			}
			files = append(files, filepath.Base(p))
		}
		progress.Printf("%s: copied %d Debian packages in %s; installing them", n.name, len(files), time.Since(t0).Round(100*time.Millisecond))
		if _, err := n.execUnmarked(ctx, "sh", "-c", dpkgScript(files)); err != nil {
			return fmt.Errorf("%s: install packages: %w", n.name, err)
		}
	}
	for name, p := range bins {
		if err := copyFile(ctx, n, p, binDir+"/"+name, 0o755); err != nil {
			return err
		}
	}
	for _, f := range sw.Files {
		if err := copyFile(ctx, n, f.Src, f.Dst, fileMode(f)); err != nil {
			return err
		}
	}
	rec, _ := json.MarshalIndent(r, "", "  ")
	if err := n.WriteFile(ctx, r.marker(), rec, 0o644); err != nil {
		return err
	}
	progress.Printf("%s: installed %s (%d packages, %d binaries, %d files) in %s", n.name, r.Name, len(debs), len(bins), len(sw.Files),
		time.Since(t0).Round(100*time.Millisecond))
	return nil
}

// copyFile streams the local file src to dst on n.
func copyFile(ctx context.Context, n *Node, src, dst string, mode int64) error {
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("%s: copy %s: %w", n.name, src, err)
	}
	defer f.Close()
	return n.writeFrom(ctx, dst, f, mode)
}

// hostArch is this machine's dpkg architecture, "" when unknown.
func hostArch(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "dpkg", "--print-architecture").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
