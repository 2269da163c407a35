package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Daemon is a long-running target process started on a node in the
// background. Its pid is kept in a pid file so it can be signalled, killed
// and restarted; its stdout and stderr are appended to LogPath.
type Daemon struct {
	// Name identifies the daemon on its node, e.g. "etcd".
	Name string
	// Argv is the command line.
	Argv []string
	// Env holds extra KEY=value pairs.
	Env []string
	// Dir is the working directory (created if missing).
	Dir string
}

// RunDir holds faultline's pid files on a node; LogDir its daemon logs.
const (
	RunDir = "/run/faultline"
	LogDir = "/var/log/faultline"
)

// PidFile is where the daemon's pid is kept.
func (d Daemon) PidFile() string { return RunDir + "/" + d.Name + ".pid" }

// LogPath is the file the daemon's output is appended to.
func (d Daemon) LogPath() string { return LogDir + "/" + d.Name + ".log" }

// Start starts the daemon on n in the background and returns once it has
// written its pid file. Starting a daemon that is running is an error.
func (d Daemon) Start(ctx context.Context, n Node) error {
	if len(d.Argv) == 0 {
		return errors.New("daemon " + d.Name + ": empty command")
	}
	if ok, err := d.Running(ctx, n); err != nil {
		return err
	} else if ok {
		return fmt.Errorf("%s: %s is already running", n.Name(), d.Name)
	}
	dir := d.Dir
	if dir == "" {
		dir = "/"
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "mkdir -p %s %s %s && cd %s && ", RunDir, LogDir, shq(dir), shq(dir))
	fmt.Fprintf(&sb, "echo \"=== faultline: starting %s at $(date -u +%%FT%%T.%%NZ)\" >> %s && ", d.Name, d.LogPath())
	fmt.Fprintf(&sb, "echo $$ > %s && exec ", d.PidFile())
	if len(d.Env) > 0 {
		sb.WriteString("env ")
		for _, e := range d.Env {
			sb.WriteString(shq(e) + " ")
		}
	}
	for _, a := range d.Argv {
		sb.WriteString(shq(a) + " ")
	}
	fmt.Fprintf(&sb, ">> %s 2>&1", d.LogPath())
	// Remove a stale pid file first so waiting for it below means this start.
	if _, err := n.Exec(ctx, "rm", "-f", d.PidFile()); err != nil {
		return fmt.Errorf("start %s: %w", d.Name, err)
	}
	if err := n.ExecDetached(ctx, "sh", "-c", sb.String()); err != nil {
		return fmt.Errorf("%s: start %s: %w", n.Name(), d.Name, err)
	}
	if _, err := n.Exec(ctx, "sh", "-c", fmt.Sprintf("for i in $(seq 100); do [ -s %s ] && exit 0; sleep 0.05; done; exit 1", d.PidFile())); err != nil {
		return fmt.Errorf("%s: %s did not start (no pid file): %w", n.Name(), d.Name, err)
	}
	return nil
}

// Signal sends sig (a name such as KILL, STOP, CONT, TERM) to the daemon.
func (d Daemon) Signal(ctx context.Context, n Node, sig string) error {
	_, err := n.Exec(ctx, "sh", "-c", fmt.Sprintf("kill -%s \"$(cat %s)\"", sig, d.PidFile()))
	if err != nil {
		return fmt.Errorf("%s: signal %s %s: %w", n.Name(), sig, d.Name, err)
	}
	return nil
}

// Kill sends SIGKILL and waits until the process is gone.
func (d Daemon) Kill(ctx context.Context, n Node) error {
	script := fmt.Sprintf(`p=$(cat %s 2>/dev/null) || exit 0
kill -KILL "$p" 2>/dev/null || exit 0
for i in $(seq 200); do kill -0 "$p" 2>/dev/null || exit 0; st=$(awk '{print $3}' /proc/$p/stat 2>/dev/null); [ "$st" = Z ] && exit 0; sleep 0.05; done
echo "pid $p still alive" >&2; exit 1`, d.PidFile())
	if _, err := n.Exec(ctx, "sh", "-c", script); err != nil {
		return fmt.Errorf("%s: kill %s: %w", n.Name(), d.Name, err)
	}
	return nil
}

// Running reports whether the daemon's process exists and is not a zombie.
func (d Daemon) Running(ctx context.Context, n Node) (bool, error) {
	res, err := n.Exec(ctx, "sh", "-c", fmt.Sprintf(`p=$(cat %s 2>/dev/null) || { echo no; exit 0; }
st=$(awk '{print $3}' /proc/$p/stat 2>/dev/null) || { echo no; exit 0; }
[ "$st" = Z ] && echo no || echo yes`, d.PidFile()))
	if err != nil {
		return false, fmt.Errorf("%s: check %s: %w", n.Name(), d.Name, err)
	}
	return strings.TrimSpace(string(res.Stdout)) == "yes", nil
}

// shq quotes s for sh.
func shq(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,@+%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
