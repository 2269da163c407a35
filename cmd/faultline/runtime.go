package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/faultline/faultline/harness"
	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/harness/ssh"
)

// Runtime names for --runtime.
const (
	runtimeDocker = "docker"
	runtimeSSH    = "ssh"
)

// runtimeFlags choose where nodes live: Docker containers (the default) or
// machines over SSH, with the names a Jepsen user knows (--nodes-file,
// --username, --ssh-private-key).
func runtimeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "runtime", Value: runtimeDocker, Usage: "where nodes live: docker (containers of the local engine) or ssh (machines, docs/ssh.md)", EnvVars: []string{"FAULTLINE_RUNTIME"}},
		&cli.StringFlag{Name: "nodes-file", Usage: "with --runtime ssh: `FILE` listing the machines, one host[:port] a line (n1 is the first)", EnvVars: []string{"FAULTLINE_NODES_FILE"}},
		&cli.StringFlag{Name: "ssh-nodes", Usage: "with --runtime ssh: the machines as a comma-separated `LIST` instead of --nodes-file", EnvVars: []string{"FAULTLINE_SSH_NODES"}},
		&cli.StringFlag{Name: "ssh-user", Aliases: []string{"username"}, Value: "root", Usage: "with --runtime ssh: login `USER`; commands run through sudo -n unless it is root", EnvVars: []string{"FAULTLINE_SSH_USER"}},
		&cli.StringFlag{Name: "ssh-private-key", Usage: "with --runtime ssh: private key `FILE` (without a passphrase)", EnvVars: []string{"FAULTLINE_SSH_PRIVATE_KEY"}},
		&cli.StringFlag{Name: "ssh-known-hosts", Usage: "with --runtime ssh: known_hosts `FILE` host keys are checked against (default ~/.ssh/known_hosts)", EnvVars: []string{"FAULTLINE_SSH_KNOWN_HOSTS"}},
		&cli.BoolFlag{Name: "ssh-accept-new-host-keys", Usage: "with --runtime ssh: accept the key of a host known_hosts lacks and record it (a changed key is always refused)", EnvVars: []string{"FAULTLINE_SSH_ACCEPT_NEW_HOST_KEYS"}},
	}
}

// sshOnlyFlags are the flags that mean nothing without --runtime ssh.
func sshOnlyFlags() []string {
	return []string{"nodes-file", "ssh-nodes", "ssh-user", "ssh-private-key", "ssh-known-hosts", "ssh-accept-new-host-keys"}
}

// sshRuntime returns the SSH runtime the flags describe, or nil for the
// Docker runtime (which the harness makes itself). Each problem is one
// line.
func sshRuntime(c *cli.Context) (*ssh.Runtime, error) {
	switch rt := c.String("runtime"); rt {
	case runtimeDocker:
		for _, f := range sshOnlyFlags() {
			if c.IsSet(f) {
				return nil, fmt.Errorf("--%s needs --runtime ssh", f)
			}
		}
		return nil, nil
	case runtimeSSH:
	default:
		return nil, fmt.Errorf("--runtime %q: want docker or ssh", rt)
	}
	cfg := ssh.Config{
		User:              c.String("ssh-user"),
		PrivateKey:        c.String("ssh-private-key"),
		KnownHosts:        c.String("ssh-known-hosts"),
		AcceptNewHostKeys: c.Bool("ssh-accept-new-host-keys"),
	}
	switch file, list := c.String("nodes-file"), c.String("ssh-nodes"); {
	case file != "" && list != "":
		return nil, fmt.Errorf("give the machines once: --nodes-file or --ssh-nodes")
	case file != "":
		hosts, err := ssh.ParseNodesFile(file)
		if err != nil {
			return nil, err
		}
		cfg.Hosts = hosts
	default:
		for _, h := range strings.Split(list, ",") {
			if h = strings.TrimSpace(h); h != "" {
				cfg.Hosts = append(cfg.Hosts, h)
			}
		}
	}
	return ssh.NewRuntime(cfg)
}

// withRuntime sets the run's runtime and, for ssh, the cluster size: the
// number of machines unless --nodes says fewer.
func withRuntime(c *cli.Context, rt *ssh.Runtime, nodes *int) (node.Runtime, error) {
	if rt == nil {
		return nil, nil
	}
	m := rt.Machines()
	switch {
	case !c.IsSet("nodes") && c.String("replay") == "":
		*nodes = m
	case *nodes > m:
		return nil, fmt.Errorf("--nodes %d: only %d machines are listed", *nodes, m)
	}
	return rt, nil
}

// cleanSSH frees the machines of runs whose controller is gone (all of
// them with force): their processes, chains and data go.
func cleanSSH(c *cli.Context, rt *ssh.Runtime, force, dryRun bool) error {
	defer rt.Close()
	if dryRun {
		return fmt.Errorf("--dry-run is not supported with --runtime ssh")
	}
	res, err := rt.Clean(c.Context, force)
	any := false
	for _, r := range res {
		switch {
		case r.Removed:
			any = true
			fmt.Fprintf(c.App.Writer, "removed run %s from %s (its processes, partition chain and data)\n", r.Record.RunID, r.Host)
		case r.Record.RunID != "":
			any = true
			fmt.Fprintf(c.App.Writer, "kept run %s on %s: %s\n", r.Record.RunID, r.Host, r.Why)
		}
	}
	if err != nil {
		return harnessError{err}
	}
	if !any {
		fmt.Fprintln(c.App.Writer, "nothing to clean")
	}
	return nil
}

// fitMachines refuses a suite the listed machines cannot run: tests run
// one at a time (a run claims its machines), each on at most as many
// nodes as there are machines.
func fitMachines(suite *harness.Suite, machines, parallel int) error {
	if suite == nil {
		return nil
	}
	var errs []error
	if parallel > 1 {
		errs = append(errs, fmt.Errorf("--parallel %d: with --runtime ssh tests run one at a time (a run claims its machines)", parallel))
	}
	for _, t := range suite.Tests {
		if t.Spec.Nodes > machines {
			errs = append(errs, fmt.Errorf("test %s (line %d) wants %d nodes: only %d machines are listed", t.Spec.Test, t.Line, t.Spec.Nodes, machines))
		}
	}
	return errors.Join(errs...)
}
