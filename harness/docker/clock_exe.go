package docker

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// glibcVersion is a glibc release, major and minor.
type glibcVersion struct{ major, minor int }

func (v glibcVersion) String() string { return fmt.Sprintf("%d.%d", v.major, v.minor) }

func (v glibcVersion) less(w glibcVersion) bool {
	return v.major < w.major || v.major == w.major && v.minor < w.minor
}

// nodeGlibc is the glibc of the nodes' images: every image is built on
// Debian BaseSuite (bookworm), which ships glibc 2.36.
func nodeGlibc() glibcVersion { return glibcVersion{2, 36} }

// nodeInterpreter is the dynamic linker's path in the nodes' images.
const nodeInterpreter = "/lib64/ld-linux-x86-64.so.2"

// glibcLibraries are the shared libraries Debian's libc6 package holds: a
// cgo-enabled Go binary needs only some of these.
func glibcLibraries() []string {
	return []string{"libc.so.6", "libpthread.so.0", "libdl.so.2", "libm.so.6", "libresolv.so.2", "librt.so.1", "ld-linux-x86-64.so.2"}
}

// checkHelperExecutable says why the file at path would not run in a
// clock helper container (x86-64 Linux, a node's image with the given
// glibc), or nil when it would: an x86-64 ELF executable, static,
// or dynamic with the usual interpreter and only glibc's libraries, at
// symbol versions no newer than glibc. A `go install` with gcc present
// links faultline dynamically (cgo), so this is not a rare case.
func checkHelperExecutable(path string, glibc glibcVersion) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	f, err := elf.NewFile(file)
	if err != nil {
		return fmt.Errorf("%s is not an ELF executable (%v)", path, err)
	}
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 {
		return fmt.Errorf("%s is built for %s, the nodes run x86-64", path, f.Machine)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("%s is not an executable (%s)", path, f.Type)
	}
	var interp string
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b := make([]byte, p.Filesz)
		if _, err := p.ReadAt(b, 0); err != nil {
			return fmt.Errorf("%s: read its interpreter: %w", path, err)
		}
		interp = strings.TrimRight(string(b), "\x00")
	}
	if interp == "" {
		return nil // static: runs on any x86-64 Linux
	}
	if interp != nodeInterpreter {
		return fmt.Errorf("%s is dynamically linked with interpreter %s, which the nodes lack", path, interp)
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		return fmt.Errorf("%s: its libraries: %w", path, err)
	}
	for _, l := range libs {
		if !slices.Contains(glibcLibraries(), l) {
			return fmt.Errorf("%s is dynamically linked against %s, which the nodes lack", path, l)
		}
	}
	syms, err := f.ImportedSymbols()
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		return fmt.Errorf("%s: its symbols: %w", path, err)
	}
	var newest glibcVersion
	for _, s := range syms {
		if v, ok := parseGlibcVersion(s.Version); ok && newest.less(v) {
			newest = v
		}
	}
	if glibc.less(newest) {
		return fmt.Errorf("%s is dynamically linked against glibc %s, newer than the nodes' %s", path, newest, glibc)
	}
	return nil
}

// parseGlibcVersion reads a symbol version such as GLIBC_2.34 (or
// GLIBC_2.2.5, taken as 2.2).
func parseGlibcVersion(s string) (glibcVersion, bool) {
	rest, ok := strings.CutPrefix(s, "GLIBC_")
	if !ok {
		return glibcVersion{}, false
	}
	parts := strings.Split(rest, ".")
	if len(parts) < 2 {
		return glibcVersion{}, false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return glibcVersion{}, false
	}
	return glibcVersion{major, minor}, true
}
