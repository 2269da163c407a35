package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/faultline/faultline/harness/docker/dockerenv"
	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/targets/etcd"
)

func TestBaseHash(t *testing.T) {
	sources := []byte("Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\n")
	hashOf := func(extra []string, src []byte) string {
		t.Helper()
		pkgs, err := basePackageList(extra)
		if err != nil {
			t.Fatal(err)
		}
		return baseHash(pkgs, false, src)
	}
	h0 := hashOf([]string{"redis-server", "redis-sentinel"}, sources)
	if len(h0) != 16 {
		t.Fatalf("hash %q: want 16 hex digits", h0)
	}
	tests := []struct {
		name    string
		extra   []string
		sources []byte
		same    bool
	}{
		{"identical", []string{"redis-server", "redis-sentinel"}, sources, true},
		{"order", []string{"redis-sentinel", "redis-server"}, sources, true},
		{"duplicates", []string{"redis-server", "redis-sentinel", "redis-server"}, sources, true},
		{"base package repeated", []string{"redis-server", "iptables", "redis-sentinel"}, sources, true},
		{"package missing", []string{"redis-server"}, sources, false},
		{"package added", []string{"redis-server", "redis-sentinel", "faketime"}, sources, false},
		{"version pinned", []string{"redis-server=5:7.0.15-1~deb12u1", "redis-sentinel"}, sources, false},
		{"sources changed", []string{"redis-server", "redis-sentinel"}, append(slices.Clone(sources), "# snapshot\n"...), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if h := hashOf(tt.extra, tt.sources); (h == h0) != tt.same {
				t.Errorf("hash %s vs %s: want same=%v", h, h0, tt.same)
			}
		})
	}
	if hashOf(nil, sources) == h0 {
		t.Error("base with and without extra packages hash alike")
	}
}

func TestSoftwareHash(t *testing.T) {
	bins := []binaryRecipe{{"etcd", "aaaa"}, {"etcdctl", "bbbb"}}
	h0 := softwareHash("base1", bins)
	tests := []struct {
		name string
		base string
		bins []binaryRecipe
		same bool
	}{
		{"identical", "base1", []binaryRecipe{{"etcd", "aaaa"}, {"etcdctl", "bbbb"}}, true},
		{"binary order", "base1", []binaryRecipe{{"etcdctl", "bbbb"}, {"etcd", "aaaa"}}, true},
		{"base", "base2", bins, false},
		{"binary recipe", "base1", []binaryRecipe{{"etcd", "aaab"}, {"etcdctl", "bbbb"}}, false},
		{"binary name", "base1", []binaryRecipe{{"etcd3", "aaaa"}, {"etcdctl", "bbbb"}}, false},
		{"binary dropped", "base1", bins[:1], false},
		{"no binaries", "base1", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if h := softwareHash(tt.base, tt.bins); (h == h0) != tt.same {
				t.Errorf("hash %s vs %s: want same=%v", h, h0, tt.same)
			}
		})
	}
	if bins[0].Name != "etcd" {
		t.Error("softwareHash reordered the caller's slice")
	}
}

func TestBasePackageList(t *testing.T) {
	got, err := basePackageList([]string{"redis-server", "iptables"})
	if err != nil {
		t.Fatal(err)
	}
	want := append(BasePackages(), "redis-server")
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("basePackageList = %v, want %v", got, want)
	}
	for _, bad := range []string{"", "--variant=extract", "a,b", "Redis", "a b", "x;rm"} {
		if _, err := basePackageList([]string{bad}); err == nil {
			t.Errorf("package %q accepted", bad)
		}
	}
}

