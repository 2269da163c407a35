package docker

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline/faultline/internal/testenv"
)

// buildTiny builds a one-line Go program into dir/name with the extra
// environment and build flags, and returns its path.
func buildTiny(t *testing.T, dir, name, src string, env []string, flags ...string) string {
	t.Helper()
	srcDir := filepath.Join(dir, name+"-src")
	if err := os.MkdirAll(srcDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(srcDir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(srcDir, "go.mod"), []byte("module tiny\n\ngo 1.22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", append(append([]string{"build"}, flags...), "-o", out, ".")...)
	cmd.Dir = srcDir
	cmd.Env = append(append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOOS=linux"), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		if strings.Contains(strings.Join(env, " "), "CGO_ENABLED=1") && !testenv.InCI() {
			t.Skipf("SKIPPING %s: cannot build a cgo program (%v): %s", t.Name(), err, b)
		}
		t.Fatalf("build %s: %v\n%s", name, err, b)
	}
	return out
}

// TestCheckHelperExecutable: what may be copied into a clock helper and
// run there. A `go install` with gcc present gives a dynamically linked
// faultline: usable when it needs nothing the nodes' glibc lacks.
func TestCheckHelperExecutable(t *testing.T) {
	dir := t.TempDir()
	const plain = "package main\n\nfunc main() {}\n"
	const cgo = "package main\n\n// int one(void) { return 1; }\nimport \"C\"\n\nfunc main() { _ = C.one() }\n"
	static := buildTiny(t, dir, "static", plain, []string{"CGO_ENABLED=0", "GOARCH=amd64"})
	arm := buildTiny(t, dir, "arm64", plain, []string{"CGO_ENABLED=0", "GOARCH=arm64"})
	text := filepath.Join(dir, "script")
	if err := os.WriteFile(text, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	dynamic := buildTiny(t, dir, "dynamic", cgo, []string{"CGO_ENABLED=1", "GOARCH=amd64"})
	musl := buildTiny(t, dir, "musl", cgo, []string{"CGO_ENABLED=1", "GOARCH=amd64"}, "-ldflags=-I /lib/ld-musl-x86_64.so.1")
	for _, tc := range []struct {
		name  string
		path  string
		glibc glibcVersion
		want  string // a substring of the error; "" for usable
	}{
		{"static x86-64", static, nodeGlibc(), ""},
		{"static x86-64 on any glibc", static, glibcVersion{1, 0}, ""},
		{"arm64", arm, nodeGlibc(), "built for EM_AARCH64"},
		{"shell script", text, nodeGlibc(), "not an ELF executable"},
		{"missing", filepath.Join(dir, "nothing"), nodeGlibc(), "no such file"},
		{"dynamic, host glibc", dynamic, nodeGlibc(), ""},
		{"dynamic, glibc too old", dynamic, glibcVersion{2, 1}, "newer than the nodes' 2.1"},
		{"dynamic, other interpreter", musl, nodeGlibc(), "interpreter /lib/ld-musl-x86_64.so.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkHelperExecutable(tc.path, tc.glibc)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("want usable, got %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestParseGlibcVersion(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want glibcVersion
		ok   bool
	}{
		{"GLIBC_2.34", glibcVersion{2, 34}, true},
		{"GLIBC_2.2.5", glibcVersion{2, 2}, true},
		{"GLIBC_PRIVATE", glibcVersion{}, false},
		{"GCC_3.0", glibcVersion{}, false},
		{"", glibcVersion{}, false},
	} {
		got, ok := parseGlibcVersion(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseGlibcVersion(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestClockInjectorChoice: $FAULTLINE_CLOCK_INJECTOR wins when it names a
// usable binary and is refused, with its reason, when not; a test binary
// is not faultline, so it never offers itself as the injector.
func TestClockInjectorChoice(t *testing.T) {
	dir := t.TempDir()
	static := buildTiny(t, dir, "static", "package main\n\nfunc main() {}\n", []string{"CGO_ENABLED=0", "GOARCH=amd64"})
	text := filepath.Join(dir, "script")
	if err := os.WriteFile(text, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvClockInjector, static)
	if got, err := ClockInjector(t.Context(), nil); err != nil || got != static {
		t.Errorf("$%s=%s: got %q, %v", EnvClockInjector, static, got, err)
	}
	t.Setenv(EnvClockInjector, text)
	if _, err := ClockInjector(t.Context(), nil); err == nil || !strings.Contains(err.Error(), "$"+EnvClockInjector) {
		t.Errorf("$%s=%s: got %v, want an error naming the variable", EnvClockInjector, text, err)
	}
	if _, err := selfInjector(); err == nil || !strings.Contains(err.Error(), "is not faultline") {
		t.Errorf("selfInjector in a test binary: %v, want \"is not faultline\"", err)
	}
}

// TestNoInjectorError: a faultline that cannot serve as the injector, away
// from its source tree, gets one line naming both ways out.
func TestNoInjectorError(t *testing.T) {
	dir := t.TempDir()
	musl := buildTiny(t, dir, "musl", "package main\n\n// int one(void) { return 1; }\nimport \"C\"\n\nfunc main() { _ = C.one() }\n",
		[]string{"CGO_ENABLED=1", "GOARCH=amd64"}, "-ldflags=-I /lib/ld-musl-x86_64.so.1")
	err := noInjectorError(checkHelperExecutable(musl, nodeGlibc()))
	msg := err.Error()
	for _, want := range []string{"ld-musl", "CGO_ENABLED=0 go install github.com/faultline/faultline/cmd/faultline", "$" + EnvClockInjector} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("%q is more than one line", msg)
	}
	t.Log(msg)
}
