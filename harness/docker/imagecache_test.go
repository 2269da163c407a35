package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/faultline/faultline/harness/docker/dockerenv"
	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/internal/testenv"
)

func TestCacheFileName(t *testing.T) {
	for _, tt := range []struct{ ref, file string }{
		{"faultline/etcd:d0e58fdad7f052d8", "faultline-etcd_d0e58fdad7f052d8.tar"},
		{"faultline/base:e227d534f50dfbe8", "faultline-base_e227d534f50dfbe8.tar"},
		{"faultline/my_db:0123456789abcdef", "faultline-my_db_0123456789abcdef.tar"},
		{"faultline/cachetest-1a2b:0123456789abcdef", "faultline-cachetest-1a2b_0123456789abcdef.tar"},
	} {
		file, ok := cacheFileName(tt.ref)
		if !ok || file != tt.file {
			t.Errorf("cacheFileName(%q) = %q, %v; want %q", tt.ref, file, ok, tt.file)
		}
		ref, ok := cacheFileRef(tt.file)
		if !ok || ref != tt.ref {
			t.Errorf("cacheFileRef(%q) = %q, %v; want %q", tt.file, ref, ok, tt.ref)
		}
	}
	for _, ref := range []string{
		"faultline/etcd:latest",         // not a recipe hash
		"faultline/etcd:v1_2",           // underscore in the tag
		"faultline/etcd",                // no tag
		"redis:0123456789abcdef",        // not faultline's
		"other/etcd:0123456789abcdef",   // not faultline's
		"faultline/Etcd:0123456789abcd", // not an image name
	} {
		if file, ok := cacheFileName(ref); ok {
			t.Errorf("cacheFileName(%q) = %q, want refusal", ref, file)
		}
	}
	for _, file := range []string{
		"faultline-etcd.tar",
		"faultline-etcd_latest.tar",
		"faultline-_0123456789abcdef.tar",
		"faultline-etcd_0123456789abcdef.tar.gz",
		"etcd_0123456789abcdef.tar",
		"faultline-Etcd_0123456789abcdef.tar",
	} {
		if ref, ok := cacheFileRef(file); ok {
			t.Errorf("cacheFileRef(%q) = %q, want refusal", file, ref)
		}
	}
}

