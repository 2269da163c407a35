package docker

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/client"

	"github.com/faultline/faultline/harness/node"
)

// An image cache is a directory of `docker save` archives, one per faultline
// image, named after the image: faultline/etcd:d0e58fdad7f052d8 is kept in
// faultline-etcd_d0e58fdad7f052d8.tar. The tag is the image's recipe hash,
// so a file's name says which recipe it holds: a file that exists is never
// written again, and a CI job that keeps the directory between runs loads
// last night's images instead of rebuilding them. Each archive holds all the
// layers of its image, so a software image's archive repeats the base
// image's layers.

// cacheFilePrefix starts the name of every archive in an image cache; it is
// ImageRepoPrefix with the slash, which a file name cannot hold, replaced.
const cacheFilePrefix = "faultline-"

// cacheFileSuffix ends the name of every archive in an image cache.
const cacheFileSuffix = ".tar"

// cacheTempStale is the age after which PruneImageCache removes the
// temporary file of a save that was interrupted.
const cacheTempStale = time.Hour

// maxArchiveManifest bounds the manifest.json read from an image archive.
const maxArchiveManifest = 16 << 20

// recipeTagRE is what a recipe hash (and so a cached image's tag) looks like.
// It holds no underscore, which separates name and tag in a file name.
var recipeTagRE = regexp.MustCompile(`^[0-9a-f]{8,64}$`)

// cacheFileName is the file name under which image ref
// (faultline/<name>:<recipe hash>) is cached, and false when ref is not of
// that form.
func cacheFileName(ref string) (string, bool) {
	repo, tag, ok := strings.Cut(ref, ":")
	name, isFaultline := strings.CutPrefix(repo, ImageRepoPrefix)
	if !ok || !isFaultline || !imageNameRE.MatchString(name) || !recipeTagRE.MatchString(tag) {
		return "", false
	}
	return cacheFilePrefix + name + "_" + tag + cacheFileSuffix, true
}

// cacheFileRef is the image reference an image cache file name stands for,
// the inverse of cacheFileName, and false when file is not such a name.
func cacheFileRef(file string) (string, bool) {
	stem, ok := strings.CutSuffix(file, cacheFileSuffix)
	if !ok {
		return "", false
	}
	stem, ok = strings.CutPrefix(stem, cacheFilePrefix)
	if !ok {
		return "", false
	}
	i := strings.LastIndex(stem, "_")
	if i < 0 {
		return "", false
	}
	ref := ImageRepoPrefix + stem[:i] + ":" + stem[i+1:]
	if back, ok := cacheFileName(ref); !ok || back != file {
		return "", false
	}
	return ref, true
}

// imageTag is the tag of ref (repository:tag), or "" when it has none.
func imageTag(ref string) string {
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i:], "/") {
		return ""
	}
	return ref[i+1:]
}

// SaveImages writes each of faultline's tagged images (see ListImages) to
// the image cache dir as dir/faultline-<name>_<recipe hash>.tar with the
// engine's `docker save`, creating dir when missing. An archive that is
// already there is kept: its name says it holds the same recipe. Archives
// are written to a temporary file, checked and renamed into place, so an
// interrupted save leaves no archive that looks complete. Images whose tag
// is not their recipe hash are skipped. It returns the paths of the archives
// it wrote. An image that cannot be saved does not stop the others; the
// errors are returned together.
func SaveImages(ctx context.Context, cli *client.Client, dir string, progress node.Progress) ([]string, error) {
	return saveImages(ctx, cli, dir, nil, progress)
}

// saveImages is SaveImages for the images keep accepts (all when keep is
// nil).
func saveImages(ctx context.Context, cli *client.Client, dir string, keep func(ImageInfo) bool, progress node.Progress) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("image cache: %w", err)
	}
	infos, err := ListImages(ctx, cli)
	if err != nil {
		return nil, fmt.Errorf("image cache %s: %w", dir, err)
	}
	var written []string
	var errs []error
	for _, info := range infos {
		if info.Ref == "" || keep != nil && !keep(info) {
			continue
		}
		file, ok := cacheFileName(info.Ref)
		if !ok || imageTag(info.Ref) != info.Recipe {
			progress.Printf("image cache: skipping %s: its tag is not its recipe hash %s", info.Ref, info.Recipe)
			continue
		}
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("image cache %s: %w", dir, context.Cause(ctx)))
			break
		}
		p := filepath.Join(dir, file)
		switch _, err := os.Stat(p); {
		case err == nil:
			progress.Printf("image cache: %s already holds %s", p, info.Ref)
			continue
		case !errors.Is(err, os.ErrNotExist):
			errs = append(errs, fmt.Errorf("image cache: %w", err))
			continue
		}
		if err := saveImage(ctx, cli, info, p, progress); err != nil {
			errs = append(errs, err)
			continue
		}
		written = append(written, p)
	}
	return written, errors.Join(errs...)
}

