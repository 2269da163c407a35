package ssh

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/faultline/faultline/harness/node"
)

// maxSessions bounds the sessions open at once on one connection: sshd
// refuses more than MaxSessions (10 by default) per connection.
const maxSessions = 8

// EnvRun is the environment variable every process faultline starts on a
// machine carries, with the run id as its value: teardown and clean find
// the run's processes by it (and never by name).
const EnvRun = "FAULTLINE_RUN"

// Node is one machine; it implements node.Node.
type Node struct {
	name  string
	host  string // as given: host or host:port
	addr  netip.Addr
	cli   *ssh.Client
	sudo  bool
	runID string
	slots chan struct{}
}

var _ node.Node = (*Node)(nil)

// Name is n1, n2, ... in the order of the hosts.
func (n *Node) Name() string { return n.name }

// Addr is the address the controller reached the machine at; the other
// machines must reach it there too.
func (n *Node) Addr() netip.Addr { return n.addr }

// Host is the machine as the hosts list names it.
func (n *Node) Host() string { return n.host }

// command is the remote command line for argv, run as root (through sudo
// when the login user is not root), with the run's marker in its
// environment when marked.
func (n *Node) command(marked bool, argv []string) string {
	var parts []string
	if n.sudo {
		parts = append(parts, "sudo", "-n", "--")
	}
	if marked && n.runID != "" {
		parts = append(parts, "env", EnvRun+"="+n.runID)
	}
	all := append(parts, argv...)
	q := make([]string, len(all))
	for i, a := range all {
		q[i] = shq(a)
	}
	return strings.Join(q, " ")
}

// run runs cmd (already quoted) with stdin, waiting for it; a non-zero exit
// is a *node.ExitError. Cancelling ctx closes the session.
func (n *Node) run(ctx context.Context, argv []string, cmd string, stdin io.Reader, stdout io.Writer) (node.ExecResult, error) {
	var res node.ExecResult
	select {
	case n.slots <- struct{}{}:
		defer func() { <-n.slots }()
	case <-ctx.Done():
		return res, fmt.Errorf("%s: exec %q: %w", n.name, strings.Join(argv, " "), ctx.Err())
	}
	s, err := n.cli.NewSession()
	if err != nil {
		return res, fmt.Errorf("%s: exec %q: new session: %w", n.name, strings.Join(argv, " "), err)
	}
	defer s.Close()
	var outBuf, errBuf bytes.Buffer
	s.Stdin = stdin
	if stdout != nil {
		s.Stdout = stdout
	} else {
		s.Stdout = &outBuf
	}
	s.Stderr = &errBuf
	done := make(chan error, 1)
	go func() { done <- s.Run(cmd) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = s.Signal(ssh.SIGKILL)
		s.Close()
		return res, fmt.Errorf("%s: exec %q: %w", n.name, strings.Join(argv, " "), ctx.Err())
	}
	res = node.ExecResult{Stdout: outBuf.Bytes(), Stderr: errBuf.Bytes()}
	var ee *ssh.ExitError
	switch {
	case err == nil:
		return res, nil
	case errors.As(err, &ee):
		res.ExitCode = ee.ExitStatus()
		return res, &node.ExitError{Node: n.name, Argv: argv, ExitCode: res.ExitCode, Stderr: errBuf.String() + outBuf.String()}
	default:
		return res, fmt.Errorf("%s: exec %q: %w", n.name, strings.Join(argv, " "), err)
	}
}

// Exec runs argv as root on the machine and waits for it.
func (n *Node) Exec(ctx context.Context, argv ...string) (node.ExecResult, error) {
	return n.run(ctx, argv, n.command(true, argv), nil, nil)
}

// execUnmarked is Exec without the run's marker: teardown's own commands
// must not look like processes of the run they kill.
func (n *Node) execUnmarked(ctx context.Context, argv ...string) (node.ExecResult, error) {
	return n.run(ctx, argv, n.command(false, argv), nil, nil)
}

// ExecDetached starts argv in a session of its own (setsid), detached from
// the SSH session, with its output discarded, and returns at once.
func (n *Node) ExecDetached(ctx context.Context, argv ...string) error {
	cmd := n.command(true, append([]string{"setsid", "-f"}, argv...)) + " </dev/null >/dev/null 2>&1"
	if _, err := n.run(ctx, argv, cmd, nil, nil); err != nil {
		return fmt.Errorf("%s: start %q: %w", n.name, strings.Join(argv, " "), err)
	}
	return nil
}

// WriteFile writes data to p (parents created) through a temporary file
// renamed into place, so a reader never sees half a file.
func (n *Node) WriteFile(ctx context.Context, p string, data []byte, mode int64) error {
	return n.writeFrom(ctx, p, bytes.NewReader(data), mode)
}

// writeFrom is WriteFile streaming from r.
func (n *Node) writeFrom(ctx context.Context, p string, r io.Reader, mode int64) error {
	if !path.IsAbs(p) {
		return fmt.Errorf("%s: write %s: want an absolute path", n.name, p)
	}
	tmp := p + ".faultline-tmp"
	script := fmt.Sprintf("set -e; mkdir -p %s; cat > %s; chmod %o %s; mv -f %s %s",
		shq(path.Dir(p)), shq(tmp), mode&0o7777, shq(tmp), shq(tmp), shq(p))
	argv := []string{"sh", "-c", script}
	if _, err := n.run(ctx, []string{"write", p}, n.command(true, argv), r, nil); err != nil {
		return fmt.Errorf("%s: write %s: %w", n.name, p, err)
	}
	return nil
}

// CopyOut copies src (file or directory) from the machine into dst, as a
// tar stream of `tar -c` over the session.
func (n *Node) CopyOut(ctx context.Context, src, dst string) error {
	if !path.IsAbs(src) {
		return fmt.Errorf("%s: copy %s: want an absolute path", n.name, src)
	}
	clean := path.Clean(src)
	argv := []string{"tar", "-C", path.Dir(clean), "-cf", "-", path.Base(clean)}
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		_, err := n.run(ctx, argv, n.command(false, argv), nil, pw)
		pw.CloseWithError(err)
		errc <- err
	}()
	terr := untar(pr, dst)
	if terr == nil {
		_, _ = io.Copy(io.Discard, pr) // tar pads its output past the end marker
	}
	pr.CloseWithError(errors.New("copy ended")) // unblocks the session if untar stopped early
	if err := <-errc; err != nil {
		return fmt.Errorf("%s: copy %s: %w", n.name, src, err)
	}
	if terr != nil {
		return fmt.Errorf("%s: copy %s: %w", n.name, src, terr)
	}
	return nil
}

// untar extracts regular files and directories of the tar stream r under
// dst; names cannot leave dst.
func untar(r io.Reader, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		target := filepath.Join(dst, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			f, err := os.Create(target)
			if err != nil {
				return err
			}
			_, cerr := io.Copy(f, tr)
			if err := errors.Join(cerr, f.Close()); err != nil {
				return fmt.Errorf("%s: %w", h.Name, err)
			}
		}
	}
}

// shq quotes s for a POSIX shell.
func shq(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,@+%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
