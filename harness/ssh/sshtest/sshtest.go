// Package sshtest starts containers that stand in for machines in the SSH
// runtime's tests: a bare Debian with openssh-server and sudo (built
// offline like faultline's other images), reachable by key as root and as
// a sudo user, with NET_ADMIN for iptables and SYS_PTRACE for the clock
// injector, labelled io.faultline.run so that teardown and `faultline
// clean` remove them.
package sshtest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/faultline/faultline/harness/docker"
	"github.com/faultline/faultline/harness/docker/dockerenv"
	fssh "github.com/faultline/faultline/harness/ssh"
	"github.com/faultline/faultline/internal/testenv"
)

// Packages are what a machine has before faultline installs anything.
func Packages() []string { return []string{"openssh-server", "sudo"} }

// SudoUser is the machines' non-root user, allowed `sudo -n` for anything.
const SudoUser = "flsudo"

// Machines is a set of started machines.
type Machines struct {
	// Hosts are the machines' addresses (port 22), n1..nN.
	Hosts []string
	// PrivateKey is the key root and SudoUser accept; KnownHosts holds
	// every machine's host key.
	PrivateKey, KnownHosts string
	// Dir holds the key and known_hosts files.
	Dir string
	// IDs are the containers' ids.
	IDs []string
	// RunID labels the containers.
	RunID string
}

// Config returns the runtime configuration for user (root or SudoUser).
func (m *Machines) Config(user string) fssh.Config {
	return fssh.Config{Hosts: m.Hosts, User: user, PrivateKey: m.PrivateKey, KnownHosts: m.KnownHosts}
}

// WriteNodesFile writes the hosts, one a line, to a file and returns its path.
func (m *Machines) WriteNodesFile(t testing.TB) string {
	t.Helper()
	p := filepath.Join(m.Dir, "nodes.txt")
	if err := os.WriteFile(p, []byte("# test machines\n"+strings.Join(m.Hosts, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Start starts n machines and removes them when t ends. It skips with
// -short, and (except under CI, where it fails) without a Docker engine.
func Start(t testing.TB, n int) *Machines {
	t.Helper()
	if testenv.Short() {
		t.Skip("SSH machines in Docker skipped with -short")
	}
	cli := dockerenv.NeedDocker(t)
	if cli == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	image, err := docker.NewImages(cli).Machine(ctx, Packages(), func(f string, a ...any) { t.Logf(f, a...) })
	if err != nil {
		t.Fatalf("machine image: %v", err)
	}
	m := &Machines{Dir: t.TempDir(), RunID: fmt.Sprintf("sshtest-%d-%d", time.Now().UnixNano()%1e9, os.Getpid())}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := docker.Clean(ctx, cli, m.RunID); err != nil {
			t.Errorf("remove machines: %v", err)
		}
	})
	pub, err := writeKey(m.Dir)
	if err != nil {
		t.Fatal(err)
	}
	m.PrivateKey = filepath.Join(m.Dir, "id_ed25519")
	m.IDs = make([]string, n)
	m.Hosts = make([]string, n)
	keys := make([]string, n)
	errs := make([]error, n)
	start := func(mc docker.Machine) (string, string, error) { return docker.StartMachine(ctx, cli, mc) }
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.IDs[i], m.Hosts[i], keys[i], errs[i] = startMachine(ctx, start, image, m.RunID, i+1, pub)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("start machines: %v", err)
		}
	}
	var kh strings.Builder
	for i, h := range m.Hosts {
		fmt.Fprintf(&kh, "%s %s\n", h, strings.TrimSpace(keys[i]))
	}
	m.KnownHosts = filepath.Join(m.Dir, "known_hosts")
	if err := os.WriteFile(m.KnownHosts, []byte(kh.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return m
}

// startScript runs as the container's command: fresh host keys, the test
// key for root and the sudo user, then sshd in the foreground.
const startScript = `set -e
rm -f /etc/ssh/ssh_host_*
ssh-keygen -q -A
id ` + SudoUser + ` >/dev/null 2>&1 || useradd -m -s /bin/sh ` + SudoUser + `
echo '` + SudoUser + ` ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/` + SudoUser + `
for h in /root /home/` + SudoUser + `; do
  mkdir -p $h/.ssh; printf '%s\n' "$FAULTLINE_TEST_KEY" > $h/.ssh/authorized_keys; chmod 700 $h/.ssh; chmod 600 $h/.ssh/authorized_keys
done
chown -R ` + SudoUser + ` /home/` + SudoUser + `/.ssh
mkdir -p /run/sshd
exec /usr/sbin/sshd -D -e
`

// startMachine starts machine i and waits until sshd answers; it returns
// the container id, the address and the host key line (type and key).
func startMachine(ctx context.Context, start func(docker.Machine) (string, string, error), image, runID string, i int, pub string) (id, host, hostKey string, err error) {
	id, ip, err := start(docker.Machine{
		Name: fmt.Sprintf("faultline-%s-m%d", runID, i), Hostname: fmt.Sprintf("m%d", i), Image: image, RunID: runID,
		Cmd: []string{"sh", "-c", startScript}, Env: []string{"FAULTLINE_TEST_KEY=" + pub},
	})
	if err != nil {
		return id, "", "", err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		key, kerr := hostKeyOf(ctx, net.JoinHostPort(ip, "22"))
		if kerr == nil {
			return id, ip, key, nil
		}
		if time.Now().After(deadline) {
			return id, "", "", fmt.Errorf("machine %d (%s): sshd not answering: %w", i, ip, kerr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// hostKeyOf fetches addr's ed25519 host key in authorized_keys form (the
// way ssh-keyscan does: the handshake shows it before any login).
func hostKeyOf(ctx context.Context, addr string) (string, error) {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	var got ssh.PublicKey
	cfg := &ssh.ClientConfig{
		User:              "nobody",
		HostKeyAlgorithms: []string{ssh.KeyAlgoED25519},
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			got = key
			return fmt.Errorf("scanned")
		},
	}
	_, _, _, err = ssh.NewClientConn(conn, addr, cfg)
	if got == nil {
		return "", fmt.Errorf("no host key: %v", err)
	}
	return string(ssh.MarshalAuthorizedKey(got)), nil
}

// writeKey writes a fresh ed25519 key pair into dir as id_ed25519 and
// returns the public key's authorized_keys line.
func writeKey(dir string) (string, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	block, err := ssh.MarshalPrivateKey(priv, "faultline test")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "id_ed25519"), pem.EncodeToMemory(block), 0o600); err != nil {
		return "", err
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))), nil
}