// saveImage writes image info.Ref to the archive p through a temporary file
// in p's directory.
func saveImage(ctx context.Context, cli *client.Client, info ImageInfo, p string, progress node.Progress) (err error) {
	progress.Printf("image cache: saving %s (%s in the engine) to %s", info.Ref, megabytes(info.Size), p)
	start := time.Now()
	tmp, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".*.tmp")
	if err != nil {
		return fmt.Errorf("save image %s: %w", info.Ref, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	rc, err := cli.ImageSave(ctx, []string{info.Ref})
	if err != nil {
		return fmt.Errorf("save image %s: docker save: %w", info.Ref, err)
	}
	n, err := io.Copy(tmp, rc)
	rc.Close()
	if err != nil {
		if ctx.Err() != nil {
			err = context.Cause(ctx)
		}
		return fmt.Errorf("save image %s: docker save: %w", info.Ref, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("save image %s: %w", info.Ref, err)
	}
	// The engine's stream simply ends when it fails midway: make sure the
	// archive is whole before it gets a name that says it is.
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("save image %s: %w", info.Ref, err)
	}
	if err := checkImageArchive(tmp, info.Ref); err != nil {
		return fmt.Errorf("save image %s: docker save wrote a bad archive: %w", info.Ref, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("save image %s: %w", info.Ref, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save image %s: %w", info.Ref, err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("save image %s: %w", info.Ref, err)
	}
	d := time.Since(start)
	progress.Printf("image cache: saved %s: %s in %s (%s)", filepath.Base(p), megabytes(n), roundDuration(d), rate(n, d))
	return nil
}

// LoadImages loads each archive dir/faultline-<name>_<recipe hash>.tar of
// the image cache dir into the engine with `docker load`, skipping those
// whose image (faultline/<name>:<recipe hash>) the engine already has, and
// returns the references of the images it loaded. Each archive is checked
// before it is sent (a truncated or foreign file is refused, naming the
// file), and the loaded image must carry its recipe label. An archive that
// cannot be loaded does not stop the others; the errors are returned
// together. A missing dir is an error that wraps os.ErrNotExist.
func LoadImages(ctx context.Context, cli *client.Client, dir string, progress node.Progress) ([]string, error) {
	files, err := cacheFiles(dir, progress)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		progress.Printf("image cache: no %s*%s in %s: nothing to load", cacheFilePrefix, cacheFileSuffix, dir)
		return nil, nil
	}
	im := NewImages(cli)
	var loaded []string
	var errs []error
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("image cache %s: %w", dir, context.Cause(ctx)))
			break
		}
		switch ok, err := im.exists(ctx, f.ref); {
		case err != nil:
			errs = append(errs, fmt.Errorf("image cache %s: %w", f.path, err))
			continue
		case ok:
			progress.Printf("image cache: %s already present: not loading %s", f.ref, f.path)
			continue
		}
		if err := loadImage(ctx, cli, f.path, f.ref, progress); err != nil {
			errs = append(errs, err)
			continue
		}
		loaded = append(loaded, f.ref)
	}
	return loaded, errors.Join(errs...)
}

// cacheFile is one archive of an image cache.
type cacheFile struct {
	path, ref string
}

// cacheFiles returns the archives in the image cache dir, sorted by name,
// so a base image's archive comes before those of the images built on it.
// Files that look like archives but are not named as SaveImages names them
// are reported to progress and left out.
func cacheFiles(dir string, progress node.Progress) ([]cacheFile, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("image cache directory %s does not exist: %w", dir, err)
	}
	if err != nil {
		return nil, fmt.Errorf("image cache: %w", err)
	}
	var files []cacheFile
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, cacheFilePrefix) || !strings.HasSuffix(name, cacheFileSuffix) || e.IsDir() {
			continue
		}
		ref, ok := cacheFileRef(name)
		if !ok {
			progress.Printf("image cache: ignoring %s: not named faultline-<name>_<recipe hash>.tar", filepath.Join(dir, name))
			continue
		}
		files = append(files, cacheFile{path: filepath.Join(dir, name), ref: ref})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].path < files[j].path })
	return files, nil
}