func TestMmdebstrapArgs(t *testing.T) {
	args := mmdebstrapArgs([]string{"iptables", "procps"}, false, "/tmp/x/rootfs.tar", "/etc/apt/sources.list.d/debian.sources")
	for _, want := range []string{"--variant=apt", "--include=iptables,procps", "--hook-dir=" + mergedUsrHooks, "--dpkgopt=path-exclude=/usr/share/doc/*"} {
		if !slices.Contains(args, want) {
			t.Errorf("args %q lack %q", args, want)
		}
	}
	if tail := args[len(args)-3:]; !slices.Equal(tail, []string{BaseSuite, "/tmp/x/rootfs.tar", "/etc/apt/sources.list.d/debian.sources"}) {
		t.Errorf("args end in %q, want suite, target, sources", tail)
	}
	// Only a recipe asking for man directories gets the hook (and a
	// different hash); the others keep theirs.
	hook := `--essential-hook=mkdir -p "$1/usr/share/man/man1"`
	for _, manDirs := range []bool{false, true} {
		if got := slices.Contains(mmdebstrapArgs(nil, manDirs, "o", "s"), hook); got != manDirs {
			t.Errorf("manDirs %v: hook present %v", manDirs, got)
		}
	}
	if baseHash([]string{"p"}, false, nil) == baseHash([]string{"p"}, true, nil) {
		t.Error("ManDirs does not change the base hash")
	}
}

func TestWriteBuildContext(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "etcd")
	if err := os.WriteFile(bin, []byte("ELF..."), 0o600); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	df := softwareDockerfile("faultline/base:x", true)
	if err := writeBuildContext(&buf, df, []contextFile{{Name: "bin/etcd", Path: bin, Mode: 0o755}}); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	modes := map[string]int64{}
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		files[h.Name], modes[h.Name] = string(data), h.Mode
	}
	if files["Dockerfile"] != "FROM faultline/base:x\nCOPY bin/ /usr/local/bin/\n" {
		t.Errorf("Dockerfile = %q", files["Dockerfile"])
	}
	if files["bin/etcd"] != "ELF..." || modes["bin/etcd"] != 0o755 {
		t.Errorf("bin/etcd = %q mode %o", files["bin/etcd"], modes["bin/etcd"])
	}
}

func TestReadEngineStream(t *testing.T) {
	var lines []string
	err := readEngineStream(strings.NewReader(`{"stream":"Step 1/2 : FROM x\n"}{"stream":" ---> abc\n"}`), func(l string) { lines = append(lines, l) })
	if err != nil || !slices.Equal(lines, []string{"Step 1/2 : FROM x", "---> abc"}) {
		t.Errorf("lines %q, err %v", lines, err)
	}
	err = readEngineStream(strings.NewReader(`{"stream":"Step 1/2\n"}{"errorDetail":{"message":"COPY failed: no such file"},"error":"COPY failed: no such file"}`), nil)
	if err == nil || !strings.Contains(err.Error(), "COPY failed") {
		t.Errorf("error stream gave %v", err)
	}
}

func TestEnsureRejectsBadSoftware(t *testing.T) {
	im := NewImages(nil) // validation fails before the engine is asked
	for _, sw := range []node.Software{
		{Name: "Etcd"},
		{Name: "base"},
		{Name: "etcd", Packages: []string{"--foo"}},
		{Name: "etcd", Binaries: []node.GoBinary{{Name: "etcd"}}},
		{Name: "etcd", Binaries: []node.GoBinary{{Name: "a", Package: "x.io/a"}, {Name: "a", Package: "x.io/b"}}},
	} {
		if _, err := im.Ensure(context.Background(), sw, nil); err == nil {
			t.Errorf("Ensure(%+v) succeeded", sw)
		}
	}
}

