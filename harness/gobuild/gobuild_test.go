package gobuild

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

const helloMain = `package main

import (
	"fmt"
	"net"
)

func main() { fmt.Println("hello", net.IPv4len) }
`

func etcdLike() node.GoBinary {
	return node.GoBinary{
		Name:    "etcd",
		Require: []string{"go.etcd.io/etcd/server/v3@v3.6.16", "example.com/other@v1.0.0"},
		Main:    "package main\n",
	}
}

func TestRecipeHash(t *testing.T) {
	base := etcdLike()
	h0 := RecipeHash(base, "go1.26.8")
	if len(h0) != 16 {
		t.Fatalf("hash %q: want 16 hex digits", h0)
	}
	tests := []struct {
		name      string
		change    func(b *node.GoBinary)
		goVersion string
		same      bool
	}{
		{"identical", func(b *node.GoBinary) {}, "go1.26.8", true},
		{"require order", func(b *node.GoBinary) { b.Require[0], b.Require[1] = b.Require[1], b.Require[0] }, "go1.26.8", true},
		{"estimate", func(b *node.GoBinary) { b.Estimate = time.Hour }, "go1.26.8", true},
		{"go version", func(b *node.GoBinary) {}, "go1.26.9", false},
		{"name", func(b *node.GoBinary) { b.Name = "etcd2" }, "go1.26.8", false},
		{"require version", func(b *node.GoBinary) { b.Require[0] = "go.etcd.io/etcd/server/v3@v3.6.15" }, "go1.26.8", false},
		{"extra require", func(b *node.GoBinary) { b.Require = append(b.Require, "x.io/y@v1.0.0") }, "go1.26.8", false},
		{"main", func(b *node.GoBinary) { b.Main += "// x\n" }, "go1.26.8", false},
		{"package instead of main", func(b *node.GoBinary) { b.Main, b.Package = "", "go.etcd.io/etcd/server/v3" }, "go1.26.8", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := etcdLike()
			b.Require = append([]string(nil), b.Require...)
			tt.change(&b)
			h := RecipeHash(b, tt.goVersion)
			if (h == h0) != tt.same {
				t.Errorf("hash %s vs %s: want same=%v", h, h0, tt.same)
			}
			if again := RecipeHash(b, tt.goVersion); again != h {
				t.Errorf("hash not stable: %s then %s", h, again)
			}
		})
	}
	// Sorting must not modify the caller's slice.
	b := etcdLike()
	RecipeHash(b, "go1")
	if b.Require[0] != "go.etcd.io/etcd/server/v3@v3.6.16" {
		t.Errorf("RecipeHash reordered the caller's Require: %v", b.Require)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		b    node.GoBinary
		ok   bool
	}{
		{"main", node.GoBinary{Name: "etcd", Main: "package main", Require: []string{"a.io/b/v3@v3.6.16"}}, true},
		{"package", node.GoBinary{Name: "nats-server", Package: "a.io/b/v2", Require: []string{"a.io/b/v2@v2.10.0"}}, true},
		{"pseudo version", node.GoBinary{Name: "x", Package: "a.io/b", Require: []string{"a.io/b@v0.0.0-20240101000000-abcdefabcdef"}}, true},
		{"empty name", node.GoBinary{Main: "package main"}, false},
		{"slash in name", node.GoBinary{Name: "bin/etcd", Main: "package main"}, false},
		{"dot name", node.GoBinary{Name: "..", Main: "package main"}, false},
		{"no source", node.GoBinary{Name: "x"}, false},
		{"both sources", node.GoBinary{Name: "x", Main: "package main", Package: "a.io/b"}, false},
		{"latest", node.GoBinary{Name: "x", Package: "a.io/b", Require: []string{"a.io/b@latest"}}, false},
		{"no version", node.GoBinary{Name: "x", Package: "a.io/b", Require: []string{"a.io/b"}}, false},
		{"no v", node.GoBinary{Name: "x", Package: "a.io/b", Require: []string{"a.io/b@1.2.3"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.b)
			if (err == nil) != tt.ok {
				t.Errorf("Validate(%+v) = %v, want ok=%v", tt.b, err, tt.ok)
			}
		})
	}
}

// isolateCache points the binary cache at a temporary directory while
// keeping Go's build cache, which also lives under XDG_CACHE_HOME by default.
func isolateCache(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOCACHE").Output()
	if err != nil {
		t.Fatalf("go env GOCACHE: %v", err)
	}
	t.Setenv("GOCACHE", strings.TrimSpace(string(out)))
	dir := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", dir)
	return dir
}

func TestBuildStaticAndCached(t *testing.T) {
	cache := isolateCache(t)
	ctx := context.Background()
	b := node.GoBinary{Name: "hello", Main: helloMain}
	var lines []string
	progress := func(format string, args ...any) {
		lines = append(lines, strings.TrimSpace(fmt.Sprintf(format, args...)))
	}

	path, err := Build(ctx, b, progress)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(path, filepath.Join(cache, "faultline", "bin")+string(filepath.Separator)) {
		t.Errorf("binary at %s, want under %s/faultline/bin", path, cache)
	}
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "building hello from its own source") || !strings.HasPrefix(lines[len(lines)-1], "built hello in ") {
		t.Errorf("progress lines: %q", lines)
	}
	out, err := exec.Command(path).Output()
	if err != nil || string(out) != "hello 4\n" {
		t.Fatalf("running %s: %q, %v", path, out, err)
	}
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has an ELF interpreter: not static", path)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("cache dir holds %d entries, want just the binary", len(entries))
	}

	lines = nil
	again, err := Build(ctx, b, progress)
	if err != nil || again != path {
		t.Fatalf("second Build = %s, %v; want cached %s", again, err, path)
	}
	if len(lines) != 1 || !strings.Contains(lines[0], "cached") {
		t.Errorf("second Build progress: %q, want one 'cached' line", lines)
	}
}

func TestBuildErrorCarriesOutput(t *testing.T) {
	isolateCache(t)
	b := node.GoBinary{Name: "broken", Main: "package main\n\nfunc main() { undefinedThing() }\n"}
	path, err := Build(context.Background(), b, nil)
	if err == nil {
		t.Fatalf("Build of broken source succeeded: %s", path)
	}
	if !strings.Contains(err.Error(), "undefined: undefinedThing") {
		t.Errorf("error lacks the compiler's message: %v", err)
	}
	if p, _ := Path(b, mustGoVersion(t)); fileExists(p) {
		t.Errorf("failed build left %s", p)
	}
}

func TestBuildCancelled(t *testing.T) {
	isolateCache(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b := node.GoBinary{Name: "hello", Main: helloMain}
	if _, err := Build(ctx, b, nil); err == nil {
		t.Fatal("Build with a cancelled context succeeded")
	}
}

func TestTail(t *testing.T) {
	if got := tail("a\nb\nc\n", 2); got != "[... 1 lines before]\nb\nc" {
		t.Errorf("tail = %q", got)
	}
	if got := tail("a\nb", 5); got != "a\nb" {
		t.Errorf("tail = %q", got)
	}
}

func mustGoVersion(t *testing.T) string {
	t.Helper()
	v, err := GoVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