// testImageArchive is a small archive shaped like docker save's output for
// image ref, with the manifest last as docker writes it.
func testImageArchive(t *testing.T, ref string, skip string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	manifest, err := json.Marshal([]archiveManifest{{Config: "c0ffee.json", RepoTags: []string{ref}, Layers: []string{"l1/layer.tar", "l2/layer.tar"}}})
	if err != nil {
		t.Fatal(err)
	}
	files := []struct {
		name string
		data []byte
	}{
		{"l1/layer.tar", bytes.Repeat([]byte("a"), 5000)},
		{"l2/layer.tar", bytes.Repeat([]byte("b"), 3000)},
		{"c0ffee.json", []byte(`{"config":{}}`)},
		{"manifest.json", manifest},
	}
	for _, f := range files {
		if f.name == skip {
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestCheckImageArchive(t *testing.T) {
	const ref = "faultline/etcd:0123456789abcdef"
	whole := testImageArchive(t, ref, "")
	if err := checkImageArchive(bytes.NewReader(whole), ref); err != nil {
		t.Fatalf("whole archive: %v", err)
	}
	for _, tt := range []struct {
		name string
		data []byte
		ref  string
		want string
	}{
		{"truncated in a layer", whole[:2000], ref, "truncated"},
		{"truncated before the manifest", whole[:512+5120+512+3072], ref, "no manifest.json"},
		{"empty", nil, ref, "no manifest.json"},
		{"not a tar", []byte(strings.Repeat("garbage ", 200)), ref, "corrupt"},
		{"layer missing", testImageArchive(t, ref, "l2/layer.tar"), ref, `"l2/layer.tar"`},
		{"other image", whole, "faultline/etcd:fedcba9876543210", "does not hold image faultline/etcd:fedcba9876543210"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := checkImageArchive(bytes.NewReader(tt.data), tt.ref)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("checkImageArchive: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestLoadImagesMissingDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nope")
	_, err := LoadImages(context.Background(), nil, dir, nil) // fails before the engine is asked
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), dir) {
		t.Errorf("LoadImages of a missing directory: %v", err)
	}
}

// cacheTestPrefix starts the name of the images TestImageCacheSaveLoad
// makes. Each run makes its own, so concurrent runs never remove each
// other's image.
const cacheTestPrefix = "cachetest-"

// progressRecorder is a node.Progress that logs to t and keeps the lines.
type progressRecorder struct {
	t     *testing.T
	mu    sync.Mutex
	lines []string
}

func (r *progressRecorder) progress() node.Progress {
	return func(format string, args ...any) {
		line := fmt.Sprintf(format, args...)
		r.t.Log(line)
		r.mu.Lock()
		r.lines = append(r.lines, line)
		r.mu.Unlock()
	}
}

// take returns the lines recorded since the last call.
func (r *progressRecorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	lines := r.lines
	r.lines = nil
	return lines
}

// TestImageCacheSaveLoad builds a small image of its own (the base image
// plus a label, through Ensure), saves it to an image cache, removes it from
// the engine, loads it back and checks that it has the same ID and that
// Ensure then builds nothing. It never removes an image other tests use.
func TestImageCacheSaveLoad(t *testing.T) {
	cli := dockerenv.NeedDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	rec := &progressRecorder{t: t}
	progress := rec.progress()
	im := NewImages(cli)

	if testenv.Short() {
		pkgs, err := basePackageList(nil)
		if err != nil {
			t.Fatal(err)
		}
		_, sources, err := readHostSources()
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := im.exists(ctx, ImageRepoPrefix+"base:"+baseHash(pkgs, false, sources)); err != nil {
			t.Fatal(err)
		} else if !ok {
			t.Skip("-short: the base image is missing and building it takes minutes")
		}
	}
	if _, err := im.Base(ctx, nil, progress); err != nil {
		t.Fatal(err)
	}
	removeStaleCacheTestImages(t, ctx, cli)

	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		t.Fatal(err)
	}
	sw := node.Software{Name: cacheTestPrefix + hex.EncodeToString(suffix)}
	ref, err := im.Ensure(ctx, sw, progress)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := cli.ImageRemove(ctx, ref, image.RemoveOptions{PruneChildren: true}); err != nil && !cerrdefs.IsNotFound(err) {
			t.Errorf("remove test image %s: %v", ref, err)
		}
		// The build lock of an image no one will build again.
		if cache, err := os.UserCacheDir(); err == nil {
			os.Remove(filepath.Join(cache, "faultline", "locks", strings.NewReplacer("/", "-", ":", "-").Replace(ref)+".lock"))
		}
	})
	if !slices.ContainsFunc(rec.take(), func(l string) bool { return strings.Contains(l, "docker build "+ref) }) {
		t.Fatalf("Ensure(%s) printed no docker build line when building it", ref)
	}
	before, err := cli.ImageInspect(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	only := func(info ImageInfo) bool { return info.Ref == ref }

	// Save, then save again: the archive is there already.
	dir := t.TempDir()
	written, err := saveImages(ctx, cli, dir, only, progress)
	if err != nil {
		t.Fatal(err)
	}
	file, _ := cacheFileName(ref)
	archive := filepath.Join(dir, file)
	if !slices.Equal(written, []string{archive}) {
		t.Fatalf("saveImages wrote %q, want %s", written, archive)
	}
	fi, err := os.Stat(archive)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("archive %s: %s", archive, megabytes(fi.Size()))
	if written, err := saveImages(ctx, cli, dir, only, progress); err != nil || len(written) != 0 {
		t.Errorf("second save wrote %q, %v; want nothing", written, err)
	}
	if temps, _ := filepath.Glob(filepath.Join(dir, ".*")); len(temps) != 0 {
		t.Errorf("temporary files left: %q", temps)
	}

	// Loading while the image is present loads nothing.
	if loaded, err := LoadImages(ctx, cli, dir, progress); err != nil || len(loaded) != 0 {
		t.Errorf("LoadImages with %s present loaded %q, %v; want nothing", ref, loaded, err)
	}

	if _, err := cli.ImageRemove(ctx, ref, image.RemoveOptions{PruneChildren: true}); err != nil {
		t.Fatalf("remove %s: %v", ref, err)
	}
	if ok, err := im.exists(ctx, ref); err != nil || ok {
		t.Fatalf("%s still present after its removal (%v)", ref, err)
	}

	// A truncated archive is refused, naming the file, and loads nothing.
	data, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, file), data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadImages(ctx, cli, bad, progress)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(bad, file)) || len(loaded) != 0 {
		t.Errorf("LoadImages of a truncated archive: loaded %q, error %v; want an error naming the file", loaded, err)
	} else {
		t.Logf("truncated archive: %v", err)
	}
	if ok, err := im.exists(ctx, ref); err != nil || ok {
		t.Fatalf("%s present after loading a truncated archive (%v)", ref, err)
	}

	t0 := time.Now()
	loaded, err = LoadImages(ctx, cli, dir, progress)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("LoadImages: %s", time.Since(t0))
	if !slices.Equal(loaded, []string{ref}) {
		t.Fatalf("LoadImages loaded %q, want %s", loaded, ref)
	}
	after, err := cli.ImageInspect(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if after.ID != before.ID {
		t.Errorf("loaded %s has ID %s, saved one had %s", ref, after.ID, before.ID)
	}

	// Ensure finds the loaded image and builds nothing.
	rec.take()
	t0 = time.Now()
	again, err := im.Ensure(ctx, sw, progress)
	d := time.Since(t0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Ensure after load: %s", d)
	if again != ref {
		t.Errorf("Ensure after load = %s, want %s", again, ref)
	}
	if lines := rec.take(); len(lines) != 0 {
		t.Errorf("Ensure after load printed %q: it built", lines)
	}
	if d > 5*time.Second {
		t.Errorf("Ensure after load took %s: it built", d)
	}

	// Pruning removes the archive of an image the engine lacks, and old
	// temporary files, and keeps the rest.
	stale := filepath.Join(dir, cacheFilePrefix+sw.Name+"_00000000deadbeef"+cacheFileSuffix)
	oldTemp := filepath.Join(dir, "."+file+".123.tmp")
	newTemp := filepath.Join(dir, "."+file+".456.tmp")
	for _, p := range []string{stale, oldTemp, newTemp} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * cacheTempStale)
	if err := os.Chtimes(oldTemp, old, old); err != nil {
		t.Fatal(err)
	}
	removed, err := PruneImageCache(ctx, cli, dir, progress)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(removed, []string{stale, oldTemp}) {
		t.Errorf("PruneImageCache removed %q, want %s and %s", removed, stale, oldTemp)
	}
	for _, p := range []string{archive, newTemp} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("PruneImageCache: %v", err)
		}
	}
}

// removeStaleCacheTestImages removes images TestImageCacheSaveLoad runs
// that were killed left behind. Only images older than an hour go: a run
// takes seconds, so a younger one may belong to a run still going.
func removeStaleCacheTestImages(t *testing.T, ctx context.Context, cli *client.Client) {
	t.Helper()
	infos, err := ListImages(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	for _, info := range infos {
		if !strings.HasPrefix(info.Ref, ImageRepoPrefix+cacheTestPrefix) || time.Since(info.Created) < time.Hour {
			continue
		}
		if _, err := cli.ImageRemove(ctx, info.Ref, image.RemoveOptions{PruneChildren: true}); err != nil && !cerrdefs.IsNotFound(err) {
			t.Logf("remove stale test image %s: %v", info.Ref, err)
		}
	}
}
