package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline/faultline/harness"
)

// TestSSHRuntimeFlags: bad runtime input is refused before anything
// connects, in one line per problem, with exit code 64.
func TestSSHRuntimeFlags(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "id")
	hosts := filepath.Join(dir, "hosts.txt")
	empty := filepath.Join(dir, "empty.txt")
	os.WriteFile(key, []byte("not a key"), 0o600)
	os.WriteFile(hosts, []byte("10.0.0.1\n10.0.0.2\n"), 0o644)
	os.WriteFile(empty, []byte("# none\n"), 0o644)
	store := filepath.Join(dir, "store")
	tests := []struct {
		name string
		args []string
		out  string
	}{
		{"unknown runtime", []string{"run", "--runtime", "k8s"}, `--runtime "k8s": want docker or ssh`},
		{"ssh flag without ssh", []string{"run", "--nodes-file", hosts}, "--nodes-file needs --runtime ssh"},
		{"no hosts", []string{"run", "--runtime", "ssh", "--ssh-private-key", key, "--ssh-accept-new-host-keys"}, "ssh runtime: no hosts"},
		{"empty nodes file", []string{"run", "--runtime", "ssh", "--nodes-file", empty}, "lists no hosts"},
		{"missing nodes file", []string{"run", "--runtime", "ssh", "--nodes-file", filepath.Join(dir, "nope")}, "nodes file: open"},
		{"no key", []string{"run", "--runtime", "ssh", "--nodes-file", hosts, "--ssh-accept-new-host-keys"}, "no private key (--ssh-private-key FILE)"},
		{"too many nodes", []string{"run", "--runtime", "ssh", "--nodes-file", hosts, "--ssh-private-key", key, "--ssh-accept-new-host-keys", "--nodes", "3"}, "--nodes 3: only 2 machines are listed"},
		{"both lists", []string{"run", "--runtime", "ssh", "--nodes-file", hosts, "--ssh-nodes", "a,b"}, "give the machines once"},
		{"no known hosts", []string{"run", "--runtime", "ssh", "--ssh-nodes", "a", "--ssh-private-key", key, "--ssh-known-hosts", filepath.Join(dir, "kh")}, "known hosts file " + filepath.Join(dir, "kh") + " does not exist"},
		{"clean", []string{"clean", "--runtime", "ssh", "--ssh-nodes", "a:0"}, `bad port "0"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"faultline"}, tt.args...)
			if tt.args[0] == "run" {
				args = append(args, "--store", store)
			}
			code := run(args, &stdout, &stderr)
			if code != ExitUsage {
				t.Errorf("exit %d, want %d; stderr %s", code, ExitUsage, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.out) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tt.out)
			}
			for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
				if !strings.HasPrefix(line, "faultline: ") && !strings.HasPrefix(line, "ssh runtime: ") {
					t.Errorf("not one line per problem: %q", line)
				}
			}
		})
	}
}

func TestFitMachines(t *testing.T) {
	suite := &harness.Suite{Tests: []harness.SuiteTest{
		{Spec: harness.Spec{Test: "small", Nodes: 3}, Line: 2},
		{Spec: harness.Spec{Test: "big", Nodes: 5}, Line: 7},
	}}
	for _, tc := range []struct {
		machines, parallel int
		want               string // "" = accepted
	}{
		{5, 1, ""},
		{3, 1, "test big (line 7) wants 5 nodes: only 3 machines are listed"},
		{5, 2, "--parallel 2: with --runtime ssh tests run one at a time"},
	} {
		err := fitMachines(suite, tc.machines, tc.parallel)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%d machines, parallel %d: %v, want %q", tc.machines, tc.parallel, err, tc.want)
		}
	}
}
