package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBeFaultline is not a test: run by the tests below as a child
// process with FAULTLINE_BE_MAIN=1, it is the faultline command, with the
// arguments after "--", so that signals reach a real process.
func TestBeFaultline(t *testing.T) {
	if os.Getenv("FAULTLINE_BE_MAIN") != "1" {
		t.Skip("the faultline command for the signal tests, run as a child")
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	os.Exit(run(append([]string{"faultline"}, args...), os.Stdout, os.Stderr))
}

// faultlineCmd returns the faultline command run by the test binary.
func faultlineCmd(t *testing.T, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, append([]string{"-test.run=^TestBeFaultline$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), "FAULTLINE_BE_MAIN=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	return cmd, &out
}

// hardEDN writes a cas-register history porcupine needs very long to
// reject: n writes of unknown outcome, then reads of each value in turn
// and the first again.
func hardEDN(t *testing.T, n int) string {
	var b strings.Builder
	b.WriteString("[")
	for i := range n {
		fmt.Fprintf(&b, "{:process %d, :type :invoke, :f :write, :value %d}\n", 100+i, i+1)
	}
	for i := range n + 1 {
		fmt.Fprintf(&b, "{:process 99, :type :invoke, :f :read, :value nil}\n{:process 99, :type :ok, :f :read, :value %d}\n", i%n+1)
	}
	b.WriteString("]\n")
	p := filepath.Join(t.TempDir(), "hard.edn")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFirstSignalStopsCheck: CI timeouts send one SIGTERM, and an
// interactive user one Ctrl-C; either stops a long check at once, with
// exit 3 and a word about the interruption, not a verdict.
func TestFirstSignalStopsCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	hard := hardEDN(t, 40)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			// A signal that comes before run() has set its handler kills
			// the child by default; on a loaded machine, wait longer.
			for _, wait := range []time.Duration{time.Second, 5 * time.Second} {
				if signalCheck(t, hard, sig, wait) {
					return
				}
				t.Logf("the child died of %v before handling it: again, waiting %v", sig, 5*time.Second)
			}
			t.Fatalf("the child never handled %v", sig)
		})
	}
}

// signalCheck starts a check of hard, sends sig after wait and checks that
// the child stops soon with exit 3 and a word about the interruption. It
// returns false when the child died of the signal unhandled.
func signalCheck(t *testing.T, hard string, sig syscall.Signal, wait time.Duration) bool {
	cmd, out := faultlineCmd(t, "check", "--model", "cas-register", hard)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	time.Sleep(wait)
	sent := time.Now()
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("still running 20 s after one %v; output:\n%s", sig, out)
	}
	t.Logf("exited %v after the signal", time.Since(sent).Round(time.Millisecond))
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == -1 {
		return false
	}
	if !errors.As(err, &ee) || ee.ExitCode() != ExitHarness {
		t.Fatalf("exit %v, want %d; output:\n%s", err, ExitHarness, out)
	}
	if !strings.Contains(out.String(), "interrupted") {
		t.Fatalf("output lacks %q:\n%s", "interrupted", out)
	}
	return true
}

// TestCheckRefusesNonRegularFiles: a FIFO, a device or a directory that is
// not a run directory is not a history; opening a FIFO alone would block
// until a writer comes, and /dev/urandom never ends.
func TestCheckRefusesNonRegularFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{fifo, "is not a regular file (a FIFO)"},
		{"/dev/urandom", "is not a regular file (a character device)"},
		{"/dev/zero", "is not a regular file (a character device)"},
	} {
		t.Run(filepath.Base(tc.path), func(t *testing.T) {
			cmd, out := faultlineCmd(t, "check", "--model", "cas-register", tc.path)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var err error
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Fatalf("still running after 20 s; output:\n%s", out)
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != ExitUsage {
				t.Fatalf("exit %v, want %d; output:\n%s", err, ExitUsage, out)
			}
			if got := strings.TrimSpace(out.String()); !strings.Contains(got, tc.want) || strings.Contains(got, "\n") {
				t.Fatalf("want one line with %q, got:\n%s", tc.want, got)
			}
		})
	}
}
