package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/faultline/faultline/harness/ssh/sshtest"
	"github.com/faultline/faultline/internal/testenv"
)

// TestRunOverSSH: `faultline run --runtime ssh` with a nodes file, a sudo
// user, a key and a known_hosts file runs etcd on three machines under
// partitions and kills and exits valid; `faultline clean --runtime ssh`
// then finds nothing to clean.
func TestRunOverSSH(t *testing.T) {
	if testenv.Short() {
		t.Skip("long Docker run skipped with -short")
	}
	ms := sshtest.Start(t, 3)
	nodes := ms.WriteNodesFile(t)
	login := []string{"--runtime", "ssh", "--nodes-file", nodes, "--ssh-user", sshtest.SudoUser,
		"--ssh-private-key", ms.PrivateKey, "--ssh-known-hosts", ms.KnownHosts}
	var stdout, stderr bytes.Buffer
	args := append([]string{"faultline", "run", "--target", "etcd", "--nemesis", "partition,kill", "--nemesis-interval", "5s",
		"--time-limit", "20s", "--recovery-wait", "3s", "--seed", "11", "--store", t.TempDir()}, login...)
	code := run(args, &stdout, &stderr)
	t.Logf("stdout:\n%s", stdout.String())
	if code != ExitValid {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, ExitValid, stderr.String())
	}
	for _, want := range []string{"VALID", "3 machines over SSH as " + sshtest.SudoUser} {
		if !strings.Contains(stdout.String()+stderr.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	stdout.Reset()
	stderr.Reset()
	if code := run(append([]string{"faultline", "clean"}, login...), &stdout, &stderr); code != 0 || strings.TrimSpace(stdout.String()) != "nothing to clean" {
		t.Errorf("clean: exit %d, stdout %q, stderr %q; want nothing to clean", code, stdout.String(), stderr.String())
	}
}
