package ssh

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// dialTimeout bounds one connection's TCP connect and SSH handshake.
const dialTimeout = 20 * time.Second

// hostKeys checks host keys against a known_hosts file and, when asked,
// records the keys of hosts the file does not know. It is safe for
// concurrent use: machines are dialled in parallel.
type hostKeys struct {
	path      string
	acceptNew bool
	mu        sync.Mutex
}

// callback is an ssh.HostKeyCallback reading the file afresh, so a key
// recorded by one dial is seen by the next.
func (h *hostKeys) callback(hostname string, remote net.Addr, key ssh.PublicKey) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, err := os.Stat(h.path); errors.Is(err, os.ErrNotExist) && h.acceptNew {
		if err := os.MkdirAll(filepath.Dir(h.path), 0o700); err != nil {
			return fmt.Errorf("known hosts: %w", err)
		}
		if err := os.WriteFile(h.path, nil, 0o600); err != nil {
			return fmt.Errorf("known hosts: %w", err)
		}
	}
	check, err := knownhosts.New(h.path)
	if err != nil {
		return fmt.Errorf("known hosts: %w", err)
	}
	err = check(hostname, remote, key)
	var ke *knownhosts.KeyError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ke) && len(ke.Want) > 0:
		return fmt.Errorf("host key of %s does not match the one in %s (line %d): refusing to connect (if the machine was reinstalled, remove that line)",
			hostname, ke.Want[0].Filename, ke.Want[0].Line)
	case errors.As(err, &ke) && !h.acceptNew:
		return fmt.Errorf("host %s is not in %s: add its key (ssh-keyscan) or pass --ssh-accept-new-host-keys", hostname, h.path)
	case errors.As(err, &ke):
		f, err := os.OpenFile(h.path, os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("known hosts: %w", err)
		}
		line := knownhosts.Line([]string{knownhosts.Normalize(hostname)}, key)
		if _, err := fmt.Fprintln(f, line); err != nil {
			f.Close()
			return fmt.Errorf("known hosts: record %s: %w", hostname, err)
		}
		return f.Close()
	default:
		return fmt.Errorf("known hosts: %w", err)
	}
}

// algorithms returns the host key algorithms to offer to hostport: those
// of the keys known_hosts holds for it (as OpenSSH does), so a host known
// by its ed25519 key is not asked for another kind; nil when none is known.
func (h *hostKeys) algorithms(hostport string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	check, err := knownhosts.New(h.path)
	if err != nil {
		return nil
	}
	// A key no host has: the error lists the keys known for hostport.
	_, probe, _ := ed25519.GenerateKey(zeroReader{})
	signer, err := ssh.NewSignerFromKey(probe)
	if err != nil {
		return nil
	}
	var ke *knownhosts.KeyError
	if err := check(hostport, &net.TCPAddr{}, signer.PublicKey()); !errors.As(err, &ke) {
		return nil
	}
	var algos []string
	for _, k := range ke.Want {
		switch t := k.Key.Type(); t {
		case ssh.KeyAlgoRSA:
			algos = append(algos, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			algos = append(algos, t)
		}
	}
	return algos
}

// zeroReader makes the probe key deterministic; it is never trusted.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// clientConfig makes the SSH client configuration from c.
func clientConfig(c *Config, keys *hostKeys) (*ssh.ClientConfig, error) {
	pem, err := os.ReadFile(c.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	var pp *ssh.PassphraseMissingError
	if errors.As(err, &pp) {
		return nil, fmt.Errorf("private key %s is protected by a passphrase, which faultline cannot ask for: use a key without one", c.PrivateKey)
	}
	if err != nil {
		return nil, fmt.Errorf("private key %s: %w", c.PrivateKey, err)
	}
	return &ssh.ClientConfig{
		User:            c.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: keys.callback,
		Timeout:         dialTimeout,
	}, nil
}

// dial connects to addr (host:port) honouring ctx.
func dial(ctx context.Context, addr string, cfg *ssh.ClientConfig, keys *hostKeys) (*ssh.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	if algos := keys.algorithms(addr); algos != nil {
		c := *cfg
		c.HostKeyAlgorithms = algos
		cfg = &c
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	// The handshake has no context: a deadline on the connection bounds it.
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("ssh to %s as %s: %w", addr, cfg.User, err)
	}
	_ = conn.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nil
}
