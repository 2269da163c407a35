package docker

import (
	"archive/tar"
	"bufio"
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
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/faultline/faultline/harness/gobuild"
	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/internal/filelock"
	"github.com/faultline/faultline/internal/procgroup"
)

// LabelRecipe is set on every image faultline builds; its value is the
// recipe hash that is also the image's tag. Images never carry LabelRun:
// `faultline clean` removes what carries LabelRun, and images are meant to
// outlive runs.
const LabelRecipe = "io.faultline.recipe"

// ImageRepoPrefix starts the repository of every faultline image:
// faultline/base, faultline/etcd, ...
const ImageRepoPrefix = "faultline/"

// BaseSuite is the Debian release of the base image.
const BaseSuite = "bookworm"

// imagesVersion takes part in every image hash. Bump it when the way images
// are made changes (mmdebstrap arguments, import changes, Dockerfile), so
// existing images are not mistaken for new ones.
const imagesVersion = "1"

// mergedUsrHooks keeps usrmerge (and with it a full perl, +70 MB) out of the
// base image.
const mergedUsrHooks = "/usr/share/mmdebstrap/hooks/merged-usr"

// imageProgressEvery is how often long steps report their elapsed time.
const imageProgressEvery = 15 * time.Second

// BasePackages are the Debian packages every node has: the faults' tools
// (iptables, tc, ps/kill/pgrep) and basic network checks.
func BasePackages() []string {
	return []string{"iptables", "iproute2", "procps", "ca-certificates", "iputils-ping", "netcat-openbsd"}
}

// hostSourcesFiles are the host's apt sources the base image is built from,
// in order of preference.
func hostSourcesFiles() []string {
	return []string{"/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"}
}

// mmdebstrapArgs is the mmdebstrap command line (without the program name)
// that writes the base root file system for packages to the tar file out
// from the apt sources file sources; manDirs is node.Software.ManDirs.
func mmdebstrapArgs(packages []string, manDirs bool, out, sources string) []string {
	args := []string{
		"--variant=apt",
		"--format=tar",
		"--include=" + strings.Join(packages, ","),
		"--hook-dir=" + mergedUsrHooks,
	}
	// Documentation is dead weight on a test node; copyright files stay, as
	// Debian's licences ask of copies.
	for _, opt := range []string{
		"path-exclude=/usr/share/man/*",
		"path-exclude=/usr/share/info/*",
		"path-exclude=/usr/share/locale/*",
		"path-exclude=/usr/share/doc/*",
		"path-include=/usr/share/doc/*/copyright",
	} {
		args = append(args, "--dpkgopt="+opt)
	}
	if manDirs {
		// The directory stays, empty: only recipes that ask get the hook,
		// so other images keep their hash.
		args = append(args, `--essential-hook=mkdir -p "$1/usr/share/man/man1"`)
	}
	return append(args, BaseSuite, out, sources)
}

