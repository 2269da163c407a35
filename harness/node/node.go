// Package node is the node runtime interface: how targets and the nuker act
// on the machines of a test cluster (run a command, write or read a file,
// start and signal the target's processes) without knowing whether a node is
// a Docker container (package harness/docker) or, later, a real machine over
// SSH. Nothing here may mention Docker.
package node

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Node is one machine of a test cluster.
type Node interface {
	// Name is the node's name and hostname: n1, n2, ...
	Name() string
	// Addr is the address other nodes and the controller reach it at.
	Addr() netip.Addr
	// Exec runs argv as root on the node and waits for it. A non-zero exit
	// status is an *ExitError carrying the output; err is nil only on exit 0.
	Exec(ctx context.Context, argv ...string) (ExecResult, error)
	// ExecDetached starts argv on the node and returns without waiting.
	ExecDetached(ctx context.Context, argv ...string) error
	// WriteFile creates or replaces a file on the node (parents created).
	WriteFile(ctx context.Context, path string, data []byte, mode int64) error
	// CopyOut copies a file or directory from the node into the local
	// directory dst (created if missing), keeping its base name.
	CopyOut(ctx context.Context, src, dst string) error
}

// Cluster is the set of nodes of one run.
type Cluster interface {
	Nodes() []Node
}

// ExecResult is the output of a finished command.
type ExecResult struct {
	Stdout, Stderr []byte
	ExitCode       int
}

// ExitError is returned by Exec when the command exits non-zero.
type ExitError struct {
	Node     string
	Argv     []string
	ExitCode int
	Stderr   string
}

func (e *ExitError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return fmt.Sprintf("%s: %q exited %d: %s", e.Node, strings.Join(e.Argv, " "), e.ExitCode, msg)
}

// Software is what a target needs installed on every node: Debian packages
// and static Go binaries built from Go modules. A runtime turns it into an
// image (Docker) or installs it (SSH). Every field takes part in the recipe
// hash, so changing any of them rebuilds (except GoBinary.Estimate, which only
// feeds progress messages).
type Software struct {
	// Name names the installation, e.g. "etcd"; images are tagged
	// faultline/<Name>:<recipe hash>.
	Name string
	// Packages are Debian packages added to the base tools.
	Packages []string
	// Binaries are static Go programs copied to /usr/local/bin.
	Binaries []GoBinary
	// ManDirs keeps an empty /usr/share/man/man1, which the base image
	// leaves out with all documentation: some install scripts (OpenJDK's)
	// register man pages there and fail without it.
	ManDirs bool
	// Local are Go main packages on this machine (the user's own module),
	// built static and copied to /usr/local/bin. Their built bytes take
	// part in the recipe, so an edit to the source rebuilds the image.
	Local []LocalGo
	// Files are local files copied in as they are (a server the user
	// compiled, with cgo or in another language; a config file). Their
	// contents take part in the recipe.
	Files []File
	// Image, when set, is an image the user already has on this machine
	// (e.g. "mystore:dev"); nodes start from it instead of faultline's
	// Debian base, and nothing is pulled (there is no registry). It needs
	// /bin/sh and the basic tools node daemons use (sleep, mkdir, cat,
	// date, seq, awk, kill: busybox is enough); Packages cannot be added
	// to it. Faults that need tools it
	// may lack (iptables) act from a helper sharing the node's namespaces.
	// The image's ID takes part in the recipe.
	Image string
}

// LocalGo is a Go main package on this machine, built with CGO_ENABLED=0
// inside its own module (whose go.mod is found above Dir).
type LocalGo struct {
	// Name is the installed file name in /usr/local/bin.
	Name string
	// Dir is the main package's directory; a relative path is relative to
	// the process's working directory (or, in a target file, to the file).
	Dir string
}

// File is a local file copied into every node.
type File struct {
	// Src is the file on this machine; Dst its absolute path on the node.
	Src, Dst string
	// Mode is the file's permission bits (0 = 0755 for files under a bin
	// directory, else 0644).
	Mode int64
}

// GoBinary is a static (CGO_ENABLED=0) Go program built from the Go module
// proxy, in a module of its own so its dependencies never enter faultline's
// go.mod.
type GoBinary struct {
	// Name is the installed file name, e.g. "etcd".
	Name string
	// Require lists module@version pairs the build module requires.
	Require []string
	// Main is the source of the program's main.go. When empty, Package is
	// built instead.
	Main string
	// Package is a main package path to build (go install style), used when
	// Main is empty.
	Package string
	// Estimate is roughly how long a build takes on 2 cores with cold Go
	// caches, shown to people while they wait. Zero means unknown. It is not
	// part of the recipe: changing it rebuilds nothing.
	Estimate time.Duration
}

// Progress receives human-readable progress lines from long work (image
// builds). It may be nil.
type Progress func(format string, args ...any)

// Printf calls p when it is not nil.
func (p Progress) Printf(format string, args ...any) {
	if p != nil {
		p(format, args...)
	}
}

// Tooled is a Node whose fault tools (iptables, tc) run elsewhere than on
// the node itself: a node started from a user's own image, which may lack
// them, gets a helper that shares its network and process namespaces and
// carries faultline's tools. It is optional; use ToolsOf.
type Tooled interface {
	Node
	// Tools returns the node's helper, or nil when the node has none and
	// its own tools serve.
	Tools() Node
}

// ToolsOf returns where to run fault tools for n: its helper when it has
// one (see Tooled), else n itself. Commands run there act on n's network
// and processes all the same.
func ToolsOf(n Node) Node {
	if t, ok := n.(Tooled); ok {
		if h := t.Tools(); h != nil {
			return h
		}
	}
	return n
}
