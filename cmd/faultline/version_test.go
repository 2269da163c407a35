package main

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
)

// TestVersion: `faultline version` and `faultline --version` say which
// faultline this is; a test binary carries no module version: devel.
func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(append([]string{"faultline"}, args...), &out, &errb)
			if code != 0 {
				t.Fatalf("exit %d; output:\n%s%s", code, out.String(), errb.String())
			}
			got := strings.TrimSpace(out.String())
			if !strings.HasPrefix(got, "faultline version devel") || !strings.Contains(got, runtime.Version()) || strings.Contains(got, "\n") {
				t.Errorf("got %q, want one line: faultline version devel (... %s)", got, runtime.Version())
			}
		})
	}
	var out bytes.Buffer
	if code := run([]string{"faultline", "version", "extra"}, &out, &out); code != ExitUsage {
		t.Errorf("version extra: exit %d, want %d", code, ExitUsage)
	}
}