// importChanges are the Dockerfile instructions applied when the root file
// system is imported. Containers run with an init (Init=true), so the command
// just has to stay alive.
func importChanges() []string {
	return []string{
		`CMD ["sleep", "infinity"]`,
		"ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	}
}

var (
	// debianPackageRE accepts a package name with an optional :arch and
	// =version, nothing that could smuggle in an option or a second name.
	debianPackageRE = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?(=[A-Za-z0-9.+~:-]+)?$`)
	// imageNameRE is what Docker accepts as one repository path component.
	imageNameRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	// localNameRE is a plain file name for a local Go package's binary.
	localNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
)

// basePackageList is the sorted, de-duplicated list of the base packages and
// extra, or an error naming an invalid package.
func basePackageList(extra []string) ([]string, error) {
	pkgs := append(BasePackages(), extra...)
	for _, p := range pkgs {
		if !debianPackageRE.MatchString(p) {
			return nil, fmt.Errorf("invalid Debian package name %q", p)
		}
	}
	slices.Sort(pkgs)
	return slices.Compact(pkgs), nil
}

// readHostSources returns the path and content of the host's apt sources.
func readHostSources() (string, []byte, error) {
	for _, p := range hostSourcesFiles() {
		data, err := os.ReadFile(p)
		if err == nil {
			return p, data, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return "", nil, fmt.Errorf("apt sources: %w", err)
		}
	}
	return "", nil, fmt.Errorf("no apt sources on this machine (%s): the base image is built from the host's Debian mirrors",
		strings.Join(hostSourcesFiles(), " or "))
}

// recipeHash is the first 16 hex digits of the SHA-256 of v's JSON encoding
// (struct fields keep their order, so the encoding is canonical).
func recipeHash(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err) // only strings and slices of them: cannot fail
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8])
}

// baseHash is the recipe hash of the base image with the (normalized)
// package list pkgs, built from apt sources whose content is sources.
func baseHash(pkgs []string, manDirs bool, sources []byte) string {
	return recipeHash(struct {
		Version    string
		Suite      string
		Packages   []string
		Mmdebstrap []string
		Sources    string
		Changes    []string
	}{imagesVersion, BaseSuite, pkgs, mmdebstrapArgs(pkgs, manDirs, "OUT", "SOURCES"), string(sources), importChanges()})
}

// binaryRecipe names one Go binary of an image by its gobuild recipe hash,
// or, for a local Go package, by localBinaryPrefix and its bytes' hash.
type binaryRecipe struct {
	Name, Hash string
}

// imageRecipe is what a software image is made of. Its hash is the image's
// tag; inputs enter it by content, so the same inputs name the same image.
type imageRecipe struct {
	// base is the base image's recipe hash, or the user's image ID.
	base string
	// user says base is a user's image (node.Software.Image).
	user bool
	// tools is faultline's base image for the helpers of a user's image.
	tools string
	bins  []binaryRecipe
	files []fileRecipe
}

// softwareHash is the recipe hash of an image made of the base image base
// and the binaries (in any order).
func softwareHash(base string, bins []binaryRecipe) string {
	return imageRecipe{base: base, bins: bins}.hash()
}

// hash is the recipe's hash. Binaries count in any order, files in theirs
// (a later one may overwrite an earlier). A recipe of only a base and
// binaries hashes as it did before files and user images existed, so the
// shipped targets' images keep their tags.
func (r imageRecipe) hash() string {
	bins := slices.Clone(r.bins)
	sort.Slice(bins, func(i, j int) bool { return bins[i].Name < bins[j].Name })
	return recipeHash(struct {
		Version    string
		Base       string
		Dockerfile string
		Binaries   []binaryRecipe
		Files      []fileRecipe `json:",omitempty"`
		UserImage  bool         `json:",omitempty"`
		Tools      string       `json:",omitempty"`
	}{imagesVersion, r.base, r.dockerfile("BASE"), bins, r.files, r.user, r.tools})
}

// dockerfile is the Dockerfile of the recipe's image, built FROM from: the
// binaries in one layer, then each file. An image from a user's image gets
// faultline's node conventions: no entrypoint, a command that keeps the
// container alive, root for commands run on the node, and no health check
// of its own (the target's Setup starts the servers, not the image).
func (r imageRecipe) dockerfile(from string) string {
	s := "FROM " + from + "\n"
	if r.user {
		s += "ENTRYPOINT []\nCMD [\"sleep\", \"infinity\"]\nUSER root\nHEALTHCHECK NONE\n"
	}
	if len(r.bins) > 0 {
		s += "COPY bin/ /usr/local/bin/\n"
	}
	for i, f := range r.files {
		// JSON form: a destination with spaces stays one argument.
		args, _ := json.Marshal([]string{fileContextName(i), f.Dst})
		s += "COPY " + string(args) + "\n"
	}
	return s
}

// fileContextName is where the i-th node.File lies in the build context.
func fileContextName(i int) string { return fmt.Sprintf("files/%d", i) }

// softwareDockerfile is the Dockerfile of a software image: the base plus the
// binaries, in one layer.
func softwareDockerfile(base string, binaries bool) string {
	r := imageRecipe{}
	if binaries {
		r.bins = []binaryRecipe{{}}
	}
	return r.dockerfile(base)
}

// Images builds and finds faultline's images. Its methods are safe for
// concurrent use: builds are serialized, so concurrent callers wanting the
// same image build it once and the others find it.
type Images struct {
	cli *client.Client
	mu  sync.Mutex
}

// NewImages returns an Images using cli.
func NewImages(cli *client.Client) *Images {
	return &Images{cli: cli}
}

// BaseImage is NewImages(cli).Base. Independent calls are not serialized
// with each other; callers that build concurrently share one *Images.
func BaseImage(ctx context.Context, cli *client.Client, packages []string, progress node.Progress) (string, error) {
	return NewImages(cli).Base(ctx, packages, progress)
}

// EnsureImage is NewImages(cli).Ensure. Independent calls are not serialized
// with each other; callers that build concurrently share one *Images.
func EnsureImage(ctx context.Context, cli *client.Client, sw node.Software, progress node.Progress) (string, error) {
	return NewImages(cli).Ensure(ctx, sw, progress)
}

// Base returns the reference (faultline/base:<hash>) of faultline's Debian
// base image with BasePackages and the extra packages, building it when
// missing: mmdebstrap makes a root file system from the host's apt sources
// and it is imported as an image. Building needs root and mmdebstrap.
func (im *Images) Base(ctx context.Context, packages []string, progress node.Progress) (string, error) {
	pkgs, err := basePackageList(packages)
	if err != nil {
		return "", fmt.Errorf("base image: %w", err)
	}
	sourcesPath, sources, err := readHostSources()
	if err != nil {
		return "", fmt.Errorf("base image: %w", err)
	}
	im.mu.Lock()
	defer im.mu.Unlock()
	return im.base(ctx, pkgs, false, sourcesPath, sources, progress)
}

// base is Base with the lock held and the inputs read.
func (im *Images) base(ctx context.Context, pkgs []string, manDirs bool, sourcesPath string, sources []byte, progress node.Progress) (string, error) {
	hash := baseHash(pkgs, manDirs, sources)
	ref := ImageRepoPrefix + "base:" + hash
	return im.buildOnce(ctx, ref, progress, func() error {
		return im.buildBase(ctx, ref, hash, pkgs, manDirs, sourcesPath, progress)
	})
}

// buildOnce returns ref when the image exists, and otherwise builds it
// under a lock shared with other faultline processes, looking again once
// the lock is held: another process may have built it meanwhile.
func (im *Images) buildOnce(ctx context.Context, ref string, progress node.Progress, build func() error) (string, error) {
	switch ok, err := im.exists(ctx, ref); {
	case err != nil:
		return "", err
	case ok:
		return ref, nil
	}
	unlock, err := lockImage(ctx, ref, progress)
	if err != nil {
		return "", err
	}
	defer unlock()
	switch ok, err := im.exists(ctx, ref); {
	case err != nil:
		return "", err
	case ok:
		return ref, nil
	}
	if err := build(); err != nil {
		return "", err
	}
	return ref, nil
}

// buildBase makes the base image's root file system with mmdebstrap and
// imports it as ref.
func (im *Images) buildBase(ctx context.Context, ref, hash string, pkgs []string, manDirs bool, sourcesPath string, progress node.Progress) error {
	if err := im.checkPlatform(ctx); err != nil {
		return err
	}
	if runtime.GOOS != "linux" {
		return fmt.Errorf("base image %s: mmdebstrap needs a Linux machine", ref)
	}
	mmdebstrap, err := exec.LookPath("mmdebstrap")
	if err != nil {
		return fmt.Errorf("base image %s: mmdebstrap not found: run scripts/setup.sh or apt-get install mmdebstrap", ref)
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("base image %s: building it needs root (mmdebstrap runs in root mode): run faultline as root once to build the images", ref)
	}
	if _, err := os.Stat(mergedUsrHooks); err != nil {
		return fmt.Errorf("base image %s: mmdebstrap's hook directory %s is missing (mmdebstrap 1.0 or newer needed): %w", ref, mergedUsrHooks, err)
	}

	work, err := os.MkdirTemp("", "faultline-base-")
	if err != nil {
		return fmt.Errorf("base image %s: %w", ref, err)
	}
	defer os.RemoveAll(work)
	tarPath := filepath.Join(work, "rootfs.tar")

	progress.Printf("building base image %s: Debian %s with %s from %s (1-2 min)", ref, BaseSuite, strings.Join(pkgs, " "), sourcesPath)
	start := time.Now()
	if err := runMmdebstrap(ctx, mmdebstrap, mmdebstrapArgs(pkgs, manDirs, tarPath, sourcesPath), progress); err != nil {
		return fmt.Errorf("base image %s: %w", ref, err)
	}
	fi, err := os.Stat(tarPath)
	if err != nil {
		return fmt.Errorf("base image %s: mmdebstrap wrote no tar: %w", ref, err)
	}
	progress.Printf("base image: root file system ready in %s (%s); importing", roundDuration(time.Since(start)), megabytes(fi.Size()))

	if err := im.importTar(ctx, tarPath, ref, hash); err != nil {
		return fmt.Errorf("base image %s: %w", ref, err)
	}
	size := int64(-1)
	if info, err := im.cli.ImageInspect(ctx, ref); err == nil {
		size = info.Size
	}
	progress.Printf("built base image %s in %s: %s", ref, roundDuration(time.Since(start)), megabytes(size))
	return nil
}

// runMmdebstrap runs mmdebstrap, forwarding its log lines to progress and
// adding an elapsed-time line every imageProgressEvery. On cancellation its
// process group gets SIGINT, as from a terminal's Ctrl-C: its workers die and
// mmdebstrap itself, which waits for them, removes its temporary chroot. What
// is still running a minute later is killed.
func runMmdebstrap(ctx context.Context, path string, args []string, progress node.Progress) error {
	cmd := exec.CommandContext(ctx, path, args...)
	procgroup.Configure(cmd, os.Interrupt, time.Minute)
	defer procgroup.Kill(cmd)
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("mmdebstrap: %w", err)
	}
	waitErr := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		pw.Close()
		waitErr <- err
	}()

	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			lines <- sc.Text()
		}
		io.Copy(io.Discard, pr) // an over-long line: keep draining so mmdebstrap never blocks
	}()

	// All progress calls happen here, in one goroutine.
	var last []string
	start := time.Now()
	ticker := time.NewTicker(imageProgressEvery)
	defer ticker.Stop()
	for open := true; open; {
		select {
		case line, ok := <-lines:
			if !ok {
				open = false
				break
			}
			if line = strings.TrimSpace(line); line == "" {
				continue
			}
			progress.Printf("base image: mmdebstrap: %s", line)
			if last = append(last, line); len(last) > 30 {
				last = last[1:]
			}
		case <-ticker.C:
			progress.Printf("base image: %s elapsed", roundDuration(time.Since(start)))
		}
	}
	if err := <-waitErr; err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("mmdebstrap interrupted: %w", context.Cause(ctx))
		}
		return fmt.Errorf("mmdebstrap %s: %w\n%s", strings.Join(args, " "), err, strings.Join(last, "\n"))
	}
	return nil
}

// importTar imports the root file system tar as image ref with the recipe
// label.
func (im *Images) importTar(ctx context.Context, tarPath, ref, hash string) error {
	f, err := os.Open(tarPath)
	if err != nil {
		return err
	}
	defer f.Close()
	changes := append(importChanges(), "LABEL "+LabelRecipe+"="+hash)
	rc, err := im.cli.ImageImport(ctx, image.ImportSource{Source: f, SourceName: "-"}, ref, image.ImportOptions{
		Message: "faultline base image",
		Changes: changes,
	})
	if err != nil {
		return fmt.Errorf("docker import: %w", err)
	}
	defer rc.Close()
	if err := readEngineStream(rc, nil); err != nil {
		return fmt.Errorf("docker import: %w", err)
	}
	return nil
}

// Ensure returns the reference (faultline/<sw.Name>:<hash>) of the image
// that installs sw, building what is missing: the base image with
// sw.Packages (or, with sw.Image, the user's image, never pulled), the Go
// binaries (see package gobuild), the local Go packages (built every time,
// which go's build cache makes cheap, since their bytes enter the hash) and
// an image adding the binaries to /usr/local/bin and the files. An image
// that exists is used as is: its tag is a hash of the whole recipe,
// including the host's apt sources, the Go toolchain's version, the local
// programs' and files' contents and the user image's ID.
func (im *Images) Ensure(ctx context.Context, sw node.Software, progress node.Progress) (string, error) {
	if err := checkSoftware(sw); err != nil {
		return "", err
	}
	for _, f := range sw.Files {
		if err := checkFile(f); err != nil {
			return "", fmt.Errorf("image %s: %w", sw.Name, err)
		}
	}
	if len(sw.Local) > 0 || sw.Image != "" {
		if err := im.checkPlatform(ctx); err != nil {
			return "", fmt.Errorf("image %s: %w", sw.Name, err)
		}
	}
	// The base packages: the image's own base, or the helpers' tools.
	pkgs, err := basePackageList(sw.Packages)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", sw.Name, err)
	}
	sourcesPath, sources, err := readHostSources()
	if err != nil {
		return "", fmt.Errorf("image %s: %w", sw.Name, err)
	}
	var r imageRecipe
	if sw.Image != "" {
		if r.base, err = im.userImageID(ctx, sw.Image); err != nil {
			return "", fmt.Errorf("image %s: %w", sw.Name, err)
		}
		r.user = true
		r.tools = ImageRepoPrefix + "base:" + baseHash(pkgs, false, sources)
	} else {
		r.base = baseHash(pkgs, sw.ManDirs, sources)
	}

	var goVersion string
	if len(sw.Binaries) > 0 {
		if goVersion, err = gobuild.GoVersion(ctx); err != nil {
			return "", fmt.Errorf("image %s: %w", sw.Name, err)
		}
	}
	for _, b := range sw.Binaries {
		r.bins = append(r.bins, binaryRecipe{Name: b.Name, Hash: gobuild.RecipeHash(b, goVersion)})
	}
	localFiles, err := r.addLocal(ctx, sw.Local, progress)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", sw.Name, err)
	}
	files, err := r.addFiles(sw.Files)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", sw.Name, err)
	}
	ctxFiles := append(localFiles, files...)
	hash := r.hash()
	ref := ImageRepoPrefix + sw.Name + ":" + hash

	im.mu.Lock()
	defer im.mu.Unlock()
	if r.user {
		// The helpers' image must be there whenever the nodes' is, also
		// when the latter was built before.
		if _, err := im.base(ctx, pkgs, false, sourcesPath, sources, progress); err != nil {
			return "", fmt.Errorf("image %s: helper image: %w", sw.Name, err)
		}
	}
	return im.buildOnce(ctx, ref, progress, func() error {
		return im.buildImage(ctx, ref, hash, sw, r, ctxFiles, pkgs, sourcesPath, sources, progress)
	})
}

// checkSoftware refuses a Software that cannot be built, before anything
// is built: a bad name, an invalid Go binary recipe, two programs of one
// name, a local package without a name or directory, Packages or ManDirs
// with a user's image (whose base is not faultline's Debian).
func checkSoftware(sw node.Software) error {
	if !imageNameRE.MatchString(sw.Name) || sw.Name == "base" {
		return fmt.Errorf("software name %q: want a lower-case image name other than base", sw.Name)
	}
	seen := map[string]bool{}
	for _, b := range sw.Binaries {
		if err := gobuild.Validate(b); err != nil {
			return fmt.Errorf("image %s: %w", sw.Name, err)
		}
		if seen[b.Name] {
			return fmt.Errorf("image %s: two binaries named %s", sw.Name, b.Name)
		}
		seen[b.Name] = true
	}
	for _, l := range sw.Local {
		if !localNameRE.MatchString(l.Name) {
			return fmt.Errorf("image %s: local Go package %q: want a plain file name for /usr/local/bin", sw.Name, l.Name)
		}
		if l.Dir == "" {
			return fmt.Errorf("image %s: local Go package %s: no directory", sw.Name, l.Name)
		}
		if seen[l.Name] {
			return fmt.Errorf("image %s: two binaries named %s", sw.Name, l.Name)
		}
		seen[l.Name] = true
	}
	dsts := map[string]bool{}
	for _, f := range sw.Files {
		if dsts[f.Dst] {
			return fmt.Errorf("image %s: two files for %s", sw.Name, f.Dst)
		}
		dsts[f.Dst] = true
		if dir, name := path.Split(f.Dst); dir == "/usr/local/bin/" && seen[name] {
			return fmt.Errorf("image %s: file %s would overwrite the binary %s", sw.Name, f.Src, name)
		}
	}
	if sw.Image != "" {
		if len(sw.Packages) > 0 {
			return fmt.Errorf("image %s: Debian packages (%s) cannot be added to the user image %s: install them in it when you build it",
				sw.Name, strings.Join(sw.Packages, " "), sw.Image)
		}
		if sw.ManDirs {
			return fmt.Errorf("image %s: ManDirs applies to faultline's Debian base, not to the user image %s", sw.Name, sw.Image)
		}
	}
	return nil
}

// buildImage builds the base image when missing, the binaries, and image
// ref from them.
func (im *Images) buildImage(ctx context.Context, ref, hash string, sw node.Software, r imageRecipe, local []contextFile,
	pkgs []string, sourcesPath string, sources []byte, progress node.Progress) error {
	start := time.Now()
	progress.Printf("image %s missing: building it", ref)
	from := r.base // a user's image, by ID: what was hashed is what is built on
	if !r.user {
		base, err := im.base(ctx, pkgs, sw.ManDirs, sourcesPath, sources, progress)
		if err != nil {
			return fmt.Errorf("image %s: %w", ref, err)
		}
		from = base
	}
	var files []contextFile
	for _, b := range sw.Binaries {
		p, err := gobuild.Build(ctx, b, progress)
		if err != nil {
			return fmt.Errorf("image %s: %w", ref, err)
		}
		files = append(files, contextFile{Name: "bin/" + b.Name, Path: p, Mode: 0o755})
	}
	files = append(files, local...)
	labels := map[string]string{LabelRecipe: hash}
	if r.user {
		labels[LabelToolsImage] = r.tools
	}
	if err := im.buildSoftware(ctx, ref, labels, r.dockerfile(from), files, progress); err != nil {
		return fmt.Errorf("image %s: %w", ref, err)
	}
	size := int64(-1)
	if info, err := im.cli.ImageInspect(ctx, ref); err == nil {
		size = info.Size
	}
	progress.Printf("image %s ready in %s: %s", ref, roundDuration(time.Since(start)), megabytes(size))
	return nil
}

// buildSoftware builds image ref from the Dockerfile and files with the
// legacy builder (no BuildKit: it would want to pull a frontend), from a
// tar context streamed from memory and the local files.
func (im *Images) buildSoftware(ctx context.Context, ref string, labels map[string]string, dockerfile string, files []contextFile, progress node.Progress) error {
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(writeBuildContext(pw, dockerfile, files))
	}()
	defer pr.Close() // unblocks the writer if the build ends early
	resp, err := im.cli.ImageBuild(ctx, pr, build.ImageBuildOptions{
		Tags:        []string{ref},
		Dockerfile:  "Dockerfile",
		Labels:      labels,
		Remove:      true,
		ForceRemove: true,
		Version:     build.BuilderV1,
	})
	if err != nil {
		return fmt.Errorf("docker build: %w", err)
	}
	defer resp.Body.Close()
	if err := readEngineStream(resp.Body, func(line string) {
		if strings.HasPrefix(line, "Step ") {
			progress.Printf("docker build %s: %s", ref, line)
		}
	}); err != nil {
		return fmt.Errorf("docker build: %w", err)
	}
	return nil
}

// writeBuildContext writes the build context tar: the Dockerfile and the
// files, each under its context name with its mode (what COPY gives it on
// the node). Directories are made for the names' parents.
func writeBuildContext(w io.Writer, dockerfileText string, files []contextFile) error {
	tw := tar.NewWriter(w)
	// A fixed time keeps the context identical for identical inputs.
	mtime := time.Unix(0, 0)
	if err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(dockerfileText)), ModTime: mtime}); err != nil {
		return err
	}
	if _, err := io.WriteString(tw, dockerfileText); err != nil {
		return err
	}
	dirs := map[string]bool{}
	for _, f := range files {
		if dir := path.Dir(f.Name); dir != "." && !dirs[dir] {
			dirs[dir] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755, ModTime: mtime}); err != nil {
				return err
			}
		}
		if err := addContextFile(tw, f, mtime); err != nil {
			return err
		}
	}
	return tw.Close()
}

// addContextFile adds cf to the context; the size written is the size
// stat saw, so a file growing meanwhile cannot corrupt the tar.
func addContextFile(tw *tar.Writer, cf contextFile, mtime time.Time) error {
	f, err := os.Open(cf.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: cf.Name, Mode: cf.Mode, Size: fi.Size(), ModTime: mtime}); err != nil {
		return err
	}
	_, err = io.Copy(tw, io.LimitReader(f, fi.Size()))
	return err
}

// exists reports whether the engine has image ref.
func (im *Images) exists(ctx context.Context, ref string) (bool, error) {
	_, err := im.cli.ImageInspect(ctx, ref)
	switch {
	case err == nil:
		return true, nil
	case cerrdefs.IsNotFound(err):
		return false, nil
	default:
		return false, fmt.Errorf("inspect image %s: %w", ref, err)
	}
}

// lockImage takes the cross-process lock for building image ref: parallel
// test packages and concurrent faultline processes wait for one another
// instead of building the same image twice. Locks are taken software image
// first, base image second, never the other way round.
func lockImage(ctx context.Context, ref string, progress node.Progress) (func(), error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return nil, fmt.Errorf("image %s: lock directory: %w", ref, err)
	}
	name := strings.NewReplacer("/", "-", ":", "-").Replace(ref) + ".lock"
	unlock, err := filelock.Lock(ctx, filepath.Join(dir, "faultline", "locks", name), func() {
		progress.Printf("image %s: waiting for another process building it", ref)
	})
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	return unlock, nil
}

// checkPlatform refuses to build for an engine whose platform differs from
// this machine's: the root file system and the Go binaries are made here, for
// this machine's architecture.
func (im *Images) checkPlatform(ctx context.Context) error {
	v, err := im.cli.ServerVersion(ctx)
	if err != nil {
		return fmt.Errorf("docker version: %w", err)
	}
	if v.Os != "linux" || v.Arch != runtime.GOARCH {
		return fmt.Errorf("the Docker engine runs %s/%s but images are built here for linux/%s: build them on a machine like the engine's", v.Os, v.Arch, runtime.GOARCH)
	}
	return nil
}

// engineMessage is the part of the engine's progress stream faultline reads.
type engineMessage struct {
	Stream      string `json:"stream"`
	Status      string `json:"status"`
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
	Error string `json:"error"`
}

// readEngineStream reads an engine progress stream to its end, passing each
// output line to each (when not nil), and returns the error the stream
// reports, if any.
func readEngineStream(r io.Reader, each func(line string)) error {
	dec := json.NewDecoder(r)
	for {
		var m engineMessage
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("reading engine output: %w", err)
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			return errors.New(m.ErrorDetail.Message)
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
		if each == nil {
			continue
		}
		for _, line := range strings.Split(m.Stream+m.Status, "\n") {
			if line = strings.TrimSpace(line); line != "" {
				each(line)
			}
		}
	}
}

// ImageInfo describes one of faultline's images, for `faultline images`.
type ImageInfo struct {
	// Ref is repository:tag, e.g. faultline/etcd:0123456789abcdef; empty for
	// an image that lost its tag.
	Ref     string
	ID      string
	Size    int64
	Created time.Time
	// Recipe is the recipe hash (the LabelRecipe label).
	Recipe string
}

// ListImages returns faultline's images, sorted by reference: those with the
// recipe label in a faultline/ repository, plus untagged ones with the label.
func ListImages(ctx context.Context, cli *client.Client) ([]ImageInfo, error) {
	sums, err := cli.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelRecipe))})
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	var out []ImageInfo
	for _, s := range sums {
		info := ImageInfo{ID: s.ID, Size: s.Size, Created: time.Unix(s.Created, 0), Recipe: s.Labels[LabelRecipe]}
		tagged := false
		for _, t := range s.RepoTags {
			if strings.HasPrefix(t, ImageRepoPrefix) {
				info.Ref = t
				out = append(out, info)
				tagged = true
			}
		}
		if !tagged && (len(s.RepoTags) == 0 || s.RepoTags[0] == "<none>:<none>") {
			out = append(out, info)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Ref != out[j].Ref {
			return out[i].Ref < out[j].Ref
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

func roundDuration(d time.Duration) string {
	if d < time.Minute {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func megabytes(n int64) string {
	if n < 0 {
		return "size unknown"
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}
