package injectcmd

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/nuker/clock"
	"github.com/faultline/faultline/nuker/clock/clocktest"
)

func TestResolve(t *testing.T) {
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { child.Process.Kill(); child.Wait() }()
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("live.pid", strconv.Itoa(child.Process.Pid)+"\n")
	write("stale.pid", "999999999\n")
	write("junk.pid", "hello\n")
	self := strconv.Itoa(os.Getpid())
	for _, tc := range []struct {
		name      string
		pids, pfs []string
		tree      bool
		want      []int
		wantErr   bool
	}{
		{"pid list", []string{self + ", " + self}, nil, false, []int{os.Getpid()}, false},
		{"pid files skip stale and junk", nil, []string{filepath.Join(dir, "*.pid")}, false, []int{child.Process.Pid}, false},
		{"tree adds children", []string{self}, nil, true, []int{os.Getpid(), child.Process.Pid}, false},
		{"bad pid", []string{"x"}, nil, false, nil, true},
		{"nothing named", nil, nil, false, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := resolve(tc.pids, tc.pfs)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if tc.tree {
				got = withDescendants(got)
			}
			var pids []int
			for _, g := range got {
				pids = append(pids, g.pid)
			}
			for _, w := range tc.want {
				found := false
				for _, p := range pids {
					found = found || p == w
				}
				if !found {
					t.Errorf("got %v, want %v among them", pids, tc.want)
				}
			}
			if !tc.tree && len(pids) != len(tc.want) {
				t.Errorf("got %v, want %v", pids, tc.want)
			}
		})
	}
}

// TestCommands drives set, read, strobe and reset against a Go probe.
func TestCommands(t *testing.T) {
	var caps struct {
		hdr  unix.CapUserHeader
		data [2]unix.CapUserData
	}
	caps.hdr.Version = unix.LINUX_CAPABILITY_VERSION_3
	if unix.Capget(&caps.hdr, &caps.data[0]) != nil || caps.data[0].Effective&(1<<unix.CAP_SYS_PTRACE) == 0 {
		if testenv.InCI() {
			t.Fatal("CI=true but no CAP_SYS_PTRACE")
		}
		t.Skipf("SKIPPING %s: needs root (CAP_SYS_PTRACE)", t.Name())
	}
	bin := clocktest.BuildGo(t, t.TempDir())
	p := exec.Command(bin)
	in, _ := p.StdinPipe()
	out, _ := p.StdoutPipe()
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { in.Close(); p.Process.Kill(); p.Wait() }()
	sc := bufio.NewScanner(out)
	skew := func() time.Duration {
		fmt.Fprintln(in, "")
		if !sc.Scan() {
			t.Fatal("probe died")
		}
		now := time.Now()
		s, err := clocktest.Parse(sc.Text())
		if err != nil {
			t.Fatal(err)
		}
		return time.Duration(s.Wall - now.UnixNano()).Round(time.Second)
	}
	pid := strconv.Itoa(p.Process.Pid)
	// Keep the JSON lines out of the test output.
	quiet := func(args ...string) int { return Main(args, io.Discard, io.Discard) }
	skew()
	if code := quiet("set", "--pid", pid, "--offset", "1h"); code != 0 || skew() != time.Hour {
		t.Fatalf("set: exit %d, skew %v", code, skew())
	}
	if st, err := clock.Read(p.Process.Pid); err != nil || st.Effective != time.Hour {
		t.Errorf("read: %+v %v", st, err)
	}
	if code := quiet("strobe", "--pid", pid, "--offset", "0", "--offset2", "2s", "--period", "5ms", "--duration", "200ms"); code != 0 || skew() != 0 {
		t.Errorf("strobe: exit %d, skew after %v", code, skew())
	}
	if code := quiet("set", "--pid", pid, "--offset", "-30s"); code != 0 || skew() != -30*time.Second {
		t.Errorf("set again: exit %d", code)
	}
	if code := quiet("reset", "--pid", pid); code != 0 || skew() != 0 {
		t.Errorf("reset: exit %d", code)
	}
	if st, err := clock.Read(p.Process.Pid); err != nil || st.Patched {
		t.Errorf("read after reset: %+v %v", st, err)
	}
	if code := quiet("bogus"); code != 2 {
		t.Errorf("unknown command: exit %d", code)
	}
}

// TestGone: a --tree child that has exited, or is a zombie, is skipped
// rather than reported; a live one is not.
func TestGone(t *testing.T) {
	exited := exec.Command("true")
	if err := exited.Run(); err != nil {
		t.Fatal(err)
	}
	zombie := exec.Command("true")
	if err := zombie.Start(); err != nil {
		t.Fatal(err)
	}
	defer zombie.Wait()
	// Not reaped yet: a zombie once it has exited.
	for deadline := time.Now().Add(5 * time.Second); !gone(zombie.Process.Pid) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	tests := []struct {
		name string
		pid  int
		want bool
	}{
		{"self", os.Getpid(), false},
		{"exited and reaped", exited.Process.Pid, true},
		{"zombie", zombie.Process.Pid, true},
	}
	for _, tt := range tests {
		if got := gone(tt.pid); got != tt.want {
			t.Errorf("%s: gone(%d) = %v, want %v", tt.name, tt.pid, got, tt.want)
		}
	}
}
