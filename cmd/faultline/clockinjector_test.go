package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/faultline/faultline/nuker/clock/injectcmd"
)

func TestInjectorArgs(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string
		ok   bool
	}{
		{"named faultline-clock", []string{"/usr/local/bin/faultline-clock", "read", "--pid", "1"}, []string{"read", "--pid", "1"}, true},
		{"bare faultline-clock", []string{"faultline-clock"}, []string{}, true},
		{"hidden subcommand", []string{"/x/faultline", "__clock-injector", "probe"}, []string{"probe"}, true},
		{"ordinary command", []string{"faultline", "run", "--nemesis", "clock"}, nil, false},
		{"subcommand later is an argument", []string{"faultline", "check", "__clock-injector"}, nil, false},
		{"similar name", []string{"/bin/faultline-clockwork", "probe"}, nil, false},
		{"no arguments", nil, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := injectorArgs(tc.args)
			if ok != tc.ok || !slices.Equal(got, tc.want) {
				t.Errorf("injectorArgs(%q) = %q, %v; want %q, %v", tc.args, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// envMainArgs carries the argv, as a JSON list, with which
// TestMainProcess runs main() in a child test process.
const envMainArgs = "FAULTLINE_TEST_MAIN_ARGS"

// TestMainProcess is not a test on its own: run by runMain in a child
// process, it calls main() with the argv in $FAULTLINE_TEST_MAIN_ARGS.
func TestMainProcess(t *testing.T) {
	argv := os.Getenv(envMainArgs)
	if argv == "" {
		return
	}
	if err := json.Unmarshal([]byte(argv), &os.Args); err != nil {
		t.Fatal(err)
	}
	main()
	t.Fatal("main returned")
}

// runMain runs faultline's main() in a child process with argv, and
// returns its stdout, stderr and exit status.
func runMain(t *testing.T, argv ...string) (string, string, int) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestMainProcess$")
	data, err := json.Marshal(argv)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(os.Environ(), envMainArgs+"="+string(data))
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exitErr *exec.ExitError
	code := 0
	if errors.As(err, &exitErr) {
		code = exitErr.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

// TestMainActsAsInjector: faultline's main() runs the clock injector when
// invoked as faultline-clock or with the hidden subcommand, which is how
// an installed binary injects clock faults with no source tree at hand.
func TestMainActsAsInjector(t *testing.T) {
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { child.Process.Kill(); child.Wait() }()
	pid := strconv.Itoa(child.Process.Pid)
	for _, tc := range []struct {
		name   string
		argv   []string
		code   int
		stdout string // a substring of it
	}{
		{"probe by subcommand", []string{"/opt/faultline", injectcmd.Subcommand, "probe"}, 0, injectcmd.Banner},
		{"probe by name", []string{"/usr/local/bin/faultline-clock", "probe"}, 0, injectcmd.Banner},
		{"read by subcommand", []string{"faultline", injectcmd.Subcommand, "read", "--pid", pid}, 0, `"pid":` + pid},
		{"read by name", []string{"faultline-clock", "read", "--pid", pid}, 0, `"pid":` + pid},
		{"injector usage", []string{"faultline", injectcmd.Subcommand, "bogus"}, 2, ""},
		{"faultline's own commands stay", []string{"faultline", "version-of-nothing"}, ExitUsage, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runMain(t, tc.argv...)
			if code != tc.code || !strings.Contains(stdout, tc.stdout) {
				t.Fatalf("%q: exit %d, stdout %q, stderr %q; want exit %d and %q in stdout", tc.argv, code, stdout, stderr, tc.code, tc.stdout)
			}
			if strings.Contains(tc.stdout, `"pid"`) {
				var r struct {
					PID      int    `json:"pid"`
					Injected bool   `json:"injected"`
					Error    string `json:"error"`
				}
				if err := json.Unmarshal([]byte(strings.TrimSpace(stdout)), &r); err != nil || r.PID != child.Process.Pid || r.Injected {
					t.Errorf("read: %q (%v): want one line on pid %d, not injected", stdout, err, child.Process.Pid)
				}
			}
		})
	}
}