// TestEnsureImageEtcd builds the etcd image (minutes the first time: base
// image and etcd binary), checks a second call reuses it, and runs etcd and
// iptables in a container of it.
func TestEnsureImageEtcd(t *testing.T) {
	cli := dockerenv.NeedDocker(t)
	if testenv.Short() {
		t.Skip("-short: building the etcd image takes minutes the first time")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	sw, err := etcd.Software(etcd.DefaultVersion)
	if err != nil {
		t.Fatal(err)
	}
	im := NewImages(cli)
	progress := func(format string, args ...any) { t.Logf(format, args...) }

	t0 := time.Now()
	ref, err := im.Ensure(ctx, sw, progress)
	if err != nil {
		t.Fatal(err)
	}
	first := time.Since(t0)
	t0 = time.Now()
	again, err := im.Ensure(ctx, sw, progress)
	if err != nil {
		t.Fatal(err)
	}
	second := time.Since(t0)
	t.Logf("EnsureImage: first call %s, second call %s", first, second)
	if again != ref {
		t.Errorf("second EnsureImage = %s, want %s", again, ref)
	}
	if second > 5*time.Second {
		t.Errorf("second EnsureImage took %s: the image was not reused", second)
	}

	infos, err := ListImages(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	var listed, base bool
	for _, info := range infos {
		t.Logf("image %s recipe %s %s created %s", info.Ref, info.Recipe, megabytes(info.Size), info.Created.Format(time.RFC3339))
		listed = listed || info.Ref == ref && strings.HasSuffix(ref, ":"+info.Recipe)
		base = base || strings.HasPrefix(info.Ref, ImageRepoPrefix+"base:")
	}
	if !listed || !base {
		t.Errorf("ListImages lacks %s (with its recipe) or the base image", ref)
	}

	id := startImageTestContainer(t, ctx, cli, ref)
	out := imageTestExec(t, ctx, cli, id, "/usr/local/bin/etcd", "--version")
	if !strings.Contains(out, "etcd Version: "+strings.TrimPrefix(etcd.DefaultVersion, "v")) {
		t.Errorf("etcd --version: %q", out)
	}
	out = imageTestExec(t, ctx, cli, id, "iptables", "-V")
	if !strings.HasPrefix(out, "iptables v1.8") {
		t.Errorf("iptables -V: %q", out)
	}
	imageTestExec(t, ctx, cli, id, "iptables", "-S") // NET_ADMIN in the container's own namespace
	imageTestExec(t, ctx, cli, id, "tc", "qdisc", "show")
	imageTestExec(t, ctx, cli, id, "pgrep", "-x", "sleep")
}

// startImageTestContainer runs image as faultline's nodes run (init,
// NET_ADMIN), labelled for `faultline clean`, removed when the test ends.
func startImageTestContainer(t *testing.T, ctx context.Context, cli *client.Client, image string) string {
	t.Helper()
	init := true
	resp, err := cli.ContainerCreate(ctx,
		&container.Config{Image: image, Labels: RunLabels(fmt.Sprintf("test-images-%d", os.Getpid()))},
		&container.HostConfig{Init: &init, CapAdd: []string{"NET_ADMIN"}, NetworkMode: "none"},
		nil, nil, "")
	if err != nil {
		t.Fatalf("create container of %s: %v", image, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := cli.ContainerRemove(ctx, resp.ID, container.RemoveOptions{Force: true}); err != nil {
			t.Errorf("remove container %s: %v", resp.ID, err)
		}
	})
	if err := cli.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
		t.Fatalf("start container of %s: %v", image, err)
	}
	return resp.ID
}

// imageTestExec runs argv in the container and returns its output, failing
// the test when it exits non-zero.
func imageTestExec(t *testing.T, ctx context.Context, cli *client.Client, id string, argv ...string) string {
	t.Helper()
	ex, err := cli.ContainerExecCreate(ctx, id, container.ExecOptions{Cmd: argv, AttachStdout: true, AttachStderr: true})
	if err != nil {
		t.Fatalf("exec %q: %v", argv, err)
	}
	att, err := cli.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		t.Fatalf("exec %q: attach: %v", argv, err)
	}
	defer att.Close()
	var stdout, stderr bytes.Buffer
	if _, err := stdcopy.StdCopy(&stdout, &stderr, att.Reader); err != nil {
		t.Fatalf("exec %q: read: %v", argv, err)
	}
	insp, err := cli.ContainerExecInspect(ctx, ex.ID)
	if err != nil {
		t.Fatalf("exec %q: inspect: %v", argv, err)
	}
	if insp.ExitCode != 0 {
		t.Fatalf("exec %q exited %d: %s%s", argv, insp.ExitCode, stdout.String(), stderr.String())
	}
	return stdout.String() + stderr.String()
}
