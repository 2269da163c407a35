// Package ssh is the SSH node runtime: a run's nodes are machines the
// controller reaches over SSH (Jepsen's control-node model), driven with
// golang.org/x/crypto/ssh. Installing means copying the same static Go
// binaries the Docker images carry to /usr/local/bin and the same Debian
// packages (downloaded on the controller, installed with dpkg, since the
// machines may not reach a mirror), cached on each machine by recipe hash.
// Teardown kills every process faultline started there (found by a marker
// in their environment, never by name), removes faultline's iptables chain
// and the directories the run created.
package ssh

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Config says which machines to use and how to log in.
type Config struct {
	// Hosts are the machines, n1..nN in this order: host or host:port.
	Hosts []string
	// User logs in; commands run through `sudo -n` when it is not root.
	User string
	// PrivateKey is the private key file (unencrypted; OpenSSH or PEM).
	PrivateKey string
	// KnownHosts is the known_hosts file host keys are checked against
	// (default ~/.ssh/known_hosts).
	KnownHosts string
	// AcceptNewHostKeys accepts the key of a host the file does not know
	// and records it there (ssh's StrictHostKeyChecking=accept-new). A key
	// that differs from a recorded one is always refused.
	AcceptNewHostKeys bool
}

// DefaultPort is the SSH port of a host given without one.
const DefaultPort = 22

// ParseNodesFile reads a nodes file: one host (name or address, with an
// optional :port; [v6]:port) per line, as Jepsen's --nodes-file; blank lines
// and # comments are skipped.
func ParseNodesFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("nodes file: %w", err)
	}
	defer f.Close()
	var hosts []string
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		s := sc.Text()
		if i := strings.IndexByte(s, '#'); i >= 0 {
			s = s[:i]
		}
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if _, err := hostPort(s); err != nil {
			return nil, fmt.Errorf("nodes file %s line %d: %w", path, line, err)
		}
		hosts = append(hosts, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("nodes file %s: %w", path, err)
	}
	if len(hosts) == 0 {
		return nil, fmt.Errorf("nodes file %s lists no hosts", path)
	}
	return hosts, nil
}

// hostPort returns host with the default port added when it has none, or
// an error for something that is not host[:port].
func hostPort(h string) (string, error) {
	if h == "" || strings.ContainsAny(h, " \t/@") {
		return "", fmt.Errorf("host %q: want HOST or HOST:PORT", h)
	}
	if host, port, err := net.SplitHostPort(h); err == nil {
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return "", fmt.Errorf("host %q: bad port %q", h, port)
		}
		if host == "" {
			return "", fmt.Errorf("host %q: no host name", h)
		}
		return h, nil
	}
	if strings.Count(h, ":") > 1 && !strings.HasPrefix(h, "[") {
		return net.JoinHostPort(h, strconv.Itoa(DefaultPort)), nil // a bare IPv6 address
	}
	if strings.ContainsAny(h, "[]:") {
		return "", fmt.Errorf("host %q: want HOST or HOST:PORT", h)
	}
	return net.JoinHostPort(h, strconv.Itoa(DefaultPort)), nil
}

// Validate checks the configuration without touching the network; each
// problem is one line.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Hosts) == 0 {
		errs = append(errs, errors.New("ssh runtime: no hosts (--nodes-file FILE or --ssh-nodes host1,host2,...)"))
	}
	seen := map[string]bool{}
	for _, h := range c.Hosts {
		hp, err := hostPort(h)
		if err != nil {
			errs = append(errs, fmt.Errorf("ssh runtime: %w", err))
			continue
		}
		if seen[hp] {
			errs = append(errs, fmt.Errorf("ssh runtime: host %s is listed twice", h))
		}
		seen[hp] = true
	}
	if c.User == "" {
		errs = append(errs, errors.New("ssh runtime: no user (--ssh-user)"))
	}
	if c.PrivateKey == "" {
		errs = append(errs, errors.New("ssh runtime: no private key (--ssh-private-key FILE)"))
	} else if _, err := os.Stat(c.PrivateKey); err != nil {
		errs = append(errs, fmt.Errorf("ssh runtime: private key: %w", err))
	}
	if c.KnownHosts == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			errs = append(errs, fmt.Errorf("ssh runtime: no known_hosts file given and no home directory: %w", err))
		} else {
			c.KnownHosts = filepath.Join(home, ".ssh", "known_hosts")
		}
	}
	if c.KnownHosts != "" && !c.AcceptNewHostKeys {
		if _, err := os.Stat(c.KnownHosts); errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("ssh runtime: known hosts file %s does not exist (--ssh-known-hosts FILE, or --ssh-accept-new-host-keys creates it)", c.KnownHosts))
		} else if err != nil {
			errs = append(errs, fmt.Errorf("ssh runtime: known hosts: %w", err))
		}
	}
	return errors.Join(errs...)
}
