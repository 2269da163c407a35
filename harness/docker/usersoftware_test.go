package docker

import (
	"context"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/harness/node"
)

// copyLocalModule copies testdata/localgo (a main package in a module of
// its own, example.com/...) into a temporary directory the test may edit.
func copyLocalModule(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "hello")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"go.mod", "main.go"} {
		data, err := os.ReadFile(filepath.Join("testdata", "localgo", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// editFile replaces old by new in the file at p, failing when old is absent.
func editFile(t *testing.T, p, old, new string) {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		t.Fatalf("%s lacks %q", p, old)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(data), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// isolateLocalCache points the binary cache at a temporary directory and
// keeps go's own build cache where it is (a cold one costs a minute).
func isolateLocalCache(t *testing.T) {
	t.Helper()
	out, err := exec.Command("go", "env", "GOCACHE").Output()
	if err != nil {
		t.Skipf("no go command: %v", err)
	}
	t.Setenv("GOCACHE", strings.TrimSpace(string(out)))
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
}

// TestFileRecipeHash: a file enters the recipe by its bytes, mode and
// destination, never by its modification time or source path.
func TestFileRecipeHash(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "conf")
	if err := os.WriteFile(src, []byte("port = 7000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hashOf := func(f node.File) string {
		t.Helper()
		r := imageRecipe{base: "base1"}
		if _, err := r.addFiles([]node.File{f}); err != nil {
			t.Fatal(err)
		}
		return r.hash()
	}
	f0 := node.File{Src: src, Dst: "/etc/mystore.conf"}
	h0 := hashOf(f0)
	if h0 == (imageRecipe{base: "base1"}).hash() {
		t.Fatal("a file does not change the hash")
	}

	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(src, later, later); err != nil {
		t.Fatal(err)
	}
	if h := hashOf(f0); h != h0 {
		t.Errorf("touching the file changed the hash: %s, was %s", h, h0)
	}
	moved := filepath.Join(dir, "elsewhere")
	if err := os.Link(src, moved); err != nil {
		t.Fatal(err)
	}
	if h := hashOf(node.File{Src: moved, Dst: f0.Dst}); h != h0 {
		t.Errorf("the same bytes from another path changed the hash: %s, was %s", h, h0)
	}
	for _, tt := range []struct {
		name string
		f    node.File
	}{
		{"mode", node.File{Src: src, Dst: f0.Dst, Mode: 0o600}},
		{"destination", node.File{Src: src, Dst: "/etc/other.conf"}},
	} {
		if h := hashOf(tt.f); h == h0 {
			t.Errorf("%s: changed file, same hash %s", tt.name, h)
		}
	}
	if err := os.WriteFile(src, []byte("port = 7001\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if h := hashOf(f0); h == h0 {
		t.Errorf("a one-byte change kept the hash %s", h)
	}
}

func TestFileMode(t *testing.T) {
	for _, tt := range []struct {
		f    node.File
		want int64
	}{
		{node.File{Dst: "/usr/local/bin/mystore"}, 0o755},
		{node.File{Dst: "/usr/sbin/mystored"}, 0o755},
		{node.File{Dst: "/etc/mystore.conf"}, 0o644},
		{node.File{Dst: "/etc/mystore.conf", Mode: 0o600}, 0o600},
		{node.File{Dst: "/usr/local/bin/data.txt", Mode: 0o644}, 0o644},
	} {
		if got := fileMode(tt.f); got != tt.want {
			t.Errorf("fileMode(%+v) = %o, want %o", tt.f, got, tt.want)
		}
	}
}

// TestImageRecipeDockerfile: a user's image gets the node conventions, and
// files are copied one by one in JSON form.
func TestImageRecipeDockerfile(t *testing.T) {
	r := imageRecipe{user: true, bins: []binaryRecipe{{"hello", "x"}}, files: []fileRecipe{{Dst: "/etc/my store.conf"}}}
	want := "FROM sha256:abc\nENTRYPOINT []\nCMD [\"sleep\", \"infinity\"]\nUSER root\nHEALTHCHECK NONE\nCOPY bin/ /usr/local/bin/\nCOPY [\"files/0\",\"/etc/my store.conf\"]\n"
	if got := r.dockerfile("sha256:abc"); got != want {
		t.Errorf("dockerfile:\n%s\nwant:\n%s", got, want)
	}
	if got := (imageRecipe{}).dockerfile("faultline/base:x"); got != "FROM faultline/base:x\n" {
		t.Errorf("plain dockerfile %q", got)
	}
	a := imageRecipe{base: "sha256:abc", user: true, tools: "faultline/base:1"}
	b := a
	b.tools = "faultline/base:2"
	c := a
	c.user = false
	if a.hash() == b.hash() || a.hash() == c.hash() {
		t.Error("the tools image or the user flag does not change the hash")
	}
}

// TestBuildLocal builds a main package of a module of its own (not
// faultline's) static; the hash follows the built bytes: the same source
// twice (or touched) gives the same hash, a one-byte change another one.
func TestBuildLocal(t *testing.T) {
	isolateLocalCache(t)
	ctx := context.Background()
	dir := copyLocalModule(t)
	var lines []string
	progress := func(format string, args ...any) {
		lines = append(lines, strings.TrimSpace(fmt.Sprintf(format, args...)))
	}
	l := node.LocalGo{Name: "hello", Dir: dir}

	p1, sum1, err := buildLocal(ctx, l, progress)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built %s (%s): %q", p1, sum1[:16], lines)
	if len(lines) == 0 || !strings.Contains(lines[0], "building local Go package "+dir) {
		t.Errorf("progress %q does not say which package it builds", lines)
	}
	f, err := elf.Open(p1)
	if err != nil {
		t.Fatal(err)
	}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			t.Errorf("%s is dynamically linked", p1)
		}
	}
	f.Close()

	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "main.go"), later, later); err != nil {
		t.Fatal(err)
	}
	p2, sum2, err := buildLocal(ctx, l, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum2 != sum1 || p2 != p1 {
		t.Errorf("unchanged source built %s %s, first %s %s", p2, sum2, p1, sum1)
	}

	editFile(t, filepath.Join(dir, "main.go"), `"hello from`, `"Hello from`)
	_, sum3, err := buildLocal(ctx, l, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum3 == sum1 {
		t.Error("a one-byte change to the source kept the hash")
	}
	if _, err := os.Stat(p1); err != nil {
		t.Errorf("the first build's binary went away: %v", err)
	}
}

// TestBuildLocalErrors: a broken package reports the go tool's own words
// in one error naming the package; a library is not a program.
func TestBuildLocalErrors(t *testing.T) {
	isolateLocalCache(t)
	ctx := context.Background()
	broken := copyLocalModule(t)
	editFile(t, filepath.Join(broken, "main.go"), "_ = net.IPv4len", "_ = net.NoSuchThing")
	lib := copyLocalModule(t)
	editFile(t, filepath.Join(lib, "main.go"), "package main", "package hello")
	for _, tt := range []struct {
		name string
		dir  string
		want []string
	}{
		{"compile error", broken, []string{"local Go package " + broken + ": go build failed", "undefined: net.NoSuchThing"}},
		{"not main", lib, []string{"is it package main?"}},
		{"missing dir", filepath.Join(broken, "nope"), []string{"no such file or directory"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := buildLocal(ctx, node.LocalGo{Name: "hello", Dir: tt.dir}, nil)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestEnsureRefusesUserSoftware: each bad request is refused in one clear
// error before anything is built or the engine is asked.
func TestEnsureRefusesUserSoftware(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "conf")
	if err := os.WriteFile(conf, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		sw   node.Software
		want string
	}{
		{"missing file", node.Software{Name: "my", Files: []node.File{{Src: filepath.Join(dir, "nope"), Dst: "/etc/x"}}},
			"file " + filepath.Join(dir, "nope") + ": no such file on this machine"},
		{"directory", node.Software{Name: "my", Files: []node.File{{Src: dir, Dst: "/etc/x"}}},
			"file " + dir + " is a directory"},
		{"relative destination", node.Software{Name: "my", Files: []node.File{{Src: conf, Dst: "etc/x"}}},
			`destination "etc/x" is not an absolute path on the node`},
		{"unclean destination", node.Software{Name: "my", Files: []node.File{{Src: conf, Dst: "/etc/"}}},
			`destination "/etc/" is not a clean file path`},
		{"dollar", node.Software{Name: "my", Files: []node.File{{Src: conf, Dst: "/etc/$HOME"}}},
			"a character Docker would interpret"},
		{"bad mode", node.Software{Name: "my", Files: []node.File{{Src: conf, Dst: "/etc/x", Mode: 0o100644}}},
			"is not permission bits"},
		{"two files one destination", node.Software{Name: "my", Files: []node.File{{Src: conf, Dst: "/etc/x"}, {Src: conf, Dst: "/etc/x"}}},
			"two files for /etc/x"},
		{"file over a binary", node.Software{Name: "my", Local: []node.LocalGo{{Name: "hello", Dir: dir}}, Files: []node.File{{Src: conf, Dst: "/usr/local/bin/hello"}}},
			"would overwrite the binary hello"},
		{"packages with image", node.Software{Name: "my", Image: "mystore:dev", Packages: []string{"redis-server"}},
			"Debian packages (redis-server) cannot be added to the user image mystore:dev"},
		{"mandirs with image", node.Software{Name: "my", Image: "mystore:dev", ManDirs: true},
			"ManDirs applies to faultline's Debian base"},
		{"local without name", node.Software{Name: "my", Local: []node.LocalGo{{Dir: dir}}},
			"want a plain file name"},
		{"local name with slash", node.Software{Name: "my", Local: []node.LocalGo{{Name: "a/b", Dir: dir}}},
			"want a plain file name"},
		{"local without dir", node.Software{Name: "my", Local: []node.LocalGo{{Name: "hello"}}},
			"local Go package hello: no directory"},
		{"local and binary of one name", node.Software{Name: "my",
			Binaries: []node.GoBinary{{Name: "hello", Package: "example.com/hello"}}, Local: []node.LocalGo{{Name: "hello", Dir: dir}}},
			"two binaries named hello"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewImages(nil).Ensure(context.Background(), tt.sw, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Ensure error %v, want one containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}