// loadImage checks the archive p and loads it, expecting it to hold image
// ref.
func loadImage(ctx context.Context, cli *client.Client, p, ref string, progress node.Progress) error {
	start := time.Now()
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("load image %s: %w", ref, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("load image %s: %w", ref, err)
	}
	if err := checkImageArchive(f, ref); err != nil {
		return fmt.Errorf("load image %s: %s: %w", ref, p, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("load image %s: %w", ref, err)
	}
	progress.Printf("image cache: loading %s (%s)", p, megabytes(fi.Size()))
	resp, err := cli.ImageLoad(ctx, f, client.ImageLoadWithQuiet(true))
	if err != nil {
		return fmt.Errorf("load image %s: docker load %s: %w", ref, p, err)
	}
	defer resp.Body.Close()
	if resp.JSON {
		err = readEngineStream(resp.Body, nil)
	} else {
		_, err = io.Copy(io.Discard, resp.Body)
	}
	if err != nil {
		return fmt.Errorf("load image %s: docker load %s: %w", ref, p, err)
	}
	info, err := cli.ImageInspect(ctx, ref)
	if err != nil {
		return fmt.Errorf("load image %s: after docker load %s: %w", ref, p, err)
	}
	var labels map[string]string
	if info.Config != nil {
		labels = info.Config.Labels
	}
	if got, want := labels[LabelRecipe], imageTag(ref); got != want {
		return fmt.Errorf("load image %s: %s loaded an image whose %s label is %q, not its tag %s", ref, p, LabelRecipe, got, want)
	}
	d := time.Since(start)
	progress.Printf("image cache: loaded %s in %s (%s)", ref, roundDuration(d), rate(fi.Size(), d))
	return nil
}

// archiveManifest is one entry of the manifest.json of a `docker save`
// archive.
type archiveManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// checkImageArchive reads the `docker save` archive r to its end and
// reports whether it is a whole tar archive whose manifest.json lists image
// ref with every file the manifest names for it. It catches truncation and
// files that are not image archives, not damage inside a layer: the engine
// checks each layer's digest as it loads it. When r is a file, layer
// contents are skipped with seeks.
func checkImageArchive(r io.Reader, ref string) error {
	tr := tar.NewReader(r)
	names := map[string]bool{}
	var manifest []archiveManifest
	haveManifest := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("corrupt or truncated tar archive: %w", err)
		}
		name := path.Clean(h.Name)
		names[name] = true
		if name != "manifest.json" {
			continue
		}
		data, err := io.ReadAll(io.LimitReader(tr, maxArchiveManifest+1))
		if err != nil {
			return fmt.Errorf("corrupt or truncated tar archive: manifest.json: %w", err)
		}
		if len(data) > maxArchiveManifest {
			return fmt.Errorf("manifest.json larger than %d bytes: not an image archive of docker save", maxArchiveManifest)
		}
		if err := json.Unmarshal(data, &manifest); err != nil {
			return fmt.Errorf("manifest.json: %w", err)
		}
		haveManifest = true
	}
	if !haveManifest {
		return errors.New("no manifest.json: not an image archive written by docker save, or truncated")
	}
	for _, m := range manifest {
		if !slices.Contains(m.RepoTags, ref) && !slices.Contains(m.RepoTags, "docker.io/"+ref) {
			continue
		}
		for _, p := range append([]string{m.Config}, m.Layers...) {
			if p == "" || !names[path.Clean(p)] {
				return fmt.Errorf("manifest.json names %q, which the archive lacks: truncated?", p)
			}
		}
		return nil
	}
	return fmt.Errorf("the archive does not hold image %s", ref)
}

// PruneImageCache removes from the image cache dir the archives of images
// the engine no longer has (their recipe changed, so a new image with a new
// hash replaced them), and temporary files that interrupted saves left
// behind more than an hour ago. It returns the paths it removed. Run it
// after SaveImages, when the engine holds every image still in use, so the
// cache does not grow with every recipe change.
func PruneImageCache(ctx context.Context, cli *client.Client, dir string, progress node.Progress) ([]string, error) {
	files, err := cacheFiles(dir, progress)
	if err != nil {
		return nil, err
	}
	infos, err := ListImages(ctx, cli)
	if err != nil {
		return nil, fmt.Errorf("image cache %s: %w", dir, err)
	}
	present := map[string]bool{}
	for _, info := range infos {
		if info.Ref != "" {
			present[info.Ref] = true
		}
	}
	var removed []string
	var errs []error
	for _, f := range files {
		if present[f.ref] {
			continue
		}
		if err := os.Remove(f.path); err != nil {
			errs = append(errs, fmt.Errorf("image cache: %w", err))
			continue
		}
		progress.Printf("image cache: removed %s: the engine has no image %s", f.path, f.ref)
		removed = append(removed, f.path)
	}

	temps, err := filepath.Glob(filepath.Join(dir, "."+cacheFilePrefix+"*"+cacheFileSuffix+".*.tmp"))
	if err != nil {
		errs = append(errs, fmt.Errorf("image cache %s: %w", dir, err))
	}
	for _, p := range temps {
		fi, err := os.Stat(p)
		if err != nil || time.Since(fi.ModTime()) < cacheTempStale {
			continue // gone meanwhile, or a save still writing it
		}
		if err := os.Remove(p); err != nil {
			errs = append(errs, fmt.Errorf("image cache: %w", err))
			continue
		}
		progress.Printf("image cache: removed %s, left by an interrupted save", p)
		removed = append(removed, p)
	}
	return removed, errors.Join(errs...)
}

// rate is n bytes in d as megabytes per second.
func rate(n int64, d time.Duration) string {
	if d <= 0 || n < 0 {
		return "rate unknown"
	}
	return fmt.Sprintf("%.0f MB/s", float64(n)/1e6/d.Seconds())
}
